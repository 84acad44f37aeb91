package client

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/burrowproject/burrow/bridge"
	"github.com/burrowproject/burrow/internal/allowlist"
	"github.com/burrowproject/burrow/internal/testutil"
	"github.com/burrowproject/burrow/internal/tlsx"
)

func TestMain(m *testing.M) { testutil.VerifyNoLeaks(m) }

// bridgeCert is the certificate every test bridge serves (one for all, so
// an agent pinned to it reconnects to a restarted bridge).
var bridgeCert = sync.OnceValues(func() (*tls.Config, string) {
	tc, fp, err := tlsx.ServerConfig(1, "", "")
	if err != nil {
		panic(err)
	}
	return tc, fp
})

// bridgeAt serves a TLS bridge with bridgeCert on ln until stop (or the
// end of the test).
func bridgeAt(t *testing.T, ln net.Listener, keys ...string) (*bridge.Server, func()) {
	t.Helper()
	tc, _ := bridgeCert()
	srv := bridge.NewServer(bridge.Config{Keys: bridge.NewKeySet(keys...), TLS: tc})
	var once sync.Once
	closeSrv := func() { once.Do(func() { _ = srv.Close() }) }
	t.Cleanup(closeSrv) // after Serve has returned
	stopServe := testutil.Go(t, func(ctx context.Context) { _ = srv.Serve(ctx, ln) })
	return srv, func() { stopServe(); closeSrv() }
}

func startBridge(t *testing.T, keys ...string) (*bridge.Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := bridgeAt(t, ln, keys...)
	return srv, ln.Addr().String()
}

