package udpserve

import (
	"sync/atomic"
	"testing"

	"github.com/burrowproject/burrow/internal/dgram"
)

// A session's queue holds QueueLen datagrams while its link opens and
// OpenQueueLen once it is open, in order; the instance's queues together
// hold at most QueueBytes; an ended queue takes nothing, and the bytes
// accounted return to zero once every buffer is done.
func TestQueueBounds(t *testing.T) {
	t.Parallel()
	var pool dgram.Pool
	var bytes atomic.Int64
	q := newQueue(&bytes)
	fill := func(want int) {
		t.Helper()
		n := 0
		for q.push(pool.Get(100)) {
			n++
		}
		if n != want {
			t.Fatalf("queue took %d datagrams, want %d", n, want)
		}
	}
	fill(QueueLen)
	q.opened(nil)
	fill(OpenQueueLen - QueueLen)
	batch := q.take(nil)
	if len(batch) != OpenQueueLen || len(q.take(spare(nil))) != 0 {
		t.Fatalf("took %d datagrams, want %d, then none", len(batch), OpenQueueLen)
	}
	select {
	case <-q.ready:
	default:
		t.Fatal("no ready token after pushes")
	}
	for _, b := range batch {
		q.done(b)
	}
	if bytes.Load() != 0 {
		t.Fatalf("%d bytes still accounted after every buffer was done", bytes.Load())
	}
	if s := spare(batch); s != nil {
		t.Fatalf("a burst's slice of cap %d was kept", cap(s))
	}

	// The instance's budget: other sessions' buffers count against it.
	bytes.Store(QueueBytes - 512)
	if !q.push(pool.Get(100)) || q.push(pool.Get(100)) {
		t.Fatal("the instance's queue budget not enforced")
	}
	left := q.close()
	if len(left) != 1 || q.push(pool.Get(1)) {
		t.Fatalf("close returned %d datagrams, want 1, and an ended queue must take nothing", len(left))
	}
	q.done(left[0])
	if bytes.Load() != QueueBytes-512 {
		t.Fatalf("budget accounting off by %d", bytes.Load()-(QueueBytes-512))
	}
}
