package bridge_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xtaci/smux"
	"go.uber.org/goleak"

	"github.com/burrowproject/burrow/bridge"
	"github.com/burrowproject/burrow/client"
	"github.com/burrowproject/burrow/internal/allowlist"
	"github.com/burrowproject/burrow/internal/testutil"
	"github.com/burrowproject/burrow/internal/tlsx"
)

func dial(ctx context.Context, addr, key string) (*bridge.Tunnel, error) {
	return bridge.Dial(ctx, bridge.DialConfig{Addr: addr, Key: key, AgentName: "t", AgentVersion: "0", Timeout: 2 * time.Second})
}

func wantRefused(t *testing.T, err error, status bridge.HelloStatus) *bridge.RefusedError {
	t.Helper()
	var re *bridge.RefusedError
	if !errors.As(err, &re) || re.Status != status {
		t.Fatalf("err = %v, want a RefusedError with status %v", err, status)
	}
	return re
}

func TestHandshakeOK(t *testing.T) {
	t.Parallel()
	srv, addr := startBridge(t, bridge.Config{Keys: bridge.NewKeySet("k1")})
	before := time.Now()
	sess, err := bridge.Dial(testutil.Context(t), bridge.DialConfig{Addr: addr, Key: "k1", AgentName: "nas", AgentVersion: "1.2"})
	if err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, testutil.Wait, 5*time.Millisecond, func() bool { return srv.Online("k1") }, "agent online")
	if n := srv.Sessions("k1"); n != 1 {
		t.Fatalf("Sessions = %d, want 1", n)
	}
	if srv.Online("other") || srv.Sessions("other") != 0 {
		t.Fatal("a key nobody connected with is online")
	}
	agents := srv.Agents()
	if len(agents) != 1 {
		t.Fatalf("Agents() = %+v, want one", agents)
	}
	a := agents[0]
	if a.Name != "nas" || a.Version != "1.2" || a.KeyID != bridge.KeyID("k1") || a.RemoteAddr != sess.LocalAddr().String() ||
		a.Since.Before(before.Add(-time.Second)) || a.OpenStreams != 0 {
		t.Fatalf("agent info %+v", a)
	}
	_ = sess.Close()
	testutil.Eventually(t, testutil.Wait, 5*time.Millisecond, func() bool { return !srv.Online("k1") && srv.Sessions("k1") == 0 && len(srv.Agents()) == 0 }, "agent gone after its session closed")
}

func TestUnknownKeyRefusedBridgeKeepsServing(t *testing.T) {
	t.Parallel()
	srv, addr := startBridge(t, bridge.Config{Keys: bridge.NewKeySet("good")})
	for range 3 {
		_, err := dial(testutil.Context(t), addr, "bad-secret")
		re := wantRefused(t, err, bridge.StatusUnknownKey)
		if strings.Contains(re.Error(), "bad-secret") {
			t.Fatalf("refusal text shows the key: %q", re.Error())
		}
	}
	sess, err := dial(testutil.Context(t), addr, "good")
	if err != nil {
		t.Fatalf("good key after refusals: %v", err)
	}
	defer sess.Close()
	testutil.Eventually(t, testutil.Wait, 5*time.Millisecond, func() bool { return srv.Online("good") }, "good agent online")
	if srv.Sessions("bad-secret") != 0 {
		t.Fatal("refused key has a session")
	}
}

// rawExchange connects to addr, writes b (then half-closes when asked) and
// returns everything the bridge sends until it closes the connection.
func rawExchange(t *testing.T, addr string, b []byte, halfClose bool) ([]byte, time.Duration) {
	t.Helper()
	return rawExchangeFrom(t, "", addr, b, halfClose)
}

// rawExchangeFrom is rawExchange from source IP src ("" = any): the bridge
// makes a source whose handshakes fail wait, so tests that send junk send
// it from a loopback address of their own.
func rawExchangeFrom(t *testing.T, src, addr string, b []byte, halfClose bool) ([]byte, time.Duration) {
	t.Helper()
	c, err := dialFrom(src, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	_ = c.SetDeadline(start.Add(testutil.Wait))
	if len(b) > 0 {
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	if halfClose {
		_ = c.(*net.TCPConn).CloseWrite()
	}
	got, err := io.ReadAll(c)
	if err != nil && !errors.Is(err, net.ErrClosed) && !isReset(err) {
		t.Fatalf("bridge did not close the connection: %v (read %q)", err, got)
	}
	return got, time.Since(start)
}

func dialFrom(src, addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: testutil.Wait}
	if src != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(src)}
	}
	return d.Dial("tcp", addr)
}

