package bridge

import (
	"encoding/binary"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// Heartbeats on a session's control stream: either end sends a ping every
// HeartbeatInterval, the other answers a pong at once, and the sender keeps
// the round trip, reported as the tunnel's ping. From the bridge they are
// the 4-byte markers below, beside the aborts (smux stream ids grow by two
// per stream, so a session would need two billion streams before an abort
// could look like one); from the agent they are ControlMessages of kind
// ControlPing and ControlPong (see control.go). Heartbeat speaks markers;
// ControlKind.marker and ControlFor translate.
const (
	PingMarker uint32 = 0xFFFF_FFFF
	PongMarker uint32 = 0xFFFF_FFFE
)

// HeartbeatInterval is how often each end measures the round trip
// (NodePass reports every 5 s).
const HeartbeatInterval = 5 * time.Second

// Heartbeat measures a tunnel's round trip over its control stream. Send
// writes one control message; the owner feeds every message it reads to
// Handle and runs Run until the session ends.
type Heartbeat struct {
	send func(msg uint32) error
	sent atomic.Int64 // unix nanoseconds of the ping awaiting its pong; 0 = none
	rtt  atomic.Int64 // last round trip, nanoseconds; 0 = none yet

	mu   sync.Mutex
	pong *confirmRound // for Confirm; nil while none waits
}

// confirmRound is one ping of Confirm and its waiters: done is closed at
// the next pong (ok), or (not ok) when the ping could not be sent or its
// timer fired first. The round's timer belongs to the round, not to the
// caller that sent its ping, so that caller giving up does not end the
// round for the others.
type confirmRound struct {
	done  chan struct{}
	ok    bool
	timer *time.Timer
}

// NewHeartbeat returns a Heartbeat writing its messages with send, which
// must be safe to call from two goroutines.
func NewHeartbeat(send func(msg uint32) error) *Heartbeat { return &Heartbeat{send: send} }

// Handle consumes msg if it is a heartbeat and reports whether it was.
func (h *Heartbeat) Handle(msg uint32) bool {
	switch msg {
	case PingMarker:
		_ = h.send(PongMarker)
	case PongMarker:
		if sent := h.sent.Swap(0); sent != 0 {
			h.rtt.Store(max(time.Now().UnixNano()-sent, 1))
		}
		h.end(nil, true)
	default:
		return false
	}
	return true
}

// Run pings now and then every HeartbeatInterval until done is closed or
// a write fails.
func (h *Heartbeat) Run(done <-chan struct{}) {
	t := time.NewTicker(HeartbeatInterval)
	defer t.Stop()
	for {
		h.sent.Store(time.Now().UnixNano())
		if h.send(PingMarker) != nil {
			return
		}
		select {
		case <-done:
			return
		case <-t.C:
		}
	}
}

// Confirm pings the peer and waits for a pong, its proof that it is alive
// now: false when none comes within timeout or done is closed first.
// Callers that come while a Confirm's ping awaits its pong wait for that
// pong (the next one, as every waiter always has) instead of sending a
// ping each, so many pooled links ending at once cost one round trip; they
// fail with it when it gets no pong within the timeout of the Confirm
// that sent it. A caller whose done closes stops waiting alone.
func (h *Heartbeat) Confirm(done <-chan struct{}, timeout time.Duration) bool {
	h.mu.Lock()
	round := h.pong
	first := round == nil
	if first {
		round = &confirmRound{done: make(chan struct{})}
		round.timer = time.AfterFunc(timeout, func() { h.end(round, false) })
		h.pong = round
	}
	h.mu.Unlock()
	if first {
		h.sent.CompareAndSwap(0, time.Now().UnixNano())
		if h.send(PingMarker) != nil {
			h.end(round, false)
			return false
		}
	}
	select {
	case <-round.done:
		return round.ok
	case <-done:
		return false
	}
}

// end ends the waiting round (only if it is round, when round is set)
// with ok.
func (h *Heartbeat) end(round *confirmRound, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.pong == nil || (round != nil && h.pong != round) {
		return
	}
	if h.pong.timer != nil {
		h.pong.timer.Stop()
	}
	h.pong.ok = ok
	close(h.pong.done)
	h.pong = nil
}

// RTT is the last measured round trip, 0 before the first pong.
func (h *Heartbeat) RTT() time.Duration { return time.Duration(h.rtt.Load()) }

// PingMillis is d in whole milliseconds, rounded up so that a measured
// loopback tunnel reports 1, not 0 (which means "not measured").
func PingMillis(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	return int((d + time.Millisecond - 1) / time.Millisecond)
}

// ReadMarkers reads the bridge's 4-byte control messages (the ready
// marker, aborts, heartbeats) from r, passing each to handle, until r
// fails. The agent's messages the other way are ControlMessages.
func ReadMarkers(r io.Reader, handle func(msg uint32)) {
	var msg [4]byte
	for {
		if _, err := io.ReadFull(r, msg[:]); err != nil {
			return
		}
		handle(binary.BigEndian.Uint32(msg[:]))
	}
}

// heartbeat starts the session's pings on its control stream; the agent's
// answers and pings reach it through readControl. The returned function
// waits for it to end; call it after the session is closed.
func (s *session) heartbeat() (wait func()) {
	hb := NewHeartbeat(s.control)
	s.hb.Store(hb)
	done := make(chan struct{})
	go func() {
		defer close(done)
		hb.Run(s.mux.CloseChan())
	}()
	return func() { <-done }
}

// Ping is the round trip to the agents of key in milliseconds (the
// fastest live session's), 0 while none is measured.
func (s *Server) Ping(key string) int {
	p := s.pools.get(key)
	if p == nil {
		return 0
	}
	var best time.Duration
	if list := p.sessions.Load(); list != nil {
		for _, sess := range *list {
			if hb := sess.hb.Load(); hb != nil && sess.live() {
				if d := hb.RTT(); d > 0 && (best == 0 || d < best) {
					best = d
				}
			}
		}
	}
	return PingMillis(best)
}
