package testutil

import (
	"net"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

func TestMain(m *testing.M) { VerifyNoLeaks(m) }

func TestFreePortIsBindable(t *testing.T) {
	t.Parallel()
	port := FreePort(t)
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatalf("listen on free port %d: %v", port, err)
	}
	_ = l.Close()
}

func TestFreeUDPPortIsBindable(t *testing.T) {
	t.Parallel()
	port := FreeUDPPort(t)
	c, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatalf("listen on free udp port %d: %v", port, err)
	}
	_ = c.Close()
}

func TestPoll(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	if !Poll(time.Second, time.Millisecond, func() bool { return calls.Add(1) >= 3 }) {
		t.Fatal("Poll gave up on a condition that turns true on the third call")
	}
	if got := calls.Load(); got != 3 {
		t.Fatalf("cond called %d times, want 3", got)
	}

	calls.Store(0)
	start := time.Now()
	if Poll(50*time.Millisecond, 10*time.Millisecond, func() bool { calls.Add(1); return false }) {
		t.Fatal("Poll reported success for a condition that is never true")
	}
	if el := time.Since(start); el > time.Second {
		t.Fatalf("Poll took %v with a 50ms timeout", el)
	}
	if got := calls.Load(); got > 7 {
		t.Fatalf("cond called %d times with timeout/interval = 5", got)
	}
}

func TestEventually(t *testing.T) {
	t.Parallel()
	var n atomic.Int32
	Eventually(t, time.Second, time.Millisecond, func() bool { return n.Add(1) > 1 }, "counter passes 1")
}
