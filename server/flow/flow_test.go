package flow_test

import (
	"bytes"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/burrowproject/burrow/internal/testutil"
	"github.com/burrowproject/burrow/server/flow"
)

func TestMain(m *testing.M) { testutil.VerifyNoLeaks(m) }

func TestAcquireSlotsAcrossNetworks(t *testing.T) {
	t.Parallel()
	m := flow.NewMeter(3, 0)
	r1, ok1 := m.Acquire("tcp")
	r2, ok2 := m.Acquire("udp")
	r3, ok3 := m.Acquire("tcp")
	if !ok1 || !ok2 || !ok3 {
		t.Fatal("the first three acquires of three slots failed")
	}
	if _, ok := m.Acquire("udp"); ok {
		t.Fatal("a fourth udp acquire succeeded with 3 slots")
	}
	if _, ok := m.Acquire("tcp"); ok {
		t.Fatal("a fourth tcp acquire succeeded with 3 slots")
	}
	if s := m.Snapshot(); s.TCPs != 2 || s.UDPs != 1 {
		t.Fatalf("gauges %+v, want 2 tcp 1 udp", s)
	}
	r2()
	r2() // idempotent
	r2()
	if s := m.Snapshot(); s.TCPs != 2 || s.UDPs != 0 {
		t.Fatalf("after a triple release: %+v", s)
	}
	r4, ok := m.Acquire("tcp")
	if !ok {
		t.Fatal("acquire after a release failed")
	}
	if _, ok := m.Acquire("udp"); ok {
		t.Fatal("acquire beyond slots after a release")
	}
	r1()
	r3()
	r4()
	if s := m.Snapshot(); s.TCPs != 0 || s.UDPs != 0 {
		t.Fatalf("after releasing all: %+v", s)
	}

	// 0 slots: unlimited.
	u := flow.NewMeter(0, 0)
	for i := range 1000 {
		if _, ok := u.Acquire("tcp"); !ok {
			t.Fatalf("unlimited meter refused acquire %d", i)
		}
	}
}

// Concurrent acquires must never hand out more slots than there are.
func TestAcquireConcurrentNeverExceedsSlots(t *testing.T) {
	t.Parallel()
	const slots, workers, rounds = 2, 16, 2000
	for round := range rounds {
		m := flow.NewMeter(slots, 0)
		var granted atomic.Int32
		var start, wg sync.WaitGroup
		start.Add(1)
		for i := range workers {
			wg.Add(1)
			network := "tcp"
			if i%2 == 1 {
				network = "udp"
			}
			go func() {
				defer wg.Done()
				start.Wait()
				if _, ok := m.Acquire(network); ok {
					granted.Add(1)
				}
			}()
		}
		start.Done()
		wg.Wait()
		if g := granted.Load(); g > slots {
			t.Fatalf("round %d: %d concurrent acquires granted with %d slots", round, g, slots)
		}
	}
}

func TestFlows(t *testing.T) {
	t.Parallel()
	m := flow.NewMeter(0, 0)
	in, out := m.Flows("tcp")
	in.Count.Add(10)
	out.Count.Add(20)
	uin, uout := m.Flows("udp")
	uin.Count.Add(1)
	uout.Count.Add(2)
	if s := m.Snapshot(); s.TCPRx != 10 || s.TCPTx != 20 || s.UDPRx != 1 || s.UDPTx != 2 {
		t.Fatalf("snapshot %+v", s)
	}
	if in.Limit != nil || out.Limit != nil {
		t.Fatal("unlimited meter has limiters")
	}
	lm := flow.NewMeter(0, 8)
	lin, lout := lm.Flows("tcp")
	if lin.Limit == nil || lout.Limit == nil || lin.Limit == lout.Limit {
		t.Fatal("rate meter needs one limiter per direction")
	}
	if got := float64(lin.Limit.Limit()); got != 1e6 {
		t.Fatalf("8 Mbit/s limiter allows %v bytes/s, want 1e6", got)
	}
	uin2, _ := lm.Flows("udp")
	if uin2.Limit != lin.Limit {
		t.Fatal("tcp and udp of one instance must share the upload limit")
	}
}

func pair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ch := make(chan net.Conn, 1)
	go func() { c, _ := ln.Accept(); ch <- c }()
	a, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b := <-ch
	if b == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { _ = a.Close(); _ = b.Close() })
	_ = a.SetDeadline(time.Now().Add(5 * time.Second))
	_ = b.SetDeadline(time.Now().Add(5 * time.Second))
	return a, b
}

func TestWrapLinkCounts(t *testing.T) {
	t.Parallel()
	m := flow.NewMeter(1, 0)
	release, ok := m.Acquire("udp")
	if !ok {
		t.Fatal("acquire")
	}
	link, agent := pair(t)
	c := m.WrapLink(link, "udp", release)
	if _, err := c.Write([]byte("to agent")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 8)
	if _, err := io.ReadFull(agent, buf); err != nil {
		t.Fatal(err)
	}
	if _, err := agent.Write([]byte("back")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, buf[:4]); err != nil {
		t.Fatal(err)
	}
	if s := m.Snapshot(); s.UDPRx != 8 || s.UDPTx != 4 || s.TCPRx != 0 || s.TCPTx != 0 || s.UDPs != 1 {
		t.Fatalf("snapshot %+v", s)
	}
	// CloseWrite half-closes: the agent sees EOF and can still answer.
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if rest, err := io.ReadAll(agent); err != nil || len(rest) != 0 {
		t.Fatalf("agent after CloseWrite: %q, %v", rest, err)
	}
	if _, err := agent.Write([]byte("late")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, buf[:4]); err != nil || string(buf[:4]) != "late" {
		t.Fatalf("read after CloseWrite: %q, %v", buf[:4], err)
	}
	if s := m.Snapshot(); s.UDPs != 1 {
		t.Fatal("CloseWrite released the slot")
	}
	_ = c.Close()
	_ = c.Close()
	if s := m.Snapshot(); s.UDPs != 0 || s.UDPTx != 8 {
		t.Fatalf("after Close: %+v", s)
	}
	if _, ok := m.Acquire("tcp"); !ok {
		t.Fatal("slot not released by Close")
	}
}

func TestWrapLinkRate(t *testing.T) {
	t.Parallel()
	m := flow.NewMeter(0, 8) // 1 MB/s each way, burst 100 kB
	link, agent := pair(t)
	c := m.WrapLink(link, "tcp", nil)
	data := bytes.Repeat([]byte("r"), 400_000)
	go func() { _, _ = c.Write(data); _ = c.CloseWrite() }()
	start := time.Now()
	got, err := io.ReadAll(agent)
	el := time.Since(start)
	if err != nil || len(got) != len(data) {
		t.Fatalf("read %d, %v", len(got), err)
	}
	// (400 kB - 100 kB burst) at 1 MB/s = 0.3 s.
	if el < 200*time.Millisecond || el > 3*time.Second {
		t.Fatalf("400 kB at 8 Mbit/s took %v, want about 0.3s", el)
	}
	if m.Snapshot().TCPRx != int64(len(data)) {
		t.Fatalf("counted %d", m.Snapshot().TCPRx)
	}
}
