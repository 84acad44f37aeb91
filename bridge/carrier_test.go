package bridge_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/burrowproject/burrow/bridge"
	"github.com/burrowproject/burrow/client"
	"github.com/burrowproject/burrow/internal/testutil"
	"github.com/burrowproject/burrow/internal/tlsx"
)

// carrierBridge serves a bridge of carrier c with a self-signed
// certificate on loopback and returns it, its address and the certificate's
// fingerprint.
func carrierBridge(t *testing.T, c bridge.CarrierType, cfg bridge.Config) (*bridge.Server, string, string) {
	t.Helper()
	tc, fp, err := tlsx.ServerConfig(1, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.TLS == nil {
		cfg.TLS = tc
	}
	cfg.Carrier = c
	if c != bridge.CarrierQUIC {
		srv, addr := startBridge(t, cfg)
		return srv, addr, fp
	}
	// A UDP port whose TCP twin is free too: beside the QUIC socket, as
	// the runtime serves it, TCP agents hear which carrier to use.
	var (
		pc net.PacketConn
		ln net.Listener
	)
	for range 20 { // bounded: a TCP socket may hold the number of a free UDP port
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		if ln, err = net.Listen("tcp", pc.LocalAddr().String()); err == nil {
			break
		}
		_ = pc.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	srv := bridge.NewServer(cfg)
	t.Cleanup(func() { _ = srv.Close() })
	testutil.Go(t, func(ctx context.Context) { _ = srv.ServeQUIC(ctx, pc) })
	testutil.Go(t, func(ctx context.Context) { _ = srv.Serve(ctx, ln) })
	return srv, pc.LocalAddr().String(), fp
}

// checkLinks opens a TCP link and a UDP link through key's agent and
// checks that each carries bytes both ways.
func checkLinks(t *testing.T, srv *bridge.Server, key, tcpEcho, udpEcho string) {
	t.Helper()
	testutil.Eventually(t, testutil.Wait, 5*time.Millisecond, func() bool { return srv.Online(key) }, key+" agent online")
	l, err := srv.Open(testutil.Context(t), key, bridge.LinkHeader{Network: bridge.NetworkTCP, Target: tcpEcho})
	if err != nil {
		t.Fatalf("open tcp link: %v", err)
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
	got := make([]byte, len(big))
	var wg sync.WaitGroup
	wg.Go(func() { _, _ = l.Write(big) })
	_ = l.SetReadDeadline(time.Now().Add(testutil.Wait))
	if _, err := io.ReadFull(l, got); err != nil || !bytes.Equal(got, big) {
		t.Fatalf("1 MiB over the tcp link: %v (equal %v)", err, bytes.Equal(got, big))
	}
	wg.Wait()
	_ = l.Close()
	u, err := srv.Open(testutil.Context(t), key, bridge.LinkHeader{Network: bridge.NetworkUDP, Target: udpEcho})
	if err != nil {
		t.Fatalf("open udp link: %v", err)
	}
	defer u.Close()
	dc := bridge.NewDatagramConn(u)
	_ = dc.SetDeadline(time.Now().Add(testutil.Wait))
	for _, msg := range []string{"one", "two datagrams"} {
		if _, err := dc.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 64)
		n, err := dc.Read(buf)
		if err != nil || string(buf[:n]) != msg {
			t.Fatalf("udp echo: %q, %v; want %q", buf[:n], err, msg)
		}
	}
}

// Every carrier carries TCP and UDP links to a real agent that verifies
// the bridge by pin, and an agent that arrives on the TCP carrier hears
// which carrier the bridge expects.
func TestCarriersCarryLinks(t *testing.T) {
	t.Parallel()
	tcpEcho, udpEcho := testutil.ServeTCP(t, testutil.Echo), testutil.ServeUDPEcho(t)
	for _, c := range []bridge.CarrierType{bridge.CarrierQUIC, bridge.CarrierWebSocket, bridge.CarrierHTTP2} {
		t.Run(c.String(), func(t *testing.T) {
			t.Parallel()
			path := ""
			if c == bridge.CarrierWebSocket {
				path = "/tunnel"
			}
			srv, addr, fp := carrierBridge(t, c, bridge.Config{Keys: bridge.NewKeySet("k", "follow"), Path: path})
			startAgent(t, client.Config{Bridge: addr, Key: "k", Targets: []string{tcpEcho, udpEcho}, Fingerprint: fp, Carrier: c, CarrierPath: path})
			checkLinks(t, srv, "k", tcpEcho, udpEcho)
			_, err := bridge.Dial(testutil.Context(t), bridge.DialConfig{Addr: addr, Key: "k", TLS: tlsx.ClientConfig(tlsx.ClientOptions{Fingerprint: fp})})
			re := wantRefused(t, err, bridge.StatusCarrierMismatch)
			if !strings.Contains(re.Message, "type="+string('0'+byte(c))) || re.Carrier != c {
				t.Fatalf("refusal %q (carrier %v) does not name type=%d", re.Message, re.Carrier, c)
			}
			if re.Path != path {
				t.Fatalf("refusal names path %q, want %q", re.Path, path)
			}
			// An agent whose URL names no carrier follows the bridge's.
			startAgent(t, client.Config{Bridge: addr, Key: "follow", Targets: []string{tcpEcho, udpEcho}, Fingerprint: fp, FollowCarrier: true})
			checkLinks(t, srv, "follow", tcpEcho, udpEcho)
		})
	}
}

// A TCP bridge answers a WebSocket agent with an HTTP error naming its
// carrier, and an HTTP/2 agent finds that it negotiated no HTTP/2; each
// agent reports why.
func TestHTTPCarrierAgentsAtTCPBridge(t *testing.T) {
	t.Parallel()
	_, addr, fp := carrierBridge(t, bridge.CarrierTCP, bridge.Config{Keys: bridge.NewKeySet("k")})
	for c, want := range map[bridge.CarrierType]string{
		bridge.CarrierWebSocket: "over TCP (type=0)",
		bridge.CarrierHTTP2:     "not an HTTP/2 bridge (type=3)",
	} {
		a := startAgent(t, client.Config{Bridge: addr, Key: "k", Targets: []string{"127.0.0.1:1"}, Fingerprint: fp, Carrier: c})
		testutil.Eventually(t, testutil.Wait, 5*time.Millisecond, func() bool {
			err := a.Health()
			return err != nil && strings.Contains(err.Error(), want)
		}, c.String()+" agent told why the TCP bridge does not take it")
	}
}

// The WebSocket carrier through a real reverse proxy (httputil), on a
// path and Host of the agent's choosing, plain behind a proxy the bridge
// trusts (tls=0), and again after the proxy restarts.
func TestWebSocketThroughReverseProxy(t *testing.T) {
	t.Parallel()
	tcpEcho, udpEcho := testutil.ServeTCP(t, testutil.Echo), testutil.ServeUDPEcho(t)
	srv, addr, _ := carrierBridge(t, bridge.CarrierWebSocket, bridge.Config{Keys: bridge.NewKeySet("k"), Path: "/ws/tunnel", AllowPlain: true})
	target, _ := url.Parse("http://" + addr)
	var hosts sync.Map
	rp := httputil.NewSingleHostReverseProxy(target)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hosts.Store(r.Host, true)
		rp.ServeHTTP(w, r)
	})
	proxyLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	proxyAddr := proxyLn.Addr().String()
	serveProxy := func(ln net.Listener) (stop func()) {
		var conns sync.Map // every connection, upgraded (hijacked) ones too: a restart ends them all
		hs := &http.Server{Handler: handler, ReadHeaderTimeout: 5 * time.Second,
			ConnState: func(c net.Conn, st http.ConnState) {
				if st == http.StateNew {
					conns.Store(c, true)
				}
			}}
		done := make(chan struct{})
		go func() { defer close(done); _ = hs.Serve(ln) }()
		return func() {
			_ = hs.Close()
			<-done
			conns.Range(func(c, _ any) bool { _ = c.(net.Conn).Close(); return true })
		}
	}
	stop := serveProxy(proxyLn)
	a := startAgent(t, client.Config{Bridge: proxyAddr, Key: "k", Targets: []string{tcpEcho, udpEcho}, TLS: client.TLSOff,
		Carrier: bridge.CarrierWebSocket, CarrierPath: "/ws/tunnel", CarrierHost: "tunnel.example.com"})
	checkLinks(t, srv, "k", tcpEcho, udpEcho)
	if _, ok := hosts.Load("tunnel.example.com"); !ok {
		t.Fatal("the proxy did not see the agent's Host")
	}
	stop() // the proxy restarts: every tunnel through it ends
	testutil.Eventually(t, testutil.Wait, 5*time.Millisecond, func() bool { return !srv.Online("k") && !a.Connected() }, "agent offline while the proxy is down")
	ln, err := net.Listen("tcp", proxyAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer serveProxy(ln)()
	checkLinks(t, srv, "k", tcpEcho, udpEcho)
}

// A WebSocket bridge that requires TLS refuses a plain ws:// agent with the
// reason; a request on another path or without an upgrade is an HTTP
// error, and a browser's (with an Origin) is refused.
func TestWebSocketBridgeRefusals(t *testing.T) {
	t.Parallel()
	srv, addr, fp := carrierBridge(t, bridge.CarrierWebSocket, bridge.Config{Keys: bridge.NewKeySet("k"), Path: "/t"})
	plain := startAgent(t, client.Config{Bridge: addr, Key: "k", Targets: []string{"127.0.0.1:1"}, TLS: client.TLSOff, Carrier: bridge.CarrierWebSocket, CarrierPath: "/t"})
	testutil.Eventually(t, testutil.Wait, 5*time.Millisecond, func() bool {
		err := plain.Health()
		return err != nil && strings.Contains(err.Error(), "this bridge requires TLS")
	}, "plain WebSocket agent told TLS is required")
	wrongPath := startAgent(t, client.Config{Bridge: addr, Key: "k", Targets: []string{"127.0.0.1:1"}, Fingerprint: fp, Carrier: bridge.CarrierWebSocket, CarrierPath: "/other"})
	testutil.Eventually(t, testutil.Wait, 5*time.Millisecond, func() bool {
		err := wrongPath.Health()
		return err != nil && strings.Contains(err.Error(), "404")
	}, "agent on the wrong path told 404")
	wrongKey := startAgent(t, client.Config{Bridge: addr, Key: "nope", Targets: []string{"127.0.0.1:1"}, Fingerprint: fp, Carrier: bridge.CarrierWebSocket, CarrierPath: "/t"})
	testutil.Eventually(t, testutil.Wait, 5*time.Millisecond, func() bool {
		err := wrongKey.Health()
		return err != nil && strings.Contains(err.Error(), "unknown key")
	}, "wrong key refused over WebSocket")
	if srv.Online("k") || srv.Online("nope") {
		t.Fatal("a refused agent is online")
	}
	tr := &http.Transport{TLSClientConfig: tlsx.ClientConfig(tlsx.ClientOptions{Fingerprint: fp})}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: testutil.Wait}
	for _, tc := range []struct {
		path   string
		header http.Header
		want   int
	}{
		{"/t", nil, http.StatusBadRequest},
		{"/", nil, http.StatusNotFound},
		{"/t", http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}, "Sec-Websocket-Version": {"13"},
			"Sec-Websocket-Key": {"dGhlIHNhbXBsZSBub25jZQ=="}, "Origin": {"https://evil.example"}}, http.StatusForbidden},
	} {
		req, _ := http.NewRequest(http.MethodGet, "https://"+addr+tc.path, nil)
		for k, v := range tc.header {
			req.Header[k] = v
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Fatalf("GET %s %v: %d, want %d", tc.path, tc.header, resp.StatusCode, tc.want)
		}
	}
}