func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}

func TestVersionMismatch(t *testing.T) {
	t.Parallel()
	_, addr := startBridge(t, bridge.Config{Keys: bridge.NewKeySet("k")})
	hello, err := bridge.AppendHello(nil, bridge.Hello{Version: 99, Key: "k"})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := rawExchange(t, addr, hello, false)
	r, err := bridge.ReadHelloReply(bytes.NewReader(got))
	if err != nil || r.Status != bridge.StatusVersionMismatch {
		t.Fatalf("reply to version 99: %+v, %v (bytes %q)", r, err, got)
	}
	if !strings.Contains(r.Message, "99") || !strings.Contains(r.Message, "1") {
		t.Fatalf("version mismatch message %q does not name both versions", r.Message)
	}
}

func TestBadHellosCloseBridgeKeepsServing(t *testing.T) {
	t.Parallel()
	srv, addr := startBridge(t, bridge.Config{Keys: bridge.NewKeySet("k")})
	valid, _ := bridge.AppendHello(nil, bridge.Hello{Version: 1, Key: "k", AgentName: "n"})
	cases := map[string][]byte{
		"http request": []byte("GET / HTTP/1.1\r\nHost: bridge\r\n\r\n"),
		"bad magic":    append([]byte("XXXX"), valid[4:]...),
		"truncated":    valid[:len(valid)-2],
		"prefix only":  valid[:5],
		"oversize":     []byte("BRRW\x01\xff\xff"),
		"trailing":     append(append([]byte("BRRW\x01\x00\x07"), valid[7:]...), 0, 0),
		"zero bytes":   nil,
	}
	src := 10
	for name, b := range cases {
		src++ // each from its own address: a source that keeps failing must wait
		got, el := rawExchangeFrom(t, "127.0.0."+strconv.Itoa(src), addr, b, true)
		if el > 2*time.Second {
			t.Errorf("%s: bridge took %v to close", name, el)
		}
		if name == "http request" { // answered in HTTP: a WebSocket agent (type=2) reads why
			if !bytes.HasPrefix(got, []byte("HTTP/1.1 400 ")) || !bytes.Contains(got, []byte("over TCP (type=0)")) {
				t.Errorf("%s: reply %q, want an HTTP 400 naming the carrier", name, got)
			}
			continue
		}
		if len(got) > 0 {
			r, err := bridge.ReadHelloReply(bytes.NewReader(got))
			if err != nil || r.Status == bridge.StatusOK {
				t.Errorf("%s: reply %+v, %v", name, r, err)
			}
		} else if name != "zero bytes" && name != "truncated" && name != "prefix only" {
			t.Errorf("%s: no reply before the close", name)
		}
	}
	if srv.Online("k") {
		t.Fatal("a bad hello made the key online")
	}
	sess, err := dial(testutil.Context(t), addr, "k")
	if err != nil {
		t.Fatalf("valid agent after bad hellos: %v", err)
	}
	defer sess.Close()
	testutil.Eventually(t, testutil.Wait, 5*time.Millisecond, func() bool { return srv.Online("k") }, "agent online after bad hellos")
}

func TestSilentClientDropped(t *testing.T) {
	t.Parallel()
	const hs = 150 * time.Millisecond
	tc, _, err := tlsx.ServerConfig(1, "", "")
	if err != nil {
		t.Fatal(err)
	}
	for name, cfg := range map[string]bridge.Config{
		"plain": {Keys: bridge.NewKeySet("k"), HandshakeTimeout: hs},
		"tls":   {Keys: bridge.NewKeySet("k"), HandshakeTimeout: hs, TLS: tc},
	} {
		_, addr := startBridge(t, cfg)
		// Half a hello (or half a TLS record), then silence.
		partial := []byte("BRR")
		if cfg.TLS != nil {
			partial = []byte{0x16, 0x03}
		}
		_, el := rawExchange(t, addr, partial, false)
		if el < hs-20*time.Millisecond || el > 2*time.Second {
			t.Errorf("%s: silent client dropped after %v, want about %v", name, el, hs)
		}
		_, el = rawExchange(t, addr, nil, false)
		if el < hs-20*time.Millisecond || el > 2*time.Second {
			t.Errorf("%s: mute client dropped after %v, want about %v", name, el, hs)
		}
	}
}

