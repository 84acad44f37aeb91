package udp_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/burrowproject/burrow/internal/testutil"
	"github.com/burrowproject/burrow/internal/testutil/tunneltest"
	"github.com/burrowproject/burrow/internal/udpserve"
	"github.com/burrowproject/burrow/plugins/sdk"
	"github.com/burrowproject/burrow/plugins/udp"
	"github.com/burrowproject/burrow/server/flow"
	"github.com/burrowproject/burrow/server/host"
)

func peerFrom(t *testing.T, src, addr string) *net.UDPConn {
	t.Helper()
	raddr, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.DialUDP("udp", &net.UDPAddr{IP: net.ParseIP(src)}, raddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(testutil.Wait))
	return c
}

// noReply sends msg and expects nothing back.
func noReply(t *testing.T, c *net.UDPConn, msg string) {
	t.Helper()
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if n, err := c.Read(make([]byte, 64)); err == nil {
		t.Fatalf("reply of %d bytes from a sender beyond the limits", n)
	}
	_ = c.SetDeadline(time.Now().Add(testutil.Wait))
}

func TestSessionLimits(t *testing.T) {
	t.Parallel()
	h := tunneltest.Start(t, "k").Host()
	hd := udp.New()
	var d testutil.Counts
	countDrops(h, &d)
	m := flow.NewMeter(0, 0)
	addr := startInstance(t, h, hd, "lim", map[string]string{"persource": "3", "sessions": "4", "idle": "2s"}, []string{testutil.ServeUDPEcho(t)}, m)

	for range 3 {
		exchange(t, peerFrom(t, "127.0.0.1", addr), []byte("a"))
	}
	late := peerFrom(t, "127.0.0.1", addr)
	noReply(t, late, "a4")
	if d.Get(udp.DropSourceLimit) != 1 {
		t.Fatalf("%d source_limit drops, want 1", d.Get(udp.DropSourceLimit))
	}
	exchange(t, peerFrom(t, "127.0.0.2", addr), []byte("b"))
	noReply(t, peerFrom(t, "127.0.0.2", addr), "b2")
	if d.Get(udp.DropSessionLimit) != 1 || m.Snapshot().UDPs != 4 {
		t.Fatalf("%d session_limit drops with %d sessions, want 1 and 4 sessions", d.Get(udp.DropSessionLimit), m.Snapshot().UDPs)
	}
	// Sessions ended by idle free their places.
	testutil.Eventually(t, 3*testutil.Wait, 20*time.Millisecond, func() bool { return m.Snapshot().UDPs == 0 }, "idle sessions reaped")
	exchange(t, late, []byte("now there is room"))
}

func TestLimitParams(t *testing.T) {
	t.Parallel()
	hd := udp.New()
	for _, v := range []string{"0", "-3", "x", "1.5"} {
		for _, name := range []string{"sessions", "persource"} {
			err := hd.Validate(context.Background(), sdk.InstanceSpec{Listen: ":1", Params: map[string]string{name: v}})
			if err == nil {
				t.Errorf("%s=%q accepted", name, v)
			}
		}
	}
	if err := hd.Validate(context.Background(), sdk.InstanceSpec{Listen: ":1", Params: map[string]string{"sessions": "10", "persource": "2"}}); err != nil {
		t.Fatal(err)
	}
}

// gatedHost holds every Dial until open is closed: a tunnel that is slow
// to open links. It is no sdk.Forwarder (the handler serves the sessions
// itself, with the same code as the host: internal/udpserve), so every
// Dial goes through the gate.
type gatedHost struct {
	sdk.Host    // the real host
	sdk.Counter // the real host's: it counts the drops
	open        chan struct{}
}

func (g *gatedHost) Dial(ctx context.Context, req sdk.LinkRequest) (net.Conn, error) {
	select {
	case <-g.open:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return g.Host.Dial(ctx, req)
}

// While links are slow to open, the read loop keeps reading: every new
// sender gets a session at once, each queues up to QueueLen datagrams and
// drops (and counts) the rest, and all that was queued is delivered once
// the links open.
func TestReadLoopNeverWaitsOnSetUp(t *testing.T) {
	t.Parallel()
	h := tunneltest.Start(t, "k").Host()
	gh := &gatedHost{Host: h, Counter: h, open: make(chan struct{})}
	hd := udp.New()
	var d testutil.Counts
	countDrops(h, &d)
	m := flow.NewMeter(0, 0)
	spec := sdk.InstanceSpec{ID: "gate", Scheme: "udp", Listen: "127.0.0.1:0", Targets: []string{testutil.ServeUDPEcho(t)}}
	if err := h.Add(host.Instance{Spec: spec, AgentKey: "k", Meter: m, UDP: true}, nil); err != nil {
		t.Fatal(err)
	}
	if err := hd.Start(context.Background(), spec, gh); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testutil.Wait)
		defer cancel()
		_ = hd.Stop(ctx, "gate")
		h.Remove("gate", 0)
	})
	addr := h.Addr("gate").String()

	const senders, extra = 50, 4
	peers := make([]*net.UDPConn, senders)
	for i := range peers {
		peers[i] = peerFrom(t, "127.0.0.1", addr)
		if _, err := peers[i].Write([]byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	busy := peerFrom(t, "127.0.0.1", addr)
	for i := range udpserve.QueueLen + extra {
		if _, err := busy.Write([]byte{'q', byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	testutil.Eventually(t, testutil.Wait, 5*time.Millisecond, func() bool { return d.Get(udp.DropQueueFull) == extra },
		"datagrams beyond a waiting session's queue dropped while no link has opened")
	close(gh.open)
	buf := make([]byte, 64)
	for i, p := range peers {
		if n, err := p.Read(buf); err != nil || n != 1 || buf[0] != byte(i) {
			t.Fatalf("sender %d: reply %q, %v", i, buf[:n], err)
		}
	}
	for i := range udpserve.QueueLen {
		if n, err := busy.Read(buf); err != nil || n != 2 || buf[1] != byte(i) {
			t.Fatalf("queued datagram %d: reply %q, %v", i, buf[:n], err)
		}
	}
}

// countDrops counts the datagrams h's udp instances drop in d, by reason.
func countDrops(h *host.Host, d *testutil.Counts) {
	h.OnCount(func(name string, n uint64) {
		if reason, ok := strings.CutPrefix(name, udp.DroppedCounter); ok {
			for range n {
				d.Add(reason)
			}
		}
	})
}
