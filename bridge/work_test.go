package bridge_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/burrowproject/burrow/bridge"
	"github.com/burrowproject/burrow/internal/testutil"
	"github.com/burrowproject/burrow/internal/tlsx"
)

// poolTunnel dials the bridge as an agent that asks for a pool, closed
// when the test ends.
func poolTunnel(t *testing.T, addr, key string) *bridge.Tunnel {
	t.Helper()
	return poolTunnelAt(t, addr, key, 0)
}

// poolTunnelAt is poolTunnel offering hello versions up to max (0: the
// newest).
func poolTunnelAt(t *testing.T, addr, key string, max uint8) *bridge.Tunnel {
	t.Helper()
	return dialPool(t, bridge.DialConfig{Addr: addr, Key: key, MaxVersion: max})
}

// dialPool dials the bridge as an agent that asks for a pool, with cfg
// (its address, key, version bound, TLS), closed when the test ends.
func dialPool(t *testing.T, cfg bridge.DialConfig) *bridge.Tunnel {
	t.Helper()
	cfg.AgentName, cfg.AgentVersion, cfg.Pool = "pool", "test", true
	ctx, cancel := context.WithTimeout(context.Background(), testutil.Wait)
	defer cancel()
	tun, err := bridge.Dial(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tun.Close() })
	return tun
}

// idleWork dials one work connection for tun and waits until the bridge
// holds it idle, the only one of key k.
func idleWork(t *testing.T, srv *bridge.Server, tun *bridge.Tunnel) net.Conn {
	t.Helper()
	work := dialWork(t, tun)
	testutil.Eventually(t, testutil.Wait, 5*time.Millisecond, func() bool { return srv.PoolIdle("k") == 1 }, "1 idle work connection")
	return work
}

// readsEnd reports whether c ends (EOF or an error, not a timeout) within d.
func readsEnd(c net.Conn, d time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(d))
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

