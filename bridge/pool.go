package bridge

import (
	"encoding/binary"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xtaci/smux"

	"github.com/burrowproject/burrow/internal/roundrobin"
)

// session is one connected agent.
type session struct {
	id      uint64
	ctrl    *smux.Stream // the control stream: aborts go out on it
	ctrlMu  sync.Mutex
	mux     *smux.Session
	conn    *tunnelConn
	key     string
	keyID   string
	name    string
	version string
	remote  string
	since   time.Time
	hb      atomic.Pointer[Heartbeat] // nil until the session is ready
	links   sync.Map                  // stream id -> *Link, while open: the agent may reset it
	token   string                    // names the session to its work connections; "" = no pool
	work    *workPool                 // nil without a pool
}

// abortTimeout bounds the write of one message on the control stream.
const abortTimeout = time.Second

// readyMarker is the first message on a control stream: the session is
// pooled and links may come. Stream ids are never 0, so it is no abort.
const readyMarker = 0

// ready tells the agent its session is pooled.
func (s *session) ready() error { return s.control(readyMarker) }

// abort tells the agent that the bridge closed stream id before the agent
// ended it, so the agent drops the link's target connection at once.
// Best effort: if the session is gone, so is the link.
func (s *session) abort(id uint32) { _ = s.control(id) }

// control writes one message on the control stream.
func (s *session) control(id uint32) error {
	var msg [4]byte
	binary.BigEndian.PutUint32(msg[:], id)
	s.ctrlMu.Lock()
	defer s.ctrlMu.Unlock()
	_ = s.ctrl.SetWriteDeadline(time.Now().Add(abortTimeout))
	_, err := s.ctrl.Write(msg[:])
	return err
}

// readControl reads the agent's control messages until the control stream
// ends: a reset names a link whose target failed; pings and pongs are the
// agent's half of the heartbeat. A malformed message ends the session,
// since the stream can no longer be trusted.
func (s *session) readControl(log *slog.Logger) {
	for {
		m, err := ReadControl(s.ctrl)
		switch {
		case errors.Is(err, ErrUnknownControl):
			continue
		case err != nil:
			if errors.Is(err, ErrMalformed) || errors.Is(err, ErrVersion) {
				log.Warn("bad control message from agent: closing its session", "err", err)
				_ = s.mux.Close()
			}
			return
		}
		if m.Kind != ControlReset {
			if hb := s.hb.Load(); hb != nil {
				hb.Handle(m.Kind.marker())
			}
			continue
		}
		if v, ok := s.links.Load(m.Stream); ok {
			log.Debug("link reset by agent", "stream", m.Stream, "reason", m.Reason)
			v.(*Link).resetByAgent(m.Reason)
			continue
		}
		s.abort(m.Stream) // the link is gone here already: release the agent's end
	}
}

// confirmTimeout bounds how long a pooled link's end waits for the
// agent's proof of life (see confirmAlive).
const confirmTimeout = 5 * time.Second

// confirmAlive reports whether the agent is alive now, by a heartbeat
// round trip on the control stream. A pooled link's work connection ends
// with a FIN both when the agent ends the link and when the agent
// process dies (its kernel closes its sockets), so that FIN is an orderly
// end only if the agent still answers.
func (s *session) confirmAlive() bool {
	if !s.live() {
		return false
	}
	hb := s.hb.Load()
	if hb == nil {
		return true // no heartbeat yet: nothing better to go by than live
	}
	return hb.Confirm(s.mux.CloseChan(), confirmTimeout)
}

// ping is the session's last heartbeat round trip in ms, 0 before the
// first.
func (s *session) ping() int {
	if hb := s.hb.Load(); hb != nil {
		return PingMillis(hb.RTT())
	}
	return 0
}

// live reports whether the session can carry new links.
func (s *session) live() bool { return !s.mux.IsClosed() && s.conn.alive() }

// pool is the live sessions of one key. Its slice is replaced, never
// edited, so pick reads it without a lock.
type pool struct {
	sessions atomic.Pointer[[]*session]
	next     roundrobin.Counter
}

