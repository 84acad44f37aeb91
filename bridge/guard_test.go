package bridge

import (
	"net/netip"
	"testing"
	"time"
)

func TestGuardCapsHandshakes(t *testing.T) {
	t.Parallel()
	g := newGuard(3, 2)
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	for i, want := range []string{"", "", RefusedSourceBusy} {
		if ok, reason := g.admit(a); ok != (want == "") || reason != want {
			t.Fatalf("handshake %d from a: %v %q, want %q", i, ok, reason, want)
		}
	}
	if ok, _ := g.admit(b); !ok {
		t.Fatal("b refused with one slot left")
	}
	if ok, reason := g.admit(b); ok || reason != RefusedBusy {
		t.Fatalf("fourth handshake: %v %q, want busy", ok, reason)
	}
	g.done(a, false)
	if ok, _ := g.admit(b); !ok {
		t.Fatal("b refused after a slot was freed")
	}
}

func TestGuardBacksOffFailingSource(t *testing.T) {
	t.Parallel()
	now := time.Unix(1000, 0)
	g := newGuard(10, 10)
	g.now = func() time.Time { return now }
	ip := netip.MustParseAddr("192.0.2.7")
	fail := func() {
		t.Helper()
		if ok, reason := g.admit(ip); !ok {
			t.Fatalf("refused (%s) outside a wait", reason)
		}
		g.done(ip, true)
	}
	for range guardFree {
		fail() // free failures: no wait
	}
	fail()
	var waits []time.Duration
	for range 9 {
		start := now
		for {
			if ok, reason := g.admit(ip); ok {
				g.done(ip, true)
				break
			} else if reason != RefusedBackoff {
				t.Fatalf("refused for %q, want backoff", reason)
			}
			now = now.Add(100 * time.Millisecond)
		}
		waits = append(waits, now.Sub(start))
	}
	for i := 1; i < len(waits); i++ {
		if waits[i] < waits[i-1] || waits[i] > guardMaxDelay+time.Second {
			t.Fatalf("waits %v do not grow up to %v", waits, guardMaxDelay)
		}
	}
	if waits[0] > 2*guardBase || waits[len(waits)-1] < guardMaxDelay {
		t.Fatalf("waits %v: want from about %v to %v", waits, guardBase, guardMaxDelay)
	}
	// A success forgets the failures.
	now = now.Add(guardMaxDelay)
	if ok, _ := g.admit(ip); !ok {
		t.Fatal("refused after the longest wait")
	}
	g.done(ip, false)
	if len(g.sources) != 0 {
		t.Fatalf("%d sources remembered after a success", len(g.sources))
	}
	// Failures older than guardForget are forgotten.
	for range guardFree {
		fail()
	}
	now = now.Add(guardForget + time.Second)
	fail()
	if ok, _ := g.admit(ip); !ok {
		t.Fatal("an old failure still counted")
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
		if ok, reason := g.admit(ip); !ok {
			t.Fatalf("source %d refused: %s", i, reason)
		}
		g.done(ip, true)
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
	g.admit(ip)
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
