package egress

import (
	"context"
	"errors"
	"math"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeNet records dials and fails those to addresses marked down.
type fakeNet struct {
	mu    sync.Mutex
	down  map[string]bool
	delay map[string]time.Duration // added to the fake clock per dial
	clock *time.Time
	dials []string
}

func (f *fakeNet) dial(_ context.Context, _, target string, addr netip.AddrPort) (net.Conn, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dials = append(f.dials, target)
	if f.clock != nil {
		*f.clock = f.clock.Add(f.delay[target])
	}
	if f.down[target] || f.down[addr.String()] {
		return nil, errors.New("connection refused")
	}
	a, b := net.Pipe()
	_ = b.Close()
	return a, nil
}

func (f *fakeNet) taken() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	d := f.dials
	f.dials = nil
	return d
}

func newTestGroup(t *testing.T, s Strategy, targets ...string) (*Group, *time.Time) {
	t.Helper()
	g, err := NewGroup(Config{Targets: targets, Strategy: s})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1000, 0)
	g.now = func() time.Time { return now }
	return g, &now
}

func dialN(t *testing.T, g *Group, f *fakeNet, n int) []string {
	t.Helper()
	var got []string
	for range n {
		target, c, err := g.Dial(context.Background(), "tcp", f.dial)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		_ = c.Close()
		got = append(got, target)
	}
	return got
}

func TestRoundRobinRotatesAndFailsOver(t *testing.T) {
	g, _ := newTestGroup(t, RoundRobin, "10.0.0.1:1", "10.0.0.2:1", "10.0.0.3:1")
	f := &fakeNet{}
	if got := strings.Join(dialN(t, g, f, 4), " "); got != "10.0.0.1:1 10.0.0.2:1 10.0.0.3:1 10.0.0.1:1" {
		t.Fatalf("rotation: %s", got)
	}
	f.taken()
	f.down = map[string]bool{"10.0.0.2:1": true}
	// Every connection succeeds: the dead one is skipped to the next at once.
	got := dialN(t, g, f, 3)
	for _, target := range got {
		if target == "10.0.0.2:1" {
			t.Fatalf("connected to the dead target: %v", got)
		}
	}
	// After two failures in a row it backs off: no more dials to it.
	dialN(t, g, f, 9)
	dead := 0
	for _, d := range f.taken() {
		if d == "10.0.0.2:1" {
			dead++
		}
	}
	if dead != downAfter {
		t.Fatalf("the dead target was dialled %d times in 12 connections, want %d (then back-off)", dead, downAfter)
	}
}

func TestBackoffEndsAndTargetReturns(t *testing.T) {
	g, now := newTestGroup(t, PrimaryBackup, "10.0.0.1:1", "10.0.0.2:1")
	f := &fakeNet{down: map[string]bool{"10.0.0.1:1": true}}
	if got := dialN(t, g, f, 3); got[0] != "10.0.0.2:1" || got[2] != "10.0.0.2:1" {
		t.Fatalf("primary down: %v", got)
	}
	f.taken()
	dialN(t, g, f, 2)
	if d := f.taken(); len(d) != 2 || d[0] != "10.0.0.2:1" {
		t.Fatalf("the backing-off primary was dialled: %v", d)
	}
	f.down = nil
	*now = now.Add(maxBackoff + time.Second)
	if got := dialN(t, g, f, 2); got[0] != "10.0.0.1:1" || got[1] != "10.0.0.1:1" {
		t.Fatalf("primary back: %v, want traffic on it again", got)
	}
}

func TestAllDownStillTried(t *testing.T) {
	g, _ := newTestGroup(t, RoundRobin, "10.0.0.1:1", "10.0.0.2:1")
	f := &fakeNet{down: map[string]bool{"10.0.0.1:1": true, "10.0.0.2:1": true}}
	for range 3 {
		if _, _, err := g.Dial(context.Background(), "tcp", f.dial); err == nil || !strings.Contains(err.Error(), "all 2 targets failed") {
			t.Fatalf("err = %v", err)
		}
	}
	f.down = nil
	if _, _, err := g.Dial(context.Background(), "tcp", f.dial); err != nil {
		t.Fatalf("targets all in back-off must still be tried: %v", err)
	}
}

