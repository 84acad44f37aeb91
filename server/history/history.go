// Package history keeps each instance's recent traffic in the master's
// memory for the dashboard's charts: the last hour in 5-second buckets and
// the last 24 hours in 1-minute buckets. Each instance has two fixed-size
// rings (720 and 1440 buckets, about 70 KiB together), so memory per
// instance is bounded whatever the instance does, and whatever interval
// samples arrive at: samples that fall into the same bucket are added up.
// Nothing is persisted; a master restart starts the history afresh.
package history

import (
	"sync"
	"time"
)

// Window selects one of the two series.
type Window string

// The windows kept for every instance.
const (
	Hour Window = "1h"  // 5-second buckets
	Day  Window = "24h" // 1-minute buckets
)

// resolution of each window: bucket width and number of buckets.
var resolution = map[Window]struct {
	step time.Duration
	n    int
}{
	Hour: {5 * time.Second, 720},
	Day:  {time.Minute, 1440},
}

// ParseWindow returns the window named s ("" is Hour).
func ParseWindow(s string) (Window, bool) {
	switch Window(s) {
	case "", Hour:
		return Hour, true
	case Day:
		return Day, true
	}
	return "", false
}

// Step is the bucket width of w.
func (w Window) Step() time.Duration { return resolution[w].step }

// Point is one bucket: the bytes users sent (Rx) and received (Tx) through
// the instance during it, TCP and UDP together, and the connections and
// UDP sessions open at its last sample. T is the bucket's start, in Unix
// seconds.
type Point struct {
	T     int64 `json:"t"`
	Rx    int64 `json:"rx"`
	Tx    int64 `json:"tx"`
	Conns int   `json:"conns"`
}

// Totals is one reading of an instance: cumulative byte counters (they may
// drop to a lower value after a reset) and the current connection gauge.
type Totals struct {
	Rx, Tx int64
	Conns  int
}

// Set holds the history of every instance. It is safe for concurrent use.
type Set struct {
	mu   sync.Mutex
	byID map[string]*track
}

// track is one instance's history.
type track struct {
	last   Totals
	primed bool // last holds a reading
	rings  map[Window]*ring
}

// New returns an empty Set.
func New() *Set { return &Set{byID: make(map[string]*track)} }

// Record adds a reading of instance id taken at now. The first reading of
// an instance only sets its baseline; each later one adds the bytes moved
// since the previous reading to the buckets now falls in. A counter that
// went down (a reset) counts from zero.
func (s *Set) Record(id string, now time.Time, t Totals) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tr := s.byID[id]
	if tr == nil {
		tr = &track{rings: make(map[Window]*ring, len(resolution))}
		for w, r := range resolution {
			tr.rings[w] = newRing(r.n, r.step)
		}
		s.byID[id] = tr
	}
	if !tr.primed {
		tr.last, tr.primed = t, true
		return
	}
	p := Point{Rx: delta(tr.last.Rx, t.Rx), Tx: delta(tr.last.Tx, t.Tx), Conns: t.Conns}
	tr.last = t
	for _, r := range tr.rings {
		r.add(now, p)
	}
}

func delta(prev, cur int64) int64 {
	if cur < prev {
		return cur
	}
	return cur - prev
}

// Forget drops the history of id (the instance was deleted).
func (s *Set) Forget(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.byID, id)
}

// Points returns the buckets of id in window w that lie within the window
// before now, oldest first; buckets without readings are left out. An
// instance without readings has none.
func (s *Set) Points(id string, w Window, now time.Time) []Point {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []Point{}
	tr := s.byID[id]
	if tr == nil {
		return out
	}
	r := tr.rings[w]
	if r == nil {
		return out
	}
	since := now.Add(-time.Duration(r.len()) * r.step).Unix()
	for i := range r.n {
		if p := r.at(i); p.T > since {
			out = append(out, p)
		}
	}
	return out
}

// ring is a fixed-capacity series of buckets, oldest first.
type ring struct {
	buf  []Point
	head int // index of the oldest bucket
	n    int // buckets in use
	step time.Duration
}

func newRing(capacity int, step time.Duration) *ring {
	return &ring{buf: make([]Point, capacity), step: step}
}

func (r *ring) len() int { return len(r.buf) }

func (r *ring) at(i int) Point { return r.buf[(r.head+i)%len(r.buf)] }

// add adds p to the bucket now falls in, opening a new bucket (and
// dropping the oldest when full) if the newest one is earlier.
func (r *ring) add(now time.Time, p Point) {
	start := now.Truncate(r.step).Unix()
	p.T = start
	if r.n > 0 {
		last := &r.buf[(r.head+r.n-1)%len(r.buf)]
		if last.T >= start { // same bucket (or a clock step back): add to it
			last.Rx += p.Rx
			last.Tx += p.Tx
			last.Conns = p.Conns
			return
		}
	}
	if r.n < len(r.buf) {
		r.buf[(r.head+r.n)%len(r.buf)] = p
		r.n++
		return
	}
	r.buf[r.head] = p
	r.head = (r.head + 1) % len(r.buf)
}