// The bridge sends its max= in the hello reply and keeps no more idle work
// connections than that per session: the rest are closed at once, without
// a word to an agent of hello version 3 (v0.1.0's).
func TestWorkConnsCappedByMax(t *testing.T) {
	t.Parallel()
	srv, addr := startBridge(t, bridge.Config{Keys: bridge.NewKeySet("k"), PoolMax: 3})
	tun := poolTunnelAt(t, addr, "k", bridge.HelloVersionPool)
	if tun.PoolMax != 3 || tun.Version != bridge.HelloVersionPool {
		t.Fatalf("hello reply pool max %d, want 3", tun.PoolMax)
	}
	var conns []net.Conn
	for range 5 {
		c, err := tun.DialWork(testutil.Context(t))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	testutil.Eventually(t, testutil.Wait, 5*time.Millisecond, func() bool { return srv.PoolIdle("k") == 3 }, "3 idle work connections")
	closed := 0
	for _, c := range conns {
		if readsEnd(c, 200*time.Millisecond) {
			closed++
		}
	}
	if closed != 2 || srv.PoolIdle("k") != 3 {
		t.Fatalf("%d work connections closed and %d idle, want 2 closed beyond max=3", closed, srv.PoolIdle("k"))
	}
}

// In a session of HelloVersionAck every work hello is answered: pooled
// while the pool has room, then pool full (and closed), which DialWork
// reports as ErrPoolFull; once a link takes one, there is room again.
func TestWorkAckPooledThenFull(t *testing.T) {
	t.Parallel()
	srv, addr := startBridge(t, bridge.Config{Keys: bridge.NewKeySet("k"), PoolMax: 3})
	tun := poolTunnel(t, addr, "k")
	if tun.Version < bridge.HelloVersionAck {
		t.Fatalf("session of hello version %d, want at least %d", tun.Version, bridge.HelloVersionAck)
	}
	var pooled []net.Conn
	for i := range 3 {
		pooled = append(pooled, dialWork(t, tun))
		testutil.Eventually(t, testutil.Wait, 5*time.Millisecond, func() bool { return srv.PoolIdle("k") == i+1 }, "the acked work connection idle")
	}
	for range 2 {
		if c, err := tun.DialWork(testutil.Context(t)); !errors.Is(err, bridge.ErrPoolFull) {
			if c != nil {
				_ = c.Close()
			}
			t.Fatalf("work connection beyond max=3: %v, want ErrPoolFull", err)
		}
	}
	for _, c := range pooled {
		if readsEnd(c, 50*time.Millisecond) {
			t.Fatal("a pooled work connection was closed")
		}
	}
	l, err := srv.OpenLink(testutil.Context(t), "k", bridge.LinkHeader{Network: bridge.NetworkTCP, Target: "t:1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// The oldest carries the link, and its first byte is the link header
	// (the ack came before, once).
	_ = pooled[0].SetReadDeadline(time.Now().Add(testutil.Wait))
	if h, err := bridge.ReadLinkHeader(pooled[0]); err != nil || h.Target != "t:1" {
		t.Fatalf("link header on the oldest work connection: %+v, %v", h, err)
	}
	dialWork(t, tun) // room again
	testutil.Eventually(t, testutil.Wait, 5*time.Millisecond, func() bool { return srv.PoolIdle("k") == 3 }, "the pool full again")
}

// An agent of hello version 3 (v0.1.0) hears no ack: the first bytes on its
// work connection are a link's header.
func TestWorkHelloVersion3GetsNoAck(t *testing.T) {
	t.Parallel()
	srv, addr := startBridge(t, bridge.Config{Keys: bridge.NewKeySet("k")})
	tun := poolTunnelAt(t, addr, "k", bridge.HelloVersionPool)
	if tun.Version != bridge.HelloVersionPool {
		t.Fatalf("session of hello version %d, want %d", tun.Version, bridge.HelloVersionPool)
	}
	work := idleWork(t, srv, tun)
	l, err := srv.OpenLink(testutil.Context(t), "k", bridge.LinkHeader{Network: bridge.NetworkTCP, Target: "t:1"}, []byte("hi"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_ = work.SetReadDeadline(time.Now().Add(testutil.Wait))
	if h, err := bridge.ReadLinkHeader(work); err != nil || h.Target != "t:1" {
		t.Fatalf("first bytes on a version 3 work connection: header %+v, %v; want the link's header", h, err)
	}
}

// oldBridge fronts the bridge at addr as an older release answers: a
// hello newer than max (v0.1.0's: HelloVersionPool) is refused with
// StatusVersionMismatch, the rest passes through.
func oldBridge(t *testing.T, addr string, max uint8) string {
	t.Helper()
	return testutil.ServeTCP(t, func(c net.Conn) {
		prefix := make([]byte, len(bridge.Magic)+3)
		if _, err := io.ReadFull(c, prefix); err != nil {
			return
		}
		if v := prefix[len(bridge.Magic)]; v > max && v != bridge.WorkVersion {
			_, _ = c.Write(bridge.AppendHelloReplyFor(nil, bridge.HelloReply{Status: bridge.StatusVersionMismatch, Message: "an older bridge"}, bridge.ProtocolVersion))
			return
		}
		up, err := net.Dial("tcp", addr)
		if err != nil {
			return
		}
		defer up.Close()
		if _, err := up.Write(prefix); err != nil {
			return
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, _ = io.Copy(up, c)
			_ = up.Close()
		}()
		_, _ = io.Copy(c, up)
		_ = c.Close()
		<-done
	})
}

// An agent at a bridge of v0.1.0 falls back to hello version 3 and keeps
// its pool there: no ack awaited, links on work connections.
func TestWorkFallsBackToVersion3(t *testing.T) {
	t.Parallel()
	srv, addr := startBridge(t, bridge.Config{Keys: bridge.NewKeySet("k")})
	tun := poolTunnel(t, oldBridge(t, addr, bridge.HelloVersionPool), "k")
	if tun.Version != bridge.HelloVersionPool || tun.PoolMax == 0 {
		t.Fatalf("session of hello version %d with pool max %d at an old bridge, want version %d with a pool", tun.Version, tun.PoolMax, bridge.HelloVersionPool)
	}
	work := idleWork(t, srv, tun)
	l, err := srv.OpenLink(testutil.Context(t), "k", bridge.LinkHeader{Network: bridge.NetworkTCP, Target: "t:1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_ = work.SetReadDeadline(time.Now().Add(testutil.Wait))
	if h, err := bridge.ReadLinkHeader(work); err != nil || h.Target != "t:1" || !l.Pooled() {
		t.Fatalf("pooled link %v through an old bridge: header %+v, %v", l.Pooled(), h, err)
	}
}

// An agent at a bridge older still (hello version 2 at most) falls back
// through 3 to 2: no pool, links ride the session.
func TestWorkFallsBackToVersion2(t *testing.T) {
	t.Parallel()
	_, addr := startBridge(t, bridge.Config{Keys: bridge.NewKeySet("k")})
	tun := poolTunnel(t, oldBridge(t, addr, bridge.HelloVersionFlow), "k")
	if tun.Version != bridge.HelloVersionFlow || tun.PoolMax != 0 {
		t.Fatalf("session of hello version %d with pool max %d, want version %d without a pool", tun.Version, tun.PoolMax, bridge.HelloVersionFlow)
	}
}

// A work connection whose token names no session is refused, as a failed
// handshake, and closed.
func TestWorkConnUnknownTokenRefused(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var reasons []string
	_, addr := startBridge(t, bridge.Config{Keys: bridge.NewKeySet("k"), OnRefuse: func(r string) {
		mu.Lock()
		reasons = append(reasons, r)
		mu.Unlock()
	}})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(bridge.AppendWorkHello(nil, string(bytes.Repeat([]byte{7}, bridge.TokenLen)))); err != nil {
		t.Fatal(err)
	}
	if !readsEnd(c, testutil.Wait) {
		t.Fatal("a work connection with an unknown token stayed open")
	}
	testutil.Eventually(t, testutil.Wait, 5*time.Millisecond, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(reasons) > 0 && reasons[0] == bridge.RefusedFailed
	}, "the refusal counted as a failed handshake")
}

// A link takes an idle work connection: header first, the agent's verdict,
// then the link's bytes both ways; it needs no stream. When the session
// ends, the link fails with ErrTunnelLost and the idle connections close.
func TestPooledLinkDiesWithSession(t *testing.T) {
	t.Parallel()
	srv, addr := startBridge(t, bridge.Config{Keys: bridge.NewKeySet("k")})
	tun := poolTunnel(t, addr, "k")
	// One after the other, so which is the oldest is known: the bridge
	// registers connections as their handshakes end, in no fixed order.
	work := idleWork(t, srv, tun)
	idle := dialWork(t, tun)
	testutil.Eventually(t, testutil.Wait, 5*time.Millisecond, func() bool { return srv.PoolIdle("k") == 2 }, "2 idle work connections")
	l, err := srv.OpenLink(testutil.Context(t), "k", bridge.LinkHeader{Network: bridge.NetworkTCP, Target: "t:1"}, []byte("first"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if !l.Pooled() || srv.PoolIdle("k") != 1 {
		t.Fatalf("link pooled %v, %d idle left; want it on the oldest work connection", l.Pooled(), srv.PoolIdle("k"))
	}
	_ = work.SetReadDeadline(time.Now().Add(testutil.Wait))
	h, err := bridge.ReadLinkHeader(work)
	if err != nil || h.Target != "t:1" {
		t.Fatalf("work connection got header %+v, %v", h, err)
	}
	first := make([]byte, 5)
	if _, err := io.ReadFull(work, first); err != nil || string(first) != "first" {
		t.Fatalf("the user's first bytes with the header: %q, %v", first, err)
	}
	if _, err := work.Write(append(bridge.AppendVerdict(nil, bridge.Verdict{OK: true}), "back"...)); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 4)
	if _, err := io.ReadFull(l, got); err != nil || string(got) != "back" {
		t.Fatalf("link read %q, %v", got, err)
	}
	_ = tun.Close()
	_ = l.SetReadDeadline(time.Now().Add(testutil.Wait))
	if _, err := l.Read(got); !errors.Is(err, bridge.ErrTunnelLost) {
		t.Fatalf("pooled link after its session ended: %v, want ErrTunnelLost", err)
	}
	if !readsEnd(idle, testutil.Wait) || !readsEnd(work, testutil.Wait) {
		t.Fatal("work connections outlived their session")
	}
}

// An agent that does not ask for a pool (hello version 2) gets none.
func TestNoPoolForOlderHello(t *testing.T) {
	t.Parallel()
	_, addr := startBridge(t, bridge.Config{Keys: bridge.NewKeySet("k")})
	tun := rawAgent(t, addr, "k", "old", echoLink)
	if tun.PoolMax != 0 {
		t.Fatalf("pool max %d for an agent that asked for none", tun.PoolMax)
	}
	if _, err := tun.DialWork(testutil.Context(t)); err == nil {
		t.Fatal("DialWork without a pool succeeded")
	}
}

func dialWork(t *testing.T, tun *bridge.Tunnel) net.Conn {
	t.Helper()
	c, err := tun.DialWork(testutil.Context(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func FuzzReadPoolReply(f *testing.F) {
	tok := string(bytes.Repeat([]byte{1}, bridge.TokenLen))
	f.Add(bridge.AppendHelloReplyFor(nil, bridge.HelloReply{Status: bridge.StatusOK, Flow: bridge.FlowReverse, PoolMax: 1024, Token: tok}, bridge.HelloVersionPool))
	f.Add(bridge.AppendHelloReplyFor(nil, bridge.HelloReply{Status: bridge.StatusOK, Flow: bridge.FlowForward}, bridge.HelloVersionPool))
	f.Add([]byte{0, 0, 0, 1, 0, 4, 3, 'a', 'b', 'c'})
	f.Add([]byte{0, 0, 0, 1, 0xff, 0xff, 16})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		reply, err := bridge.ReadHelloReplyFor(r, bridge.HelloVersionPool)
		if err != nil {
			if !errors.Is(err, bridge.ErrMalformed) && !errors.Is(err, io.EOF) {
				t.Fatalf("ReadHelloReplyFor(%q): unexpected error kind %v", data, err)
			}
			return
		}
		if reply.Status == bridge.StatusOK && reply.Token != "" && len(reply.Token) != bridge.TokenLen {
			t.Fatalf("token of %d bytes accepted", len(reply.Token))
		}
		b := bridge.AppendHelloReplyFor(nil, reply, bridge.HelloVersionPool)
		if got := consumed(data, r); !bytes.Equal(b, got) {
			t.Fatalf("re-encoded reply differs\n read %q\n  got %q", got, b)
		}
	})
}

// Work connections resume the session's TLS: a cache shared with the
// session's config, tickets from the bridge, and no full handshake per
// pooled connection; a resumed one exchanges keys with X25519 alone (see
// tlsx.ResumedOnly). Without a ticket to resume, a work connection runs
// the full handshake with the default key exchange, the session's.
func TestWorkConnsResumeTLS(t *testing.T) {
	t.Parallel()
	sc, fp, err := tlsx.ServerConfig(1, "", "")
	if err != nil {
		t.Fatal(err)
	}
	_, addr := startBridge(t, bridge.Config{Keys: bridge.NewKeySet("k"), TLS: sc})
	cache := &forgetfulCache{ClientSessionCache: tls.NewLRUClientSessionCache(8)}
	cc := tlsx.ClientConfig(tlsx.ClientOptions{ServerName: "127.0.0.1", Fingerprint: fp})
	cc.ClientSessionCache = cache
	ctx, cancel := context.WithTimeout(context.Background(), testutil.Wait)
	defer cancel()
	tun, err := bridge.Dial(ctx, bridge.DialConfig{Addr: addr, Key: "k", Pool: true, TLS: cc})
	if err != nil {
		t.Fatal(err)
	}
	defer tun.Close()
	state := func() tls.ConnectionState {
		c := dialWork(t, tun)
		tc, ok := c.(*tls.Conn)
		if !ok {
			t.Fatalf("work connection %T, want TLS", c)
		}
		return tc.ConnectionState()
	}
	for i := range 5 {
		if cs := state(); !cs.DidResume || cs.CurveID != tls.X25519 {
			t.Fatalf("work connection %d: resumed %v, key exchange %v; want resumed with X25519", i, cs.DidResume, cs.CurveID)
		}
	}
	cache.forget.Store(true)
	for i := range 5 { // past maxResumeFails: dialled in full at once
		if cs := state(); cs.DidResume || cs.CurveID != tls.X25519MLKEM768 {
			t.Fatalf("work connection %d without a ticket: resumed %v, key exchange %v; want a full handshake with X25519MLKEM768", i, cs.DidResume, cs.CurveID)
		}
	}
}

// forgetfulCache is a session cache that finds nothing once forget is set.
type forgetfulCache struct {
	tls.ClientSessionCache
	forget atomic.Bool
}

func (c *forgetfulCache) Get(key string) (*tls.ClientSessionState, bool) {
	if c.forget.Load() {
		return nil, false
	}
	return c.ClientSessionCache.Get(key)
}
