package bridge

import (
	"container/list"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"
)

// Defaults of the bridge's bounds on unauthenticated peers.
const (
	DefaultMaxHandshakes    = 128 // handshakes in progress at once
	DefaultSourceHandshakes = 16  // of them from one source IP
)

// Reasons the OnRefuse hook is given.
const (
	RefusedBusy       = "busy"        // the oldest of MaxHandshakes handshakes in progress, closed to make room
	RefusedSourceBusy = "source_busy" // SourceHandshakes from this IP were in progress
	RefusedFailed     = "failed"      // the handshake itself failed (timeout, bad hello or TLS, unknown key)
	RefusedDelayed    = "delayed"     // of those, answered only after the source's wait
)

// Bounds of the per-source table.
const (
	guardSources  = 10000                  // source IPs remembered at most
	guardForget   = 10 * time.Minute       // failures older than this are forgotten
	guardFree     = 3                      // failures a source may have before its refusals wait
	guardBase     = 250 * time.Millisecond // first wait; doubles with each further failure
	guardMaxDelay = 3 * time.Second        // longest wait: below an agent's 5 s handshake timeout, so it still hears why
	guardLogEvery = 10 * time.Second       // at most one log line per source (and one for refusals) this often
)

// guard bounds what peers that have not authenticated cost the bridge:
// handshakes in progress, in all and per source IP, and a growing wait
// before a source whose handshakes keep failing hears its refusal. Only
// the refusal waits, holding one of the source's slots: a guesser is slowed
// down, while an agent with the right key behind the same address (a NAT)
// is served at once. When max handshakes are in progress, the oldest is
// closed to make room for the new one: strangers who open connections and
// say nothing churn among themselves, while an agent, whose handshake
// takes a round trip or two, gets through. It remembers at most
// guardSources sources: entries are forgotten guardForget after their last
// failure, and a full table drops the idle ones first.
type guard struct {
	max, perSource int
	now            func() time.Time

	mu      sync.Mutex
	active  list.List // *ticket, oldest first
	sources map[netip.Addr]*source
	refused int       // connections refused since the last refusal log line
	logged  time.Time // when that line was last written
}

// ticket is one handshake in progress.
type ticket struct {
	ip      netip.Addr
	conn    io.Closer // closed to make room
	elem    *list.Element
	evicted bool          // closed to make room; its slot is already free
	gone    chan struct{} // closed with evicted
	exited  chan struct{} // closed when the handshake's goroutine is done with it
}

// source is what the guard knows about one IP.
type source struct {
	active     int       // handshakes in progress
	fails      int       // failures since the last success, within guardForget
	last       time.Time // last failure
	logged     time.Time // last log line about this source
	suppressed int       // lines not written since
}

func newGuard(max, perSource int) *guard {
	return &guard{max: max, perSource: perSource, now: time.Now, sources: make(map[netip.Addr]*source)}
}

// sourceIP is the IP a connection comes from; connections without one
// (pipes in tests) share the zero address.
func sourceIP(c net.Conn) netip.Addr { return addrIP(c.RemoteAddr()) }

// addrIP is the IP of a TCP or UDP (QUIC) address, else the zero address.
func addrIP(a net.Addr) netip.Addr {
	switch a := a.(type) {
	case *net.TCPAddr:
		return a.AddrPort().Addr().Unmap()
	case *net.UDPAddr:
		return a.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}

// admit reserves a handshake for c from ip, or says why not. When every
// slot is taken it frees the oldest: victim, whose connection the caller
// closes.
func (g *guard) admit(c io.Closer, ip netip.Addr) (t, victim *ticket, reason string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	s := g.sources[ip]
	if s != nil && s.active >= g.perSource {
		return nil, nil, RefusedSourceBusy
	}
	if g.active.Len() >= g.max {
		old := g.active.Remove(g.active.Front()).(*ticket)
		old.evicted = true
		close(old.gone)
		if vs := g.sources[old.ip]; vs != nil {
			vs.active--
		}
		victim = old
	}
	if s == nil {
		if len(g.sources) >= guardSources {
			g.pruneLocked(now)
		}
		s = &source{}
		g.sources[ip] = s
	}
	s.active++
	t = &ticket{ip: ip, conn: c, gone: make(chan struct{}), exited: make(chan struct{})}
	t.elem = g.active.PushBack(t)
	return t, victim, ""
}

// failed counts a failed handshake toward its source's wait and returns
// how long its refusal waits (0 while the source has failures to spare).
// Call release after the wait.
func (g *guard) failed(t *ticket) time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.sources[t.ip]
	if s == nil {
		return 0
	}
	now := g.now()
	if now.Sub(s.last) > guardForget {
		s.fails = 0
	}
	s.fails++
	s.last = now
	if s.fails <= guardFree {
		return 0
	}
	return min(guardBase<<min(s.fails-guardFree-1, 16), guardMaxDelay)
}

// succeeded forgets the source's failures and ends the handshake.
func (g *guard) succeeded(t *ticket) {
	g.mu.Lock()
	if s := g.sources[t.ip]; s != nil {
		s.fails = 0
	}
	g.mu.Unlock()
	g.release(t)
}

// release ends a handshake admit reserved, unless it was closed to make
// room (its slot was freed then).
func (g *guard) release(t *ticket) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if t.evicted {
		return
	}
	g.active.Remove(t.elem)
	s := g.sources[t.ip]
	if s == nil {
		return
	}
	s.active--
	if s.active == 0 && s.fails == 0 && s.suppressed == 0 {
		delete(g.sources, t.ip)
	}
}

// inProgress is the number of handshakes in progress.
func (g *guard) inProgress() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.active.Len()
}

// wasEvicted reports whether t was closed to make room.
func (g *guard) wasEvicted(t *ticket) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return t.evicted
}

// logSource reports whether a line about ip may be logged now, and how
// many were suppressed since the last one. Call it during a handshake
// admit reserved.
func (g *guard) logSource(ip netip.Addr) (ok bool, suppressed int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.sources[ip]
	if s == nil {
		return true, 0
	}
	now := g.now()
	if now.Sub(s.logged) < guardLogEvery {
		s.suppressed++
		return false, 0
	}
	suppressed, s.suppressed, s.logged = s.suppressed, 0, now
	return true, suppressed
}

// logRefused counts a refused connection and reports whether a line may be
// logged now, with the count since the last one.
func (g *guard) logRefused() (ok bool, count int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.refused++
	now := g.now()
	if now.Sub(g.logged) < guardLogEvery {
		return false, 0
	}
	count, g.refused, g.logged = g.refused, 0, now
	return true, count
}

// pruneLocked makes room: it forgets sources with no handshake in progress
// whose failures are old, then, if the table is still full, any source with
// no handshake in progress. Sources with one stay (at most max of them).
func (g *guard) pruneLocked(now time.Time) {
	for ip, s := range g.sources {
		if s.active == 0 && now.Sub(s.last) > guardForget {
			delete(g.sources, ip)
		}
	}
	for ip, s := range g.sources {
		if len(g.sources) < guardSources*3/4 {
			return
		}
		if s.active == 0 {
			delete(g.sources, ip)
		}
	}
}