func TestLowestLatencySticksToFastest(t *testing.T) {
	g, now := newTestGroup(t, LowestLatency, "10.0.0.1:1", "10.0.0.2:1", "10.0.0.3:1")
	f := &fakeNet{clock: now, delay: map[string]time.Duration{"10.0.0.1:1": 30 * time.Millisecond, "10.0.0.2:1": 5 * time.Millisecond, "10.0.0.3:1": 20 * time.Millisecond}}
	dialN(t, g, f, 3) // each measured once
	got := dialN(t, g, f, 5)
	for _, target := range got {
		if target != "10.0.0.2:1" {
			t.Fatalf("lowest latency chose %v", got)
		}
	}
	f.down = map[string]bool{"10.0.0.2:1": true}
	if got := dialN(t, g, f, 1); got[0] != "10.0.0.3:1" {
		t.Fatalf("with the fastest down, got %v, want the next fastest", got)
	}
}

func TestRoundRobinCursorWraps(t *testing.T) {
	g, _ := newTestGroup(t, RoundRobin, "10.0.0.1:1", "10.0.0.2:1", "10.0.0.3:1")
	g.next.Store(math.MaxUint32 - 1)
	f := &fakeNet{}
	dialN(t, g, f, 5) // would index out of range if the cursor went negative
}

func TestResolverCachesAndReresolvesOnFailure(t *testing.T) {
	var lookups int
	addr := netip.MustParseAddr("10.0.0.1")
	r := NewResolver(time.Minute, func(context.Context, string) ([]netip.Addr, error) {
		lookups++
		return []netip.Addr{addr}, nil
	})
	now := time.Unix(1000, 0)
	r.now = func() time.Time { return now }
	f := &fakeNet{}
	for range 3 {
		c, err := r.Dial(context.Background(), "tcp", "svc.test:80", f.dial)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.Close()
	}
	if lookups != 1 {
		t.Fatalf("%d lookups within the TTL, want 1", lookups)
	}
	now = now.Add(time.Minute + time.Second)
	if _, err := r.Dial(context.Background(), "tcp", "svc.test:80", f.dial); err != nil || lookups != 2 {
		t.Fatalf("after the TTL: err %v, %d lookups, want 2", err, lookups)
	}
	// The name moves and the old address dies: the failed dial resolves
	// afresh and reaches the new address in the same call.
	f.down = map[string]bool{"10.0.0.1:80": true}
	addr = netip.MustParseAddr("10.0.0.2")
	c, err := r.Dial(context.Background(), "tcp", "svc.test:80", f.dial)
	if err != nil || lookups != 3 {
		t.Fatalf("after a move: err %v, %d lookups, want 3", err, lookups)
	}
	_ = c.Close()
	// TTL 0: every dial resolves.
	r0 := NewResolver(0, func(context.Context, string) ([]netip.Addr, error) { lookups++; return []netip.Addr{addr}, nil })
	lookups = 0
	for range 2 {
		if _, err := r0.Dial(context.Background(), "tcp", "svc.test:80", (&fakeNet{}).dial); err != nil {
			t.Fatal(err)
		}
	}
	if lookups != 2 {
		t.Fatalf("dns=0: %d lookups, want 2", lookups)
	}
}

func TestResolverBounded(t *testing.T) {
	r := NewResolver(time.Hour, func(context.Context, string) ([]netip.Addr, error) {
		return []netip.Addr{netip.MustParseAddr("10.0.0.1")}, nil
	})
	for i := range maxCached + 50 {
		if _, _, err := r.Lookup(context.Background(), "h"+strings.Repeat("x", i%7)+string(rune('a'+i%26))+time.Duration(i).String()); err != nil {
			t.Fatal(err)
		}
	}
	if len(r.cache) > maxCached {
		t.Fatalf("%d cached names, bound %d", len(r.cache), maxCached)
	}
}
