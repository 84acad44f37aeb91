package udp

import (
	"sync"
	"sync/atomic"
)

// queue holds one session's datagrams waiting for its link, in arrival
// order. Its memory follows what waits: an idle session's queue holds no
// buffer and at most a small slice, and the slice of a burst is let go once
// the burst is written.
type queue struct {
	mu      sync.Mutex
	waiting []*[]byte
	open    bool          // the link is open: OpenQueueLen may wait, not QueueLen
	closed  bool          // the session ended: nothing more is taken
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

// opened lets OpenQueueLen datagrams wait from now on.
func (q *queue) opened() {
	q.mu.Lock()
	q.open = true
	q.mu.Unlock()
}

// take returns what waits and leaves spare (emptied) in its place; the
// caller hands each buffer to done once it is written or dropped.
func (q *queue) take(spare []*[]byte) []*[]byte {
	q.mu.Lock()
	defer q.mu.Unlock()
	batch := q.waiting
	q.waiting = spare[:0]
	return batch
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