// pick returns a live session, round-robin, or nil.
func (p *pool) pick() *session {
	list := p.sessions.Load()
	if list == nil {
		return nil
	}
	n := len(*list)
	start := p.next.Next(n)
	for i := range n {
		s := (*list)[(start+i)%n]
		if s.live() {
			return s
		}
	}
	return nil
}

// pools maps keys to pools.
type pools struct {
	mu sync.Mutex
	m  map[string]*pool
}

func newPools() *pools { return &pools{m: make(map[string]*pool)} }

func (ps *pools) get(key string) *pool {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return ps.m[key]
}

func (ps *pools) add(s *session) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	p := ps.m[s.key]
	if p == nil {
		p = &pool{}
		ps.m[s.key] = p
	}
	var list []*session
	if old := p.sessions.Load(); old != nil {
		list = append(list, *old...)
	}
	list = append(list, s)
	p.sessions.Store(&list)
}

func (ps *pools) remove(s *session) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	p := ps.m[s.key]
	if p == nil {
		return
	}
	old := p.sessions.Load()
	list := make([]*session, 0, len(*old))
	for _, x := range *old {
		if x != s {
			list = append(list, x)
		}
	}
	if len(list) == 0 {
		delete(ps.m, s.key)
		return
	}
	p.sessions.Store(&list)
}

// take removes and returns every session of key.
func (ps *pools) take(key string) []*session {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	p := ps.m[key]
	delete(ps.m, key)
	if p == nil || p.sessions.Load() == nil {
		return nil
	}
	return *p.sessions.Load()
}

func (ps *pools) all() []*session {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	var out []*session
	for _, p := range ps.m {
		if l := p.sessions.Load(); l != nil {
			out = append(out, *l...)
		}
	}
	return out
}

// AgentInfo describes a connected agent session; its JSON is what the
// master's API shows (GET <root>/agents). KeyID names the agent's pool
// without revealing the key.
type AgentInfo struct {
	ID          string    `json:"id"` // session id, unique in this bridge
	KeyID       string    `json:"pool"`
	Name        string    `json:"name"` // the agent's host name
	Version     string    `json:"version"`
	RemoteAddr  string    `json:"addr"`
	Since       time.Time `json:"connected"`
	OpenStreams int       `json:"streams"`   // links
	PoolIdle    int       `json:"pool_idle"` // idle work connections (see workwire.go)
	BytesIn     int64     `json:"bytes_in"`  // tunnel bytes received from the agent
	BytesOut    int64     `json:"bytes_out"` // tunnel bytes sent to it
	PingMillis  int       `json:"ping"`      // the session's last heartbeat round trip in ms; 0 = not measured yet
}

// Agents lists the connected agents.
func (s *Server) Agents() []AgentInfo {
	var out []AgentInfo
	for _, sess := range s.pools.all() {
		out = append(out, AgentInfo{
			ID: strconv.FormatUint(sess.id, 10), KeyID: sess.keyID, Name: sess.name, Version: sess.version, RemoteAddr: sess.remote,
			Since: sess.since, OpenStreams: max(sess.mux.NumStreams()-1, 0), // less the control stream
			PoolIdle: sess.poolIdle(),
			BytesIn:  sess.conn.in.Load(), BytesOut: sess.conn.out.Load(), PingMillis: sess.ping(),
		})
	}
	return out
}

// Online reports whether at least one agent of key is connected.
func (s *Server) Online(key string) bool {
	p := s.pools.get(key)
	return p != nil && p.pick() != nil
}

// Sessions reports how many agents of key are connected.
func (s *Server) Sessions(key string) int {
	return s.sum(key, func(sess *session) int {
		if sess.live() {
			return 1
		}
		return 0
	})
}

// PoolIdle reports how many idle work connections the agents of key hold
// on this bridge.
func (s *Server) PoolIdle(key string) int { return s.sum(key, (*session).poolIdle) }

// sum adds up f over the sessions of key.
func (s *Server) sum(key string, f func(*session) int) int {
	p := s.pools.get(key)
	if p == nil {
		return 0
	}
	n := 0
	if list := p.sessions.Load(); list != nil {
		for _, sess := range *list {
			n += f(sess)
		}
	}
	return n
}

// poolIdle is how many idle work connections the session holds.
func (s *session) poolIdle() int {
	if s.work == nil {
		return 0
	}
	return s.work.size()
}
