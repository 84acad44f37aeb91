// Package inspect is the master's HTTP inspector: the exchanges that http
// instances with inspect= record (see sdk.Exchange), kept in a bounded
// ring per instance in the master's memory, listed newest first, streamed
// live to subscribers, and replayed through the instance (replay.go).
//
// Memory: each instance keeps at most PerInstance records (default 200)
// and at most PerInstanceBytes of them (default 4 MiB, counting headers
// and bodies), the oldest going first. A record's headers are capped at
// 16 KiB per side and its bodies at 16 KiB each (sdk.MaxInspectHeaders,
// sdk.MaxInspectBody), enforced here again whatever the handler sent, so
// a record takes at most about 65 KiB. A ring goes with its instance
// (Forget); nothing is persisted.
package inspect

import (
	"strings"
	"sync"
	"time"

	"github.com/burrowproject/burrow/plugins/sdk"
)

// Defaults of Config.
const (
	DefaultPerInstance      = 200
	DefaultPerInstanceBytes = 4 << 20
	subBuffer               = 256 // summaries queued per live subscriber before it is dropped
)

// Config bounds a Set.
type Config struct {
	PerInstance      int // records kept per instance; 0 = DefaultPerInstance
	PerInstanceBytes int // bytes of records kept per instance; 0 = DefaultPerInstanceBytes
	// RecordWait is how long a replay waits for its own record; 0 = 5 s.
	RecordWait time.Duration
}

// Set holds the rings of every inspecting instance. It is safe for
// concurrent use; Record never blocks.
type Set struct {
	cfg Config

	mu      sync.Mutex
	rings   map[string]*ring
	subs    map[*Subscription]struct{}
	pending map[string]*pending // replays awaiting their record, by nonce
	replays chan struct{}       // semaphore: replays in flight
}

// New returns an empty Set.
func New(cfg Config) *Set {
	if cfg.PerInstance <= 0 {
		cfg.PerInstance = DefaultPerInstance
	}
	if cfg.PerInstanceBytes <= 0 {
		cfg.PerInstanceBytes = DefaultPerInstanceBytes
	}
	if cfg.RecordWait <= 0 {
		cfg.RecordWait = recordWait
	}
	return &Set{cfg: cfg, rings: map[string]*ring{}, subs: map[*Subscription]struct{}{}, pending: map[string]*pending{}, replays: make(chan struct{}, maxReplays)}
}

// ring is one instance's records, oldest first, in a fixed circular buffer.
type ring struct {
	buf     []*entry
	start   int // index of the oldest
	n       int
	bytes   int
	dropped uint64 // records the handler could not deliver
	total   uint64 // records ever added
}

func (r *ring) at(i int) *entry { return r.buf[(r.start+i)%len(r.buf)] }

func (r *ring) push(e *entry, maxBytes int) {
	for r.n > 0 && (r.n == len(r.buf) || r.bytes+e.size > maxBytes) {
		old := r.at(0)
		r.buf[r.start] = nil
		r.start = (r.start + 1) % len(r.buf)
		r.n--
		r.bytes -= old.size
	}
	r.buf[(r.start+r.n)%len(r.buf)] = e
	r.n++
	r.bytes += e.size
	r.total++
}

func (s *Set) ringLocked(id string) *ring {
	r := s.rings[id]
	if r == nil {
		r = &ring{buf: make([]*entry, s.cfg.PerInstance)}
		s.rings[id] = r
	}
	return r
}

// Record adds ex to its instance's ring (implements host.RecordSink). A
// replay the master sent is matched by its nonce and marked.
func (s *Set) Record(ex *sdk.Exchange) {
	if ex == nil || ex.Instance == "" || ex.ID == "" {
		return
	}
	e := &entry{ex: ex}
	e.size = sanitize(ex)
	s.mu.Lock()
	var done *pending
	if nonce := ex.ReqHeader.Get(sdk.ReplayHeader); nonce != "" {
		if p := s.pending[nonce]; p != nil && p.instance == ex.Instance {
			delete(s.pending, nonce)
			ex.ReqHeader.Del(sdk.ReplayHeader)
			e.replayOf, done = p.of, p
		}
	}
	s.ringLocked(ex.Instance).push(e, s.cfg.PerInstanceBytes)
	sum := e.summary()
	for sub := range s.subs {
		if sub.instance != ex.Instance {
			continue
		}
		select {
		case sub.ch <- sum:
		default: // too slow: dropped, as the events bus does
			delete(s.subs, sub)
			close(sub.ch)
		}
	}
	s.mu.Unlock()
	if done != nil {
		done.ch <- e.record()
	}
}

// Dropped counts records an instance's handler could not deliver.
func (s *Set) Dropped(instance string, n uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ringLocked(instance).dropped += n
}

// Forget drops an instance's ring and ends its live subscribers.
func (s *Set) Forget(instance string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.rings, instance)
	for sub := range s.subs {
		if sub.instance == instance {
			delete(s.subs, sub)
			close(sub.ch)
		}
	}
}

// Stats describe one instance's ring.
type Stats struct {
	Kept    int    `json:"kept"`    // records in the ring
	Total   uint64 `json:"total"`   // records ever added
	Dropped uint64 `json:"dropped"` // records the handler dropped before they reached the master
	Bytes   int    `json:"bytes"`   // about the memory they take
}

// List returns up to limit of an instance's records, newest first
// (limit <= 0: all).
func (s *Set) List(instance string, limit int) ([]Summary, Stats) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []Summary{}
	r := s.rings[instance]
	if r == nil {
		return out, Stats{}
	}
	for i := r.n - 1; i >= 0 && (limit <= 0 || len(out) < limit); i-- {
		out = append(out, r.at(i).summary())
	}
	return out, Stats{Kept: r.n, Total: r.total, Dropped: r.dropped, Bytes: r.bytes}
}

// find returns the entry rid of an instance, or nil.
func (s *Set) find(instance, rid string) *entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.rings[instance]
	if r == nil {
		return nil
	}
	for i := r.n - 1; i >= 0; i-- {
		if e := r.at(i); strings.EqualFold(e.ex.ID, rid) {
			return e
		}
	}
	return nil
}

// Get returns one record in full.
func (s *Set) Get(instance, rid string) (Record, bool) {
	e := s.find(instance, rid)
	if e == nil {
		return Record{}, false
	}
	return e.record(), true
}

// Subscription is a live stream of one instance's new records.
type Subscription struct {
	set      *Set
	instance string
	ch       chan Summary
}

// Subscribe streams the summaries of an instance's new records. The
// channel is closed when the subscriber is too slow, the ring is
// forgotten, or Close is called.
func (s *Set) Subscribe(instance string) *Subscription {
	sub := &Subscription{set: s, instance: instance, ch: make(chan Summary, subBuffer)}
	s.mu.Lock()
	s.subs[sub] = struct{}{}
	s.mu.Unlock()
	return sub
}

// C is the stream.
func (sub *Subscription) C() <-chan Summary { return sub.ch }

// Close ends the subscription; it is idempotent.
func (sub *Subscription) Close() {
	s := sub.set
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.subs[sub]; ok {
		delete(s.subs, sub)
		close(sub.ch)
	}
}