func TestDialGivesUpOnSilentBridge(t *testing.T) {
	t.Parallel()
	addr := testutil.ServeTCP(t, testutil.Discard)
	start := time.Now()
	_, err := bridge.Dial(context.Background(), bridge.DialConfig{Addr: addr, Key: "k", Timeout: 200 * time.Millisecond})
	if err == nil {
		t.Fatal("Dial to a bridge that never answers succeeded")
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("Dial took %v with a 200ms timeout", el)
	}
	if _, err := bridge.Dial(context.Background(), bridge.DialConfig{Addr: testutil.ClosedAddr(t), Key: "k"}); err == nil {
		t.Fatal("Dial to a closed port succeeded")
	}
}

func TestTLSBridge(t *testing.T) {
	t.Parallel()
	tc, fp, err := tlsx.ServerConfig(1, "", "")
	if err != nil {
		t.Fatal(err)
	}
	_, addr := startBridge(t, bridge.Config{Keys: bridge.NewKeySet("k"), TLS: tc})

	_, err = dial(testutil.Context(t), addr, "k")
	wantRefused(t, err, bridge.StatusTLSRequired)

	wrong := strings.Repeat("ab", 32)
	_, err = bridge.Dial(testutil.Context(t), bridge.DialConfig{Addr: addr, Key: "k", TLS: tlsx.ClientConfig(tlsx.ClientOptions{Fingerprint: wrong})})
	if !errors.Is(err, tlsx.ErrPinMismatch) {
		t.Fatalf("wrong pin: err = %v, want a fingerprint mismatch", err)
	}
	_, err = bridge.Dial(testutil.Context(t), bridge.DialConfig{Addr: addr, Key: "k", TLS: tlsx.ClientConfig(tlsx.ClientOptions{ServerName: "127.0.0.1"})})
	var ue *tlsx.UntrustedError
	if !errors.As(err, &ue) || ue.Fingerprint != fp {
		t.Fatalf("no pin, self-signed: err = %v, want it untrusted with fingerprint %s", err, fp)
	}

	sess, err := bridge.Dial(testutil.Context(t), bridge.DialConfig{Addr: addr, Key: "k",
		TLS: tlsx.ClientConfig(tlsx.ClientOptions{Fingerprint: strings.ToUpper(fp[:2]) + ":" + fp[2:]})})
	if err != nil {
		t.Fatalf("right pin: %v", err)
	}
	defer sess.Close()

	// Unknown key over TLS is refused inside the TLS session.
	_, err = bridge.Dial(testutil.Context(t), bridge.DialConfig{Addr: addr, Key: "nope", TLS: tlsx.ClientConfig(tlsx.ClientOptions{Fingerprint: fp})})
	wantRefused(t, err, bridge.StatusUnknownKey)

	// A bridge with a certificate and AllowPlain takes both kinds of hello;
	// one without a certificate closes a TLS agent before any hello.
	_, both := startBridge(t, bridge.Config{Keys: bridge.NewKeySet("k"), TLS: tc, AllowPlain: true})
	plain, err := dial(testutil.Context(t), both, "k")
	if err != nil {
		t.Fatalf("plain hello with AllowPlain: %v", err)
	}
	_ = plain.Close()
	over, err := bridge.Dial(testutil.Context(t), bridge.DialConfig{Addr: both, Key: "k", TLS: tlsx.ClientConfig(tlsx.ClientOptions{Fingerprint: fp})})
	if err != nil {
		t.Fatalf("TLS hello with AllowPlain: %v", err)
	}
	_ = over.Close()
	_, bare := startBridge(t, bridge.Config{Keys: bridge.NewKeySet("k")})
	if _, err := bridge.Dial(testutil.Context(t), bridge.DialConfig{Addr: bare, Key: "k", TLS: tlsx.ClientConfig(tlsx.ClientOptions{Fingerprint: fp})}); err == nil {
		t.Fatal("a TLS agent was accepted by a bridge without a certificate")
	}
}

