package bridge

import (
	"net"
	"net/netip"
	"testing"
	"time"
)

func TestGuardCapsHandshakes(t *testing.T) {
	t.Parallel()
	g := newGuard(3, 2)
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	conns := make([]net.Conn, 5)
	for i := range conns {
		c1, c2 := net.Pipe()
		defer c1.Close()
		defer c2.Close()
		conns[i] = c1
	}
	var tickets []*ticket
	for i, want := range []string{"", "", RefusedSourceBusy} {
		tk, victim, reason := g.admit(conns[i], a)
		if (tk != nil) != (want == "") || reason != want || victim != nil {
			t.Fatalf("handshake %d from a: %v %v %q, want %q", i, tk, victim, reason, want)
		}
		if tk != nil {
			tickets = append(tickets, tk)
		}
	}
	tb, victim, _ := g.admit(conns[2], b)
	if tb == nil || victim != nil {
		t.Fatal("b refused with one slot left")
	}
	// Full: the oldest handshake gives way to the new one.
	tb2, victim, reason := g.admit(conns[3], b)
	if tb2 == nil || victim != tickets[0] || victim.conn != conns[0] || reason != "" {
		t.Fatalf("fourth handshake: %v, victim %v, %q; want admitted with the oldest closed", tb2, victim, reason)
	}
	if !g.wasEvicted(tickets[0]) {
		t.Fatal("the oldest handshake is not marked as closed to make room")
	}
	g.release(tickets[0]) // its goroutine ends: the slot was freed already
	if g.active.Len() != 3 || g.sources[a].active != 1 {
		t.Fatalf("after an eviction: %d in progress, a has %d", g.active.Len(), g.sources[a].active)
	}
	select {
	case <-tickets[0].gone:
	default:
		t.Fatal("the closed handshake's wait is not ended")
	}
	// a has a slot again (one of its two was freed).
	if tk, _, reason := g.admit(conns[4], a); tk == nil {
		t.Fatalf("a refused (%s) after its handshake was closed", reason)
	}
	for _, tk := range []*ticket{tickets[1], tb, tb2} {
		g.succeeded(tk)
	}
}

func TestGuardDelaysFailingSource(t *testing.T) {
	t.Parallel()
	now := time.Unix(1000, 0)
	g := newGuard(10, 10)
	g.now = func() time.Time { return now }
	ip := netip.MustParseAddr("192.0.2.7")
	fail := func() time.Duration {
		t.Helper()
		tk, _, reason := g.admit(nil, ip)
		if tk == nil {
			t.Fatalf("refused (%s): a failing source still gets handshakes", reason)
		}
		defer g.release(tk)
		return g.failed(tk)
	}
	for i := range guardFree {
		if d := fail(); d != 0 {
			t.Fatalf("failure %d waits %v: the first %d are free", i+1, d, guardFree)
		}
	}
	var waits []time.Duration
	for range 8 {
		waits = append(waits, fail())
	}
	if waits[0] != guardBase || waits[len(waits)-1] != guardMaxDelay {
		t.Fatalf("waits %v: want from %v up to %v", waits, guardBase, guardMaxDelay)
	}
	for i := 1; i < len(waits); i++ {
		if waits[i] < waits[i-1] {
			t.Fatalf("waits %v do not grow", waits)
		}
	}
	// A success forgets the failures.
	tk, _, _ := g.admit(nil, ip)
	g.succeeded(tk)
	if len(g.sources) != 0 {
		t.Fatalf("%d sources remembered after a success", len(g.sources))
	}
	// Failures older than guardForget are forgotten.
	for range guardFree {
		fail()
	}
	now = now.Add(guardForget + time.Second)
	if d := fail(); d != 0 {
		t.Fatalf("an old failure still counted: wait %v", d)
	}
}

func TestGuardTableBounded(t *testing.T) {
	t.Parallel()
	g := newGuard(10, 10)
	base := netip.MustParseAddr("10.0.0.0").As4()
	for i := range guardSources * 3 {
		b := base
		b[1], b[2], b[3] = byte(i>>16), byte(i>>8), byte(i)
		ip := netip.AddrFrom4(b)
		tk, _, reason := g.admit(nil, ip)
		if tk == nil {
			t.Fatalf("source %d refused: %s", i, reason)
		}
		g.failed(tk)
		g.release(tk)
		if len(g.sources) > guardSources {
			t.Fatalf("%d sources remembered, bound %d", len(g.sources), guardSources)
		}
	}
}

func TestGuardLogsOncePerInterval(t *testing.T) {
	t.Parallel()
	now := time.Unix(1000, 0)
	g := newGuard(10, 10)
	g.now = func() time.Time { return now }
	ip := netip.MustParseAddr("192.0.2.9")
	g.admit(nil, ip)
	lines := 0
	for range 50 {
		if ok, _ := g.logSource(ip); ok {
			lines++
		}
	}
	now = now.Add(guardLogEvery)
	ok, suppressed := g.logSource(ip)
	if lines != 1 || !ok || suppressed != 49 {
		t.Fatalf("%d lines in one interval, then %v with %d suppressed; want 1, then true with 49", lines, ok, suppressed)
	}
}
