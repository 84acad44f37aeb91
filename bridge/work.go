package bridge

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/burrowproject/burrow/internal/netx"
)

// DefaultPoolMax is the most idle work connections a session keeps when
// Config.PoolMax is 0 (NodePass's max= default).
const DefaultPoolMax = 1024

// workPool is one session's work connections: the idle ones, waiting for
// a link, and the links that ride one.
type workPool struct {
	max     int
	ack     bool  // the session's work hellos are acked (HelloVersionAck)
	version uint8 // the session's hello version: its TLS links are framed from HelloVersionReuse (see frames.go)

	mu       sync.Mutex
	idle     []net.Conn // oldest first
	reserved int        // room held for connections whose ack is being written
	inUse    map[*Link]struct{}
	closed   bool
}

func newWorkPool(max int, version uint8) *workPool {
	return &workPool{max: max, ack: version >= HelloVersionAck, version: version, inUse: make(map[*Link]struct{})}
}

// put adds an idle work connection; false (the caller closes it) when the
// pool is full or its session ended.
func (p *workPool) put(c net.Conn) bool {
	if !p.reserve() {
		return false
	}
	return p.commit(c)
}

// reserve holds room for one more idle connection; false when the pool
// is full or its session ended. commit or cancel releases it.
func (p *workPool) reserve() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || len(p.idle)+p.reserved >= p.max {
		return false
	}
	p.reserved++
	return true
}

// commit turns a reservation into an idle connection; false (the caller
// closes it) when the session ended meanwhile.
func (p *workPool) commit(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.reserved--
	if p.closed {
		return false
	}
	p.idle = append(p.idle, c)
	return true
}

// cancel gives a reservation up.
func (p *workPool) cancel() {
	p.mu.Lock()
	p.reserved--
	p.mu.Unlock()
}

// take returns an idle work connection that is still open, or nil. Those
// the agent closed meanwhile are dropped on the way.
func (p *workPool) take() net.Conn {
	for {
		p.mu.Lock()
		if p.closed || len(p.idle) == 0 {
			p.mu.Unlock()
			return nil
		}
		c := p.idle[0]
		p.idle[0] = nil
		p.idle = p.idle[1:]
		p.mu.Unlock()
		if idleOpen(c) {
			return c
		}
		_ = c.Close()
	}
}

// use records a link that rides a work connection; false once the session
// ended.
func (p *workPool) use(l *Link) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.inUse[l] = struct{}{}
	return true
}

// done forgets a link.
func (p *workPool) done(l *Link) {
	p.mu.Lock()
	delete(p.inUse, l)
	p.mu.Unlock()
}

// isClosed reports whether the pool ended with its session.
func (p *workPool) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

// size is how many idle work connections the pool holds.
func (p *workPool) size() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.idle)
}

// close ends the pool with its session: idle connections are closed, the
// links on work connections reset (their reads fail with ErrTunnelLost,
// as a stream's on a lost session do).
func (p *workPool) close() {
	p.mu.Lock()
	p.closed = true
	idle, inUse := p.idle, p.inUse
	p.idle, p.inUse = nil, map[*Link]struct{}{}
	p.mu.Unlock()
	for _, c := range idle {
		_ = c.Close()
	}
	for l := range inUse {
		_ = netx.Reset(l.Conn)
	}
}

// openPooled opens a link on an idle work connection of the session and
// writes the link header hdr and the user's first bytes on it; nil when
// the pool is empty or the write fails (the caller falls back to a
// stream). On a reusable connection the first bytes go in frames and the
// link hands the connection back to the pool once it ended cleanly (see
// frames.go).
func (s *session) openPooled(ctx context.Context, h LinkHeader, hdr, preamble []byte) *Link {
	if s.work == nil {
		return nil
	}
	for range 3 { // a connection that fails its first write is dead: try the next
		c := s.work.take()
		if c == nil {
			return nil
		}
		l := &Link{Conn: c, pooled: true, sess: s, target: h.Target}
		first := append(hdr, preamble...) // hdr has room for the preamble and its frames: one write
		if Framed(s.work.version, c) {
			fc := NewFrameConn(c)
			fc.Reuse = s.work.reuse
			l.Conn, l.frames = fc, fc
			first = AppendFrames(hdr, preamble)
		}
		d, ok := ctx.Deadline()
		if !ok {
			d = time.Now().Add(abortTimeout)
		}
		_ = c.SetWriteDeadline(d)
		_, err := c.Write(first)
		_ = c.SetWriteDeadline(time.Time{})
		if err != nil {
			_ = c.Close()
			continue
		}
		if !s.work.use(l) {
			_ = netx.Reset(c)
			return nil
		}
		return l
	}
	return nil
}

// reuse puts back a work connection whose link ended cleanly, or closes
// it when the pool is full or its session ended.
func (p *workPool) reuse(c net.Conn) {
	if !p.put(c) {
		_ = c.Close()
	}
}

// newToken returns a fresh session token.
func newToken() string {
	var b [TokenLen]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return string(b[:])
}

// addToken makes sess's token valid for work connections.
func (s *Server) addToken(sess *session) {
	s.mu.Lock()
	s.tokens[sess.token] = sess
	s.mu.Unlock()
}

func (s *Server) dropToken(sess *session) {
	s.mu.Lock()
	delete(s.tokens, sess.token)
	s.mu.Unlock()
}

// serveWork pools a work connection for the session its token names. The
// handshake succeeded once the token matched (its slot is free before the
// ack goes out, so the agent's next dial finds it free); a connection the
// pool has no room for is closed. In a session of HelloVersionAck the
// agent hears which, before the connection joins the pool: once there, a
// link may write its header on it at any moment.
func (s *Server) serveWork(conn net.Conn, hello Hello, t *ticket) error {
	s.mu.Lock()
	sess := s.tokens[hello.Token]
	s.mu.Unlock()
	if sess == nil || sess.work == nil {
		return fmt.Errorf("work connection with an unknown session token")
	}
	s.guard.succeeded(t)
	p := sess.work
	if !p.ack {
		if !p.put(unpeek(conn)) {
			_ = conn.Close() // over max=, or the session just ended
		}
		return nil
	}
	if !p.reserve() {
		if !p.isClosed() {
			_ = s.writeAck(conn, WorkPoolFull)
		}
		_ = conn.Close()
		return nil
	}
	if err := s.writeAck(conn, WorkPooled); err != nil {
		p.cancel()
		_ = conn.Close()
		return nil
	}
	if !p.commit(unpeek(conn)) {
		_ = conn.Close() // the session just ended
	}
	return nil
}

// writeAck answers a work hello, bounded by the handshake timeout.
func (s *Server) writeAck(conn net.Conn, a WorkAck) error {
	_ = conn.SetWriteDeadline(time.Now().Add(s.cfg.HandshakeTimeout))
	_, err := conn.Write([]byte{byte(a)})
	_ = conn.SetWriteDeadline(time.Time{})
	return err
}

// unpeek returns the TCP connection under a plain connection whose peeked
// bytes were all read, so links on it can be spliced.
func unpeek(c net.Conn) net.Conn {
	if p, ok := c.(*peekedConn); ok && p.r.Buffered() == 0 {
		return p.Conn
	}
	return c
}