// startAgent runs an agent until the test ends. Unless cfg says how to
// verify the bridge (or speaks plain TCP) it pins bridgeCert.
func startAgent(t *testing.T, cfg Config) *Agent {
	t.Helper()
	if cfg.TLS == TLSOn && cfg.Fingerprint == "" && cfg.RootCAs == nil && !cfg.Unverified {
		_, cfg.Fingerprint = bridgeCert()
	}
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff = 20 * time.Millisecond
		cfg.MaxBackoff = 100 * time.Millisecond
	}
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = 2 * time.Second
	}
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	testutil.Go(t, func(ctx context.Context) {
		if err := a.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return a
}

// loopback allows the agent to dial any loopback address.
func loopback(t *testing.T) *allowlist.Allow {
	t.Helper()
	a, err := allowlist.ParseAllow([]string{"127.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func online(t *testing.T, srv *bridge.Server, key string) {
	t.Helper()
	testutil.Eventually(t, testutil.Wait, 5*time.Millisecond, func() bool { return srv.Online(key) }, "agent online")
}

func TestNewErrors(t *testing.T) {
	t.Parallel()
	if _, err := New(Config{}); err == nil {
		t.Fatal("New without a bridge address")
	}
	if _, err := New(Config{Bridge: "x:1", SourceIP: "not-an-ip"}); err == nil {
		t.Fatal("New with a bad source IP")
	}
}

func TestAgentServesLinksAndCounts(t *testing.T) {
	t.Parallel()
	srv, addr := startBridge(t, "k")
	echoAddr := testutil.ServeTCP(t, testutil.Echo)
	var connected atomic.Int32
	a := startAgent(t, Config{Bridge: addr, Key: "k", Name: "nas", Version: "9.9", Allow: loopback(t), OnConnected: func() { connected.Add(1) }})
	online(t, srv, "k")
	testutil.Eventually(t, testutil.Wait, 5*time.Millisecond, a.Connected, "agent reports connected")
	testutil.Eventually(t, testutil.Wait, 5*time.Millisecond, func() bool { return connected.Load() == 1 }, "OnConnected called once")
	if ag := srv.Agents(); len(ag) != 1 || ag[0].Name != "nas" || ag[0].Version != "9.9" {
		t.Fatalf("bridge lists %+v", ag)
	}
	l, err := srv.Open(testutil.Context(t), "k", bridge.LinkHeader{Network: bridge.NetworkTCP, Target: echoAddr})
	if err != nil {
		t.Fatal(err)
	}
	testutil.RoundTrip(t, l, "hello agent")
	testutil.Eventually(t, testutil.Wait, 5*time.Millisecond, func() bool { return a.Stats().Links == 1 }, "one link open")
	_ = l.Close()
	testutil.Eventually(t, testutil.Wait, 5*time.Millisecond, func() bool {
		s := a.Stats()
		return s.Links == 0 && s.TCPRx == 11 && s.TCPTx == 11 && s.UDPRx == 0 && s.UDPTx == 0
	}, "link closed and 11 bytes counted each way")
}

func TestAgentRefusesTargetOutsideAllow(t *testing.T) {
	t.Parallel()
	srv, addr := startBridge(t, "k")
	echoAddr := testutil.ServeTCP(t, testutil.Echo)
	allow, err := allowlist.ParseAllow([]string{"10.0.0.0/8", "db.lan:5432"})
	if err != nil {
		t.Fatal(err)
	}
	startAgent(t, Config{Bridge: addr, Key: "k", Allow: allow})
	online(t, srv, "k")
	for _, target := range []string{echoAddr, "localhost:" + portOf(echoAddr)} {
		_, err = srv.Open(testutil.Context(t), "k", bridge.LinkHeader{Network: bridge.NetworkTCP, Target: target})
		var ve *bridge.VerdictError
		if !errors.As(err, &ve) || !ve.NotAllowed || !strings.HasPrefix(ve.Reason, "target "+target+" is not allowed by this agent") {
			t.Fatalf("Open %s outside allow=: %v, want a not-allowed verdict naming it", target, err)
		}
	}

	// The same target is served by an agent that allows it.
	allow2, _ := allowlist.ParseAllow([]string{"127.0.0.0/8"})
	srv2, addr2 := startBridge(t, "k")
	startAgent(t, Config{Bridge: addr2, Key: "k", Allow: allow2})
	online(t, srv2, "k")
	l, err := srv2.Open(testutil.Context(t), "k", bridge.LinkHeader{Network: bridge.NetworkTCP, Target: "localhost:" + portOf(echoAddr)})
	if err != nil {
		t.Fatalf("allowed target refused: %v", err)
	}
	defer l.Close()
	testutil.RoundTrip(t, l, "ok")
}

func portOf(addr string) string {
	_, port, _ := net.SplitHostPort(addr)
	return port
}

func TestDefaultTargetsFailover(t *testing.T) {
	t.Parallel()
	srv, addr := startBridge(t, "k")
	echoAddr := testutil.ServeTCP(t, testutil.Echo)
	dead := testutil.ClosedAddr(t)
	startAgent(t, Config{Bridge: addr, Key: "k", Targets: []string{dead, echoAddr}})
	online(t, srv, "k")
	for i := range 4 { // whichever target round-robin tries first
		l, err := srv.Open(testutil.Context(t), "k", bridge.LinkHeader{Network: bridge.NetworkTCP})
		if err != nil {
			t.Fatalf("link %d with one live default target: %v", i, err)
		}
		testutil.RoundTrip(t, l, "failover")
		_ = l.Close()
	}

	// Every default target down: the verdict gives every reason.
	srv2, addr2 := startBridge(t, "k")
	dead2 := testutil.ClosedAddr(t)
	startAgent(t, Config{Bridge: addr2, Key: "k", Targets: []string{dead, dead2}})
	online(t, srv2, "k")
	_, err := srv2.Open(testutil.Context(t), "k", bridge.LinkHeader{Network: bridge.NetworkTCP})
	var ve *bridge.VerdictError
	if !errors.As(err, &ve) || !strings.Contains(ve.Reason, dead) || !strings.Contains(ve.Reason, dead2) {
		t.Fatalf("all default targets down: %v, want both dial errors", err)
	}
}

func TestProxyProtocolToTarget(t *testing.T) {
	t.Parallel()
	srv, addr := startBridge(t, "k")
	lines := make(chan string, 1)
	target := testutil.ServeTCP(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		lines <- line + "|" + c.RemoteAddr().String()
		_, _ = io.Copy(c, br)
	})
	startAgent(t, Config{Bridge: addr, Key: "k", Allow: loopback(t)})
	online(t, srv, "k")
	l, err := srv.Open(testutil.Context(t), "k", bridge.LinkHeader{Network: bridge.NetworkTCP, Flags: bridge.FlagProxyProtocol, Target: target, Source: "203.0.113.9:5555"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	testutil.RoundTrip(t, l, "payload")
	var got string
	select {
	case got = <-lines:
	case <-time.After(testutil.Wait):
		t.Fatal("target got no PROXY line")
	}
	line, agentAddr, _ := strings.Cut(got, "|")
	// The destination is the agent's end of its connection to the target.
	want := "PROXY TCP4 203.0.113.9 127.0.0.1 5555 " + portOf(agentAddr) + "\r\n"
	if line != want {
		t.Fatalf("PROXY line %q, want %q", line, want)
	}

	// Without the flag no header is sent.
	l2, err := srv.Open(testutil.Context(t), "k", bridge.LinkHeader{Network: bridge.NetworkTCP, Target: target, Source: "203.0.113.9:5555"})
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	_ = l2.SetDeadline(time.Now().Add(testutil.Wait))
	if _, err := l2.Write([]byte("plain\n")); err != nil {
		t.Fatal(err)
	}
	select {
	case got = <-lines:
		if !strings.HasPrefix(got, "plain\n|") {
			t.Fatalf("without the flag the target got %q first", got)
		}
	case <-time.After(testutil.Wait):
		t.Fatal("target got nothing")
	}
}

func TestUDPLink(t *testing.T) {
	t.Parallel()
	srv, addr := startBridge(t, "k")
	udpEcho := testutil.ServeUDPEcho(t)
	a := startAgent(t, Config{Bridge: addr, Key: "k", Allow: loopback(t)})
	online(t, srv, "k")
	l, err := srv.Open(testutil.Context(t), "k", bridge.LinkHeader{Network: bridge.NetworkUDP, Target: udpEcho})
	if err != nil {
		t.Fatal(err)
	}
	dc := bridge.NewDatagramConn(l)
	defer dc.Close()
	_ = dc.SetDeadline(time.Now().Add(testutil.Wait))
	total := 0
	for _, size := range []int{1, 1400, 9000} {
		msg := strings.Repeat("u", size)
		if _, err := dc.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 65535)
		n, err := dc.Read(buf)
		if err != nil || n != size {
			t.Fatalf("datagram of %d echoed as %d bytes, %v", size, n, err)
		}
		total += size
	}
	testutil.Eventually(t, testutil.Wait, 5*time.Millisecond, func() bool {
		s := a.Stats()
		return s.UDPRx == int64(total) && s.UDPTx == int64(total) && s.TCPRx == 0
	}, "UDP bytes counted as UDP: "+strconv.Itoa(total))
}

func TestAgentIdleClosesLink(t *testing.T) {
	t.Parallel()
	srv, addr := startBridge(t, "k")
	echoAddr := testutil.ServeTCP(t, testutil.Echo)
	startAgent(t, Config{Bridge: addr, Key: "k", Allow: loopback(t), Idle: 150 * time.Millisecond})
	online(t, srv, "k")
	l, err := srv.Open(testutil.Context(t), "k", bridge.LinkHeader{Network: bridge.NetworkTCP, Target: echoAddr})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	testutil.RoundTrip(t, l, "x")
	_ = l.SetReadDeadline(time.Now().Add(testutil.Wait))
	start := time.Now()
	if _, err := l.Read(make([]byte, 1)); err == nil {
		t.Fatal("idle link read data")
	} else if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("idle link closed after %v (idle 150ms): %v", el, err)
	}
}

func TestAgentReconnectsAfterBridgeRestart(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	srv, stop := bridgeAt(t, ln, "k")
	echoAddr := testutil.ServeTCP(t, testutil.Echo)
	var connects atomic.Int32
	a := startAgent(t, Config{Bridge: addr, Key: "k", Targets: []string{echoAddr}, OnConnected: func() { connects.Add(1) }})
	online(t, srv, "k")

	stop()
	testutil.Eventually(t, testutil.Wait, 5*time.Millisecond, func() bool { return !a.Connected() }, "agent notices the bridge went away")

	var ln2 net.Listener
	testutil.Eventually(t, testutil.Wait, 20*time.Millisecond, func() bool {
		ln2, err = net.Listen("tcp", addr)
		return err == nil
	}, "bridge port free again")
	srv2, _ := bridgeAt(t, ln2, "k")
	online(t, srv2, "k")
	testutil.Eventually(t, testutil.Wait, 5*time.Millisecond, func() bool { return connects.Load() == 2 }, "OnConnected called for the second session")
	l, err := srv2.Open(testutil.Context(t), "k", bridge.LinkHeader{Network: bridge.NetworkTCP})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	testutil.RoundTrip(t, l, "back")
}

// countingListener counts the connections it accepts.
type countingListener struct {
	net.Listener
	n atomic.Int32
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

func TestBackoffOnRefusedKey(t *testing.T) {
	t.Parallel()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := &countingListener{Listener: inner}
	srv, _ := bridgeAt(t, ln, "right")
	a := startAgent(t, Config{Bridge: inner.Addr().String(), Key: "wrong", MinBackoff: 100 * time.Millisecond, MaxBackoff: 400 * time.Millisecond})
	time.Sleep(time.Second) // the quantity measured is the dial rate over this second
	n := ln.n.Load()
	// Delays of 50-100, 100-200, 200-400, 200-400 ms: 3 to 6 dials a second.
	if n < 2 || n > 10 {
		t.Fatalf("agent with a refused key dialled %d times in 1s, want 2..10", n)
	}
	if a.Connected() || srv.Online("wrong") {
		t.Fatal("refused agent is connected")
	}
}

// dial= (SourceIP) must give UDP links a UDP local address: a TCP one
// makes every UDP dial fail.
func TestSourceIPServesUDPAndTCP(t *testing.T) {
	t.Parallel()
	srv, addr := startBridge(t, "k")
	udpEcho := testutil.ServeUDPEcho(t)
	tcpEcho := testutil.ServeTCP(t, testutil.Echo)
	// Its own targets: an agent dials only what it was told.
	startAgent(t, Config{Bridge: addr, Key: "k", SourceIP: "127.0.0.1", Targets: []string{udpEcho, tcpEcho}})
	online(t, srv, "k")
	for _, tc := range []struct {
		network bridge.Network
		target  string
	}{{bridge.NetworkUDP, udpEcho}, {bridge.NetworkTCP, tcpEcho}} {
		l, err := srv.Open(testutil.Context(t), "k", bridge.LinkHeader{Network: tc.network, Target: tc.target})
		if err != nil {
			t.Fatal(err)
		}
		var c net.Conn = l
		if tc.network == bridge.NetworkUDP {
			c = bridge.NewDatagramConn(l)
		}
		_ = c.SetDeadline(time.Now().Add(testutil.Wait))
		if _, err := c.Write([]byte("ping")); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 64)
		if n, err := io.ReadAtLeast(c, buf, 4); err != nil || string(buf[:n]) != "ping" {
			t.Fatalf("%s link from source 127.0.0.1: got %q, %v", tc.network, buf[:n], err)
		}
		_ = c.Close()
	}
}
