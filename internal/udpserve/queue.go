package udpserve

import (
	"sync"
	"sync/atomic"

	"github.com/burrowproject/burrow/internal/dgram"
)

// queue holds one session's datagrams waiting for its link, in arrival
// order. While nothing waits or is being written, the read loop may write
// a datagram on the link itself (direct), and queues it only when the link
// cannot take it at once: no hand-off to the session's goroutine per
// datagram. Its memory follows what waits: an idle session's queue holds no
// buffer and at most a small slice, and the slice of a burst is let go once
// the burst is written.
type queue struct {
	mu      sync.Mutex
	waiting []*[]byte
	open    bool // the link is open: OpenQueueLen may wait, not QueueLen
	closed  bool // the session ended: nothing more is taken
	busy    bool // the session's goroutine is writing what it took
	writer  *dgram.TryWriter
	ready   chan struct{} // a token once something waits
	bytes   *atomic.Int64 // the buffers the instance's queues hold (QueueBytes)
}

// keepCap is the largest batch slice a session keeps between bursts.
const keepCap = 64

func newQueue(bytes *atomic.Int64) *queue {
	return &queue{ready: make(chan struct{}, 1), bytes: bytes}
}

// push appends b; false (b not taken) when the queue or the instance's
// queues are full, or the session has ended.
func (q *queue) push(b *[]byte) bool {
	size := int64(cap(*b))
	q.mu.Lock()
	limit := QueueLen
	if q.open {
		limit = OpenQueueLen
	}
	full := q.closed || len(q.waiting) >= limit
	if !full && q.bytes.Add(size) > QueueBytes {
		q.bytes.Add(-size)
		full = true
	}
	if !full {
		q.waiting = append(q.waiting, b)
	}
	q.mu.Unlock()
	if full {
		return false
	}
	select {
	case q.ready <- struct{}{}:
	default:
	}
	return true
}

// opened lets OpenQueueLen datagrams wait from now on, and the read loop
// write on the link with w (nil: every datagram is queued).
func (q *queue) opened(w *dgram.TryWriter) {
	q.mu.Lock()
	q.open, q.writer = true, w
	q.mu.Unlock()
}

// direct returns the link's TryWriter when a datagram may be written on
// the link at once without overtaking one: the link is open, nothing waits
// and the session's goroutine is not writing. Only the read loop pushes or
// writes directly, so this stays true until it pushes.
func (q *queue) direct() *dgram.TryWriter {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed || q.busy || len(q.waiting) > 0 {
		return nil
	}
	return q.writer
}

// take returns what waits and leaves spare (emptied) in its place; the
// caller hands each buffer to done once it is written or dropped, and
// calls written after the batch.
func (q *queue) take(spare []*[]byte) []*[]byte {
	q.mu.Lock()
	defer q.mu.Unlock()
	batch := q.waiting
	q.waiting = spare[:0]
	q.busy = true
	return batch
}

// written says the batch from take is written.
func (q *queue) written() {
	q.mu.Lock()
	q.busy = false
	q.mu.Unlock()
}

// close ends the queue and returns what waits in it.
func (q *queue) close() []*[]byte {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	batch := q.waiting
	q.waiting = nil
	return batch
}

// done accounts for a buffer taken from the queue.
func (q *queue) done(b *[]byte) { q.bytes.Add(-int64(cap(*b))) }

// spare is batch emptied for reuse, or nil when a burst grew it beyond
// keepCap.
func spare(batch []*[]byte) []*[]byte {
	clear(batch)
	if cap(batch) > keepCap {
		return nil
	}
	return batch[:0]
}