// A stranger's connection to an HTTP carrier's front is bounded like a TCP
// agent's: one that says nothing is closed at the handshake timeout.
func TestCarrierFrontSilentStrangerClosed(t *testing.T) {
	t.Parallel()
	for _, c := range []bridge.CarrierType{bridge.CarrierWebSocket, bridge.CarrierHTTP2} {
		var refused sync.Map
		_, addr, _ := carrierBridge(t, c, bridge.Config{Keys: bridge.NewKeySet("k"), HandshakeTimeout: 200 * time.Millisecond,
			OnRefuse: func(r string) { refused.Store(r, true) }})
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(testutil.Wait))
		_, err = conn.Read(make([]byte, 1))
		_ = conn.Close()
		if err == nil || errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("%s: a silent stranger was not closed: %v", c, err)
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("%s: the bridge kept a silent stranger past the handshake timeout", c)
		}
		testutil.Eventually(t, testutil.Wait, 5*time.Millisecond, func() bool { _, ok := refused.Load(bridge.RefusedFailed); return ok }, "counted as failed")
	}
}

// QUIC and HTTP/2 agents keep working when what is between them and the
// bridge (a UDP or TCP relay) restarts.
func TestSharedCarriersSurviveRelayRestart(t *testing.T) {
	t.Parallel()
	tcpEcho, udpEcho := testutil.ServeTCP(t, testutil.Echo), testutil.ServeUDPEcho(t)
	for _, c := range []bridge.CarrierType{bridge.CarrierQUIC, bridge.CarrierHTTP2} {
		t.Run(c.String(), func(t *testing.T) {
			t.Parallel()
			srv, addr, fp := carrierBridge(t, c, bridge.Config{Keys: bridge.NewKeySet("k")})
			network := "tcp"
			if c == bridge.CarrierQUIC {
				network = "udp"
			}
			relay := testutil.StartRelay(t, network, addr)
			startAgent(t, client.Config{Bridge: relay.Addr(), Key: "k", Targets: []string{tcpEcho, udpEcho}, Fingerprint: fp, Carrier: c})
			checkLinks(t, srv, "k", tcpEcho, udpEcho)
			relay.Stop()
			if network == "tcp" { // its connections end with it; a QUIC connection may move to the new path
				testutil.Eventually(t, testutil.Wait, 5*time.Millisecond, func() bool { return !srv.Online("k") }, "session over the stopped relay gone")
			}
			relay.Start()
			checkLinks(t, srv, "k", tcpEcho, udpEcho)
		})
	}
}