// A real agent verifies the bridge: pinned it connects and carries links;
// unpinned and targetless it is refused with the fingerprint and the fp=
// to add; unpinned with Unverified (a NodePass pair's client end) it
// connects.
func TestAgentVerifiesBridge(t *testing.T) {
	t.Parallel()
	tc, fp, err := tlsx.ServerConfig(1, "", "")
	if err != nil {
		t.Fatal(err)
	}
	echoAddr := testutil.ServeTCP(t, testutil.Echo)
	srv, addr := startBridge(t, bridge.Config{Keys: bridge.NewKeySet("pinned", "loose", "strict"), TLS: tc})
	startAgent(t, client.Config{Bridge: addr, Key: "pinned", Targets: []string{echoAddr}, Fingerprint: fp})
	startAgent(t, client.Config{Bridge: addr, Key: "loose", Targets: []string{echoAddr}, Unverified: true})
	strict := startAgent(t, client.Config{Bridge: addr, Key: "strict"})
	for _, key := range []string{"pinned", "loose"} {
		testutil.Eventually(t, testutil.Wait, 5*time.Millisecond, func() bool { return srv.Online(key) }, key+" agent online")
		l, err := srv.Open(testutil.Context(t), key, bridge.LinkHeader{Network: bridge.NetworkTCP})
		if err != nil {
			t.Fatal(err)
		}
		testutil.RoundTrip(t, l, "over tls")
		_ = l.Close()
	}
	testutil.Eventually(t, testutil.Wait, 5*time.Millisecond, func() bool {
		err := strict.Health()
		return err != nil && strings.Contains(err.Error(), "add fp="+fp+" to the agent URL")
	}, "unpinned targetless agent refuses the bridge with the fp= to add")
	if srv.Online("strict") {
		t.Fatal("an agent that refused the certificate is online")
	}
}

func TestOpenNoAgent(t *testing.T) {
	t.Parallel()
	srv, _ := startBridge(t, bridge.Config{Keys: bridge.NewKeySet("k")})
	_, err := srv.Open(testutil.Context(t), "k", bridge.LinkHeader{Network: bridge.NetworkTCP, Target: "127.0.0.1:1"})
	if !errors.Is(err, bridge.ErrNoAgent) {
		t.Fatalf("Open with no agent: %v, want ErrNoAgent", err)
	}
	_, err = srv.OpenLink(testutil.Context(t), "k", bridge.LinkHeader{Network: bridge.NetworkTCP}, []byte("x"))
	if !errors.Is(err, bridge.ErrNoAgent) {
		t.Fatalf("OpenLink with no agent: %v, want ErrNoAgent", err)
	}
	_, err = srv.Open(testutil.Context(t), "k", bridge.LinkHeader{Network: 'x'})
	if err == nil || errors.Is(err, bridge.ErrNoAgent) {
		t.Fatalf("Open with a bad header: %v, want an encode error", err)
	}
}

func TestOpenSendsHeaderAndPreamble(t *testing.T) {
	t.Parallel()
	srv, addr := startBridge(t, bridge.Config{Keys: bridge.NewKeySet("k")})
	got := make(chan bridge.LinkHeader, 1)
	rawAgent(t, addr, "k", "raw", func(st *smux.Stream) {
		h, err := bridge.ReadLinkHeader(st)
		if err != nil {
			return
		}
		got <- h
		_, _ = st.Write(bridge.AppendVerdict(nil, bridge.Verdict{OK: true}))
		_, _ = io.Copy(st, st)
	})
	testutil.Eventually(t, testutil.Wait, 5*time.Millisecond, func() bool { return srv.Online("k") }, "agent online")
	want := bridge.LinkHeader{Network: bridge.NetworkUDP, Flags: bridge.FlagProxyProtocol, Target: "10.1.2.3:53", Instance: "inst-7", Source: "203.0.113.9:4444"}
	l, err := srv.OpenLink(testutil.Context(t), "k", want, []byte("pre:"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	select {
	case h := <-got:
		if h != want {
			t.Fatalf("agent got header %+v, want %+v", h, want)
		}
	case <-time.After(testutil.Wait):
		t.Fatal("agent got no header")
	}
	_ = l.SetDeadline(time.Now().Add(testutil.Wait))
	if _, err := l.Write([]byte("data")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len("pre:data"))
	if _, err := io.ReadFull(l, buf); err != nil || string(buf) != "pre:data" {
		t.Fatalf("echo of preamble+data = %q, %v", buf, err)
	}
}

func TestRoundRobinAcrossAgents(t *testing.T) {
	t.Parallel()
	srv, addr := startBridge(t, bridge.Config{Keys: bridge.NewKeySet("pool")})
	a := testutil.ServeTCP(t, func(c net.Conn) { _, _ = c.Write([]byte("A")) })
	b := testutil.ServeTCP(t, func(c net.Conn) { _, _ = c.Write([]byte("B")) })
	startAgent(t, client.Config{Bridge: addr, Key: "pool", Name: "a", Targets: []string{a}, TLS: client.TLSOff})
	startAgent(t, client.Config{Bridge: addr, Key: "pool", Name: "b", Targets: []string{b}, TLS: client.TLSOff})
	testutil.Eventually(t, testutil.Wait, 5*time.Millisecond, func() bool { return srv.Sessions("pool") == 2 }, "two agents in the pool")
	if n := len(srv.Agents()); n != 2 {
		t.Fatalf("Agents() lists %d, want 2", n)
	}
	var seq []byte
	for range 6 {
		l, err := srv.Open(testutil.Context(t), "pool", bridge.LinkHeader{Network: bridge.NetworkTCP})
		if err != nil {
			t.Fatal(err)
		}
		_ = l.SetReadDeadline(time.Now().Add(testutil.Wait))
		one := make([]byte, 1)
		if _, err := io.ReadFull(l, one); err != nil {
			t.Fatal(err)
		}
		seq = append(seq, one[0])
		_ = l.Close()
	}
	for i := 1; i < len(seq); i++ {
		if seq[i] == seq[i-1] {
			t.Fatalf("links went to agents %q, want them to alternate", seq)
		}
	}
}

func TestKilledSessionFailsLinks(t *testing.T) {
	t.Parallel()
	srv, addr := startBridge(t, bridge.Config{Keys: bridge.NewKeySet("k")})
	sess := rawAgent(t, addr, "k", "raw", echoLink)
	testutil.Eventually(t, testutil.Wait, 5*time.Millisecond, func() bool { return srv.Online("k") }, "agent online")
	l, err := srv.Open(testutil.Context(t), "k", bridge.LinkHeader{Network: bridge.NetworkTCP})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	testutil.RoundTrip(t, l, "hello")
	testutil.Eventually(t, testutil.Wait, 5*time.Millisecond, func() bool {
		a := srv.Agents()
		return len(a) == 1 && a[0].OpenStreams == 1 && a[0].BytesIn > 5 && a[0].BytesOut > 5
	}, "agent figures show one stream and the bytes")

	readErr := make(chan error, 1)
	go func() {
		_, err := l.Read(make([]byte, 10))
		readErr <- err
	}()
	killed := time.Now()
	_ = sess.Close()
	select {
	case err := <-readErr:
		if err == nil {
			t.Fatal("Read on a link of a killed session returned no error")
		}
		if el := time.Since(killed); el > 2*time.Second {
			t.Fatalf("link failed %v after its session died", el)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("link still open 2s after its session died")
	}
	testutil.Eventually(t, 2*time.Second, 5*time.Millisecond, func() bool { return !srv.Online("k") && srv.Sessions("k") == 0 }, "agent offline")
	if _, err := srv.Open(testutil.Context(t), "k", bridge.LinkHeader{Network: bridge.NetworkTCP}); !errors.Is(err, bridge.ErrNoAgent) {
		t.Fatalf("Open after the agent died: %v, want ErrNoAgent", err)
	}
}

func TestRevoke(t *testing.T) {
	t.Parallel()
	keys := bridge.NewKeySet("k")
	srv, addr := startBridge(t, bridge.Config{Keys: keys})
	echoAddr := testutil.ServeTCP(t, testutil.Echo)
	startAgent(t, client.Config{Bridge: addr, Key: "k", Targets: []string{echoAddr}, TLS: client.TLSOff})
	testutil.Eventually(t, testutil.Wait, 5*time.Millisecond, func() bool { return srv.Online("k") }, "agent online")
	l, err := srv.Open(testutil.Context(t), "k", bridge.LinkHeader{Network: bridge.NetworkTCP})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	testutil.RoundTrip(t, l, "x")

	// The key stays accepted: the agent comes back.
	srv.Revoke("k")
	_ = l.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := l.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Fatalf("link of a revoked session: %v, want it closed", err)
	}
	testutil.Eventually(t, testutil.Wait, 5*time.Millisecond, func() bool { return srv.Online("k") }, "agent reconnects while its key is accepted")

	// Without the key it stays out.
	keys.Remove("k")
	srv.Revoke("k")
	if srv.Online("k") || srv.Sessions("k") != 0 {
		t.Fatal("agent online right after Revoke")
	}
	if testutil.Poll(300*time.Millisecond, 10*time.Millisecond, func() bool { return srv.Online("k") }) {
		t.Fatal("a revoked agent whose key was removed came back")
	}
	srv.Revoke("never-connected") // must not panic
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestVerdictRefused(t *testing.T) {
	t.Parallel()
	srv, addr := startBridge(t, bridge.Config{Keys: bridge.NewKeySet("k")})
	allow, _ := allowlist.ParseAllow([]string{"127.0.0.1:*"})
	startAgent(t, client.Config{Bridge: addr, Key: "k", Allow: allow, TLS: client.TLSOff})
	testutil.Eventually(t, testutil.Wait, 5*time.Millisecond, func() bool { return srv.Online("k") }, "agent online")
	target := testutil.ClosedAddr(t)

	// A target outside the allow list is refused by policy, and says so.
	_, err := srv.Open(testutil.Context(t), "k", bridge.LinkHeader{Network: bridge.NetworkTCP, Target: "10.0.0.5:22"})
	var nv *bridge.VerdictError
	if !errors.As(err, &nv) || !nv.NotAllowed || nv.Reason != "target 10.0.0.5:22 is not allowed by this agent" {
		t.Fatalf("Open to a foreign target: %v (%#v), want a not-allowed verdict", err, nv)
	}

	_, err = srv.Open(testutil.Context(t), "k", bridge.LinkHeader{Network: bridge.NetworkTCP, Target: target})
	var ve *bridge.VerdictError
	if !errors.As(err, &ve) || ve.NotAllowed || ve.Target != target || !strings.Contains(ve.Reason, "refused") || ve.Error() != ve.Reason {
		t.Fatalf("Open to a closed port: %v (%#v), want a VerdictError with the dial error", err, ve)
	}

	// OpenLink does not wait; the first Read reports the verdict, and so do
	// later ones.
	l, err := srv.OpenLink(testutil.Context(t), "k", bridge.LinkHeader{Network: bridge.NetworkTCP, Target: target}, []byte("early"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for range 2 {
		_, err = l.Read(make([]byte, 10))
		if !errors.As(err, &ve) || !strings.Contains(ve.Reason, "refused") {
			t.Fatalf("Read of a refused link: %v, want the VerdictError", err)
		}
	}
	if _, err := l.WriteTo(io.Discard); !errors.As(err, &ve) {
		t.Fatalf("WriteTo of a refused link: %v, want the VerdictError", err)
	}

	// No target and no default target: the agent says so.
	_, err = srv.Open(testutil.Context(t), "k", bridge.LinkHeader{Network: bridge.NetworkTCP})
	if !errors.As(err, &ve) || !strings.Contains(ve.Reason, "no default target") {
		t.Fatalf("Open without any target: %v", err)
	}
}

func TestAwaitVerdictCancelled(t *testing.T) {
	t.Parallel()
	srv, addr := startBridge(t, bridge.Config{Keys: bridge.NewKeySet("k")})
	rawAgent(t, addr, "k", "mute", func(st *smux.Stream) {
		_, _ = io.Copy(io.Discard, st) // never answers
	})
	testutil.Eventually(t, testutil.Wait, 5*time.Millisecond, func() bool { return srv.Online("k") }, "agent online")

	l, err := srv.OpenLink(testutil.Context(t), "k", bridge.LinkHeader{Network: bridge.NetworkTCP}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	err = l.AwaitVerdict(ctx)
	if !errors.Is(err, context.Canceled) || time.Since(start) > time.Second {
		t.Fatalf("AwaitVerdict with a cancelled ctx: %v after %v", err, time.Since(start))
	}
	if err2 := l.AwaitVerdict(context.Background()); !errors.Is(err2, context.Canceled) {
		t.Fatalf("second AwaitVerdict: %v, want the first result", err2)
	}

	l2, err := srv.OpenLink(testutil.Context(t), "k", bridge.LinkHeader{Network: bridge.NetworkTCP}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	ctx2, cancel2 := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel2)
	start = time.Now()
	if err := l2.AwaitVerdict(ctx2); !errors.Is(err, context.Canceled) || time.Since(start) > time.Second {
		t.Fatalf("AwaitVerdict cancelled while waiting: %v after %v", err, time.Since(start))
	}

	start = time.Now()
	tctx, tcancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer tcancel()
	if _, err := srv.Open(tctx, "k", bridge.LinkHeader{Network: bridge.NetworkTCP}); !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > time.Second {
		t.Fatalf("Open with a 100ms deadline to a mute agent: %v after %v", err, time.Since(start))
	}
}

// An agent that closes the stream without a verdict is an error, not an OK.
func TestLinkClosedBeforeVerdict(t *testing.T) {
	t.Parallel()
	srv, addr := startBridge(t, bridge.Config{Keys: bridge.NewKeySet("k")})
	rawAgent(t, addr, "k", "rude", func(st *smux.Stream) { _, _ = bridge.ReadLinkHeader(st) })
	testutil.Eventually(t, testutil.Wait, 5*time.Millisecond, func() bool { return srv.Online("k") }, "agent online")
	_, err := srv.Open(testutil.Context(t), "k", bridge.LinkHeader{Network: bridge.NetworkTCP})
	var ve *bridge.VerdictError
	if err == nil || errors.As(err, &ve) {
		t.Fatalf("Open of a link closed before its verdict: %v", err)
	}
}

func TestKeySet(t *testing.T) {
	t.Parallel()
	s := bridge.NewKeySet("a", "a", "b")
	if !s.Accepts("a") || !s.Accepts("b") || s.Accepts("c") || s.Accepts("") || s.Accepts("aa") {
		t.Fatal("Accepts wrong")
	}
	if s.Remove("a") {
		t.Fatal("Remove of a key added twice reported it gone after one")
	}
	if !s.Accepts("a") {
		t.Fatal("key dropped while still referenced")
	}
	if !s.Remove("a") || s.Accepts("a") {
		t.Fatal("key still accepted after its last Remove")
	}
	if !s.Remove("never") {
		t.Fatal("Remove of an absent key")
	}
	if bridge.NewKeySet().Accepts("") {
		t.Fatal("empty set accepts the empty key")
	}
	id := bridge.KeyID("secret-key")
	if len(id) != 8 || id != bridge.KeyID("secret-key") || id == bridge.KeyID("secret-kez") || strings.Contains(id, "secret") {
		t.Fatalf("KeyID = %q", id)
	}
}

// TestCloseLeavesNoGoroutines runs sequentially (before the parallel tests
// resume) so it can check for leaks on its own.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	func() {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := bridge.NewServer(bridge.Config{Keys: bridge.NewKeySet("k")})
		ctx, cancel := context.WithCancel(context.Background())
		served := make(chan struct{})
		go func() { defer close(served); _ = srv.Serve(ctx, ln) }()
		sess, err := dial(testutil.Context(t), ln.Addr().String(), "k")
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				st, err := sess.AcceptStream()
				if err != nil {
					return
				}
				go echoLink(st)
			}
		}()
		testutil.Eventually(t, testutil.Wait, 5*time.Millisecond, func() bool { return srv.Online("k") }, "agent online")
		// A connection mid-handshake too.
		half, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer half.Close()
		l, err := srv.Open(testutil.Context(t), "k", bridge.LinkHeader{Network: bridge.NetworkTCP})
		if err != nil {
			t.Fatal(err)
		}
		testutil.RoundTrip(t, l, "bye")
		cancel()
		<-served
		closed := make(chan struct{})
		go func() { _ = srv.Close(); close(closed) }()
		select {
		case <-closed:
		case <-time.After(testutil.Wait):
			t.Fatal("Close hung")
		}
		select {
		case <-done:
		case <-time.After(testutil.Wait):
			t.Fatal("agent session still up after Close")
		}
		if srv.Online("k") || len(srv.Agents()) != 0 {
			t.Fatal("agent listed after Close")
		}
		_ = l.Close()
		_ = sess.Close()
		// A closed server refuses new agents at once.
		if _, err := dial(testutil.Context(t), ln.Addr().String(), "k"); err == nil {
			t.Fatal("dial after Close succeeded")
		}
	}()
	if err := goleak.Find(ignore); err != nil {
		t.Fatal(err)
	}
}