// A QUIC connection takes a handshake slot from its first packet: beyond
// the per-source bound a stranger's connection is refused, and one that
// opens no session is closed once the handshake time has passed twice.
func TestQUICStrangersAreBounded(t *testing.T) {
	t.Parallel()
	var refused sync.Map
	_, addr, fp := carrierBridge(t, bridge.CarrierQUIC, bridge.Config{Keys: bridge.NewKeySet("k"),
		HandshakeTimeout: 300 * time.Millisecond, SourceHandshakes: 2,
		OnRefuse: func(r string) { refused.Store(r, true) }})
	tc := tlsx.ClientConfig(tlsx.ClientOptions{Fingerprint: fp})
	tc.NextProtos = []string{bridge.QUICProto}
	var conns []*quic.Conn
	for range 2 {
		c, err := quic.DialAddr(testutil.Context(t), addr, tc, &quic.Config{HandshakeIdleTimeout: 2 * time.Second})
		if err != nil {
			t.Fatalf("stranger within the bound: %v", err)
		}
		conns = append(conns, c)
	}
	if c, err := quic.DialAddr(testutil.Context(t), addr, tc, &quic.Config{HandshakeIdleTimeout: 2 * time.Second}); err == nil {
		_ = c.CloseWithError(0, "")
		t.Fatal("a third connection from one source was taken")
	}
	if _, ok := refused.Load(bridge.RefusedSourceBusy); !ok {
		t.Fatal("the refusal was not counted as source_busy")
	}
	for i, c := range conns {
		select {
		case <-c.Context().Done():
		case <-time.After(testutil.Wait):
			t.Fatalf("silent connection %d still open", i)
		}
	}
	testutil.Eventually(t, testutil.Wait, 5*time.Millisecond, func() bool { _, ok := refused.Load(bridge.RefusedFailed); return ok }, "counted as failed")
}

// A QUIC agent at a TCP bridge (nothing listens for QUIC there) reports
// that it found no QUIC bridge, naming the type it dialled.
func TestQUICAgentAtTCPBridge(t *testing.T) {
	t.Parallel()
	_, addr, fp := carrierBridge(t, bridge.CarrierTCP, bridge.Config{Keys: bridge.NewKeySet("k")})
	a := startAgent(t, client.Config{Bridge: addr, Key: "k", Targets: []string{"127.0.0.1:1"}, Fingerprint: fp, Carrier: bridge.CarrierQUIC})
	testutil.Eventually(t, 2*testutil.Wait, 5*time.Millisecond, func() bool {
		err := a.Health()
		return err != nil && strings.Contains(err.Error(), "is it type=1?")
	}, "QUIC agent told no QUIC bridge answered")
}
