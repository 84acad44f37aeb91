// Package bridge is Burrow's tunnel: the server end that agents dial, the
// versioned wire protocol both ends speak, and Open, which turns a request
// for a target behind an agent into a net.Conn.
//
// Each agent connection carries one smux session. Agents that connect with
// the same key form a pool; links are spread across a pool's live sessions
// round-robin, and a session that dies fails its streams at once.
package bridge

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xtaci/smux"

	"github.com/burrowproject/burrow/internal/netx"
	"github.com/burrowproject/burrow/internal/tlsx"
)

// DefaultHandshakeTimeout bounds how long an agent may take to connect,
// finish TLS and say hello.
const DefaultHandshakeTimeout = 5 * time.Second

// Config configures a Server.
type Config struct {
	Keys Keys // which agent keys are accepted; required
	// TLS serves agents that open TLS first (the first byte of every
	// connection is peeked). Nil: plain TCP only.
	TLS *tls.Config
	// AllowPlain also accepts plain hellos when TLS is set (NodePass's
	// server:// at tls=0, a master with bridgetls=0); otherwise they are
	// refused with StatusTLSRequired.
	AllowPlain       bool
	Logger           *slog.Logger  // nil = discard
	Mux              *smux.Config  // nil = MuxConfig()
	HandshakeTimeout time.Duration // 0 = DefaultHandshakeTimeout
	// Flow is the direction this bridge's tunnels carry users: reverse
	// (the default) or forward, where agents listen for users and open
	// links that Inbound serves.
	Flow    Flow
	Inbound InboundFunc
	// MaxHandshakes bounds the handshakes in progress at once (beyond it
	// the oldest is closed to make room), and SourceHandshakes those from
	// one source IP (beyond it a new connection is closed at once).
	// 0 = DefaultMaxHandshakes, DefaultSourceHandshakes.
	MaxHandshakes, SourceHandshakes int
	// PoolMax is the most idle work connections one agent session keeps
	// (max=; sent to the agent, which keeps min(min=, PoolMax)); 0 =
	// DefaultPoolMax, <0 = none (links ride the session's streams).
	PoolMax int
	// OnRefuse, if set, is told the reason (a Refused constant) of every
	// connection refused before it authenticated, e.g. to feed a metric.
	OnRefuse func(reason string)
	// Carrier is what carries agents' connections (type=): Serve takes a
	// TCP listener for TCP, WebSocket and HTTP/2, ServeQUIC a UDP socket.
	// Path is the WebSocket carrier's HTTP path ("" = "/"). Agents that
	// arrive on another carrier are refused with StatusCarrierMismatch.
	Carrier CarrierType
	Path    string
}

// Server is the bridge: it accepts agents and opens links through them.
type Server struct {
	cfg   Config
	log   *slog.Logger
	pools *pools
	guard *guard

	nextID atomic.Uint64 // session ids
	mu     sync.Mutex
	conns  map[net.Conn]struct{} // every agent connection, until it ends
	tokens map[string]*session   // session tokens -> sessions, for work connections
	closed bool
	done   chan struct{} // closed by Close
	wg     sync.WaitGroup
}

// NewServer returns a bridge with cfg.
func NewServer(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Mux == nil {
		cfg.Mux = MuxConfig()
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if cfg.MaxHandshakes <= 0 {
		cfg.MaxHandshakes = DefaultMaxHandshakes
	}
	if cfg.SourceHandshakes <= 0 {
		cfg.SourceHandshakes = DefaultSourceHandshakes
	}
	switch {
	case cfg.PoolMax == 0:
		cfg.PoolMax = DefaultPoolMax
	case cfg.PoolMax < 0:
		cfg.PoolMax = 0
	}
	cfg.PoolMax = min(cfg.PoolMax, MaxPool)
	if cfg.TLS != nil {
		cfg.TLS = cfg.TLS.Clone()
		cfg.TLS.DynamicRecordSizingDisabled = true // bulk tunnels: full records from the first byte
	}
	return &Server{
		cfg: cfg, log: cfg.Logger, pools: newPools(), conns: make(map[net.Conn]struct{}), tokens: make(map[string]*session), done: make(chan struct{}),
		guard: newGuard(cfg.MaxHandshakes, cfg.SourceHandshakes),
	}
}

// Serve accepts agents on ln until ln is closed or ctx ends. It closes ln
// when ctx ends. Agents already connected stay until Close. On a
// WebSocket or HTTP/2 bridge, ln takes the carrier's connections; on a
// QUIC bridge (served by ServeQUIC) it refuses TCP agents with the reason.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.log.Info("bridge listening", "addr", ln.Addr().String(), "tls", s.cfg.TLS != nil, "carrier", s.cfg.Carrier.String())
	switch s.cfg.Carrier {
	case CarrierWebSocket, CarrierHTTP2:
		return s.serveFront(ctx, ln)
	}
	netx.AcceptLoop(ctx, ln, s.log, s.accept)
	return nil
}

// accept admits a connection (or a carrier's stream) to a handshake and
// serves it; a refused one is closed at once.
func (s *Server) accept(c net.Conn) {
	t, victim, reason := s.guard.admit(c, sourceIP(c))
	if t == nil {
		_ = c.Close() // at once: a refused stranger costs no goroutine
		s.refused(reason)
		return
	}
	if victim != nil {
		s.refused(RefusedBusy)
		s.evict(victim)
	}
	if !s.track(c) {
		s.guard.release(t)
		close(t.exited)
		_ = c.Close()
		return
	}
	go func() {
		defer s.wg.Done()
		defer close(t.exited)
		s.serveConn(c, t)
	}()
}

// evictWait bounds how long the accept loop waits for the goroutine of a
// handshake closed to make room to end.
const evictWait = 100 * time.Millisecond

// evict closes the connection of a handshake that makes room for a new one
// and waits (briefly) for its goroutine to end, so a flood of connections
// is held back in the kernel's backlog rather than piling up goroutines
// here.
func (s *Server) evict(victim *ticket) {
	_ = victim.conn.Close() // its handshake fails at once
	timer := time.NewTimer(evictWait)
	defer timer.Stop()
	select {
	case <-victim.exited:
	case <-timer.C:
	}
}

// refused counts a connection closed before its handshake and logs, at
// most once per interval, how many were.
func (s *Server) refused(reason string) {
	if s.cfg.OnRefuse != nil {
		s.cfg.OnRefuse(reason)
	}
	if ok, n := s.guard.logRefused(); ok {
		s.log.Warn("bridge refusing connections before their handshake", "last_reason", reason, "refused", n,
			"max_handshakes", s.cfg.MaxHandshakes, "per_source", s.cfg.SourceHandshakes)
	}
}

// track records an agent connection and counts its goroutine in wg; false
// once the server is closed. Both happen under mu so Close cannot miss one.
func (s *Server) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	return true
}

func (s *Server) untrack(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// serveConn runs the handshake on c and, when it succeeds, serves an smux
// session over c in the key's pool until it ends.
func (s *Server) serveConn(raw net.Conn, t *ticket) {
	defer s.untrack(raw)
	remote := raw.RemoteAddr().String()
	conn, hello, flow, token, err := s.handshake(raw)
	if err == nil && hello.Version == WorkVersion {
		err = s.serveWork(conn, hello, t)
		if err == nil {
			return
		}
	}
	if err != nil {
		s.fail(raw, t, err)
		return
	}
	s.guard.succeeded(t)
	if cc, ok := raw.(*carriedConn); ok && cc.sh != nil {
		cc.sh.authenticated()
	}
	log := s.log.With("remote", remote, "key_id", KeyID(hello.Key))
	counted := newTunnelConn(conn)
	mux, err := smux.Client(counted, s.cfg.Mux)
	if err != nil {
		log.Error("start tunnel session", "err", err)
		_ = conn.Close()
		return
	}
	ctrl, err := openControl(mux)
	if err != nil {
		log.Warn("open control stream", "err", err)
		_ = mux.Close()
		return
	}
	sess := &session{
		id: s.nextID.Add(1), ctrl: ctrl, mux: mux, conn: counted, key: hello.Key, keyID: KeyID(hello.Key),
		name: hello.AgentName, version: hello.AgentVersion, remote: remote, since: time.Now(), token: token,
	}
	if token != "" {
		sess.work = newWorkPool(s.cfg.PoolMax, hello.Version)
		s.addToken(sess)
		defer sess.work.close()
		defer s.dropToken(sess)
	}
	if !s.addSession(sess) {
		_ = mux.Close()
		return
	}
	if err := sess.ready(); err != nil {
		log.Warn("confirm session to agent", "err", err)
		s.pools.remove(sess)
		_ = mux.Close()
		return
	}
	log.Info("agent connected", "name", hello.AgentName, "version", hello.AgentVersion)
	heartbeatDone, inboundDone := sess.heartbeat(), s.serveInbound(sess, flow, log)
	ctrlDone := make(chan struct{})
	go func() {
		defer close(ctrlDone)
		sess.readControl(log)
	}()
	select {
	case <-mux.CloseChan():
	case <-counted.dead:
	}
	s.pools.remove(sess)
	_ = mux.Close()
	<-ctrlDone
	heartbeatDone()
	inboundDone()
	log.Info("agent disconnected", "name", hello.AgentName)
}

// fail ends a failed handshake: counted, logged at most once per source
// per interval, and, after the source's wait, answered with the refusal
// when there is one (a *refusal), then closed. The wait ends early when
// the connection is closed to make room or the server closes.
func (s *Server) fail(raw net.Conn, t *ticket, err error) {
	defer s.guard.release(t)
	defer raw.Close()
	if s.guard.wasEvicted(t) {
		return // closed to make room: counted then
	}
	delay := s.guard.failed(t)
	if s.cfg.OnRefuse != nil {
		s.cfg.OnRefuse(RefusedFailed)
		if delay > 0 {
			s.cfg.OnRefuse(RefusedDelayed)
		}
	}
	if ok, suppressed := s.guard.logSource(t.ip); ok {
		s.log.Warn("agent handshake failed", "remote", raw.RemoteAddr().String(), "err", err, "suppressed", suppressed, "delay", delay)
	}
	var r *refusal
	if !errors.As(err, &r) {
		return
	}
	if delay > 0 {
		timer := time.NewTimer(delay)
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-t.gone:
			return
		case <-s.done:
			return
		}
	}
	_ = raw.SetWriteDeadline(time.Now().Add(time.Second))
	if r.http {
		_, _ = r.conn.Write(httpRefusal(r.msg))
		return
	}
	_, _ = r.conn.Write(AppendHelloReplyFor(nil, HelloReply{Status: r.status, Message: r.msg, Carrier: s.cfg.Carrier, Path: s.cfg.Path}, ProtocolVersion))
}

// handshake runs TLS (when the agent opens it) and the hello exchange on
// raw within the handshake timeout, and returns the connection to serve the
// session on and the flow both ends agreed on. A refusal the agent is to
// hear is a *refusal, not yet sent.
//
// A work connection's hello (WorkVersion) gets no reply here: it is
// returned for serveWork, which acks it in sessions that want one. A pool hello's reply carries a fresh session token, also
// returned.
func (s *Server) handshake(raw net.Conn) (net.Conn, Hello, Flow, string, error) {
	_ = raw.SetDeadline(time.Now().Add(s.cfg.HandshakeTimeout))
	conn, err := s.secure(raw)
	if err != nil {
		return nil, Hello{}, 0, "", err
	}
	hello, err := ReadHello(conn)
	switch {
	case errors.Is(err, ErrHTTPRequest):
		return nil, hello, 0, "", &refusal{conn: conn, status: StatusCarrierMismatch, msg: s.mismatchMessage(CarrierWebSocket), http: true}
	case errors.Is(err, ErrVersion):
		return nil, hello, 0, "", &refusal{conn: conn, status: StatusVersionMismatch,
			msg: fmt.Sprintf("bridge speaks protocol versions %d to %d, agent %d", ProtocolVersion, MaxHelloVersion, hello.Version)}
	case err != nil:
		return nil, hello, 0, "", &refusal{conn: conn, status: StatusBadHello, msg: "malformed hello", cause: err}
	case hello.Version == WorkVersion:
		_ = raw.SetDeadline(time.Time{})
		return conn, hello, 0, "", nil
	}
	if got := carrierOf(raw); got != s.cfg.Carrier {
		return nil, hello, 0, "", &refusal{conn: conn, status: StatusCarrierMismatch, msg: s.mismatchMessage(got)}
	}
	if !s.cfg.Keys.Accepts(hello.Key) {
		return nil, hello, 0, "", &refusal{conn: conn, status: StatusUnknownKey, msg: "unknown key", cause: fmt.Errorf("key id %s", KeyID(hello.Key))}
	}
	flow, mismatch := s.agreeFlow(hello)
	if mismatch != "" {
		s.log.Warn("agent cannot carry this server's mode", "remote", raw.RemoteAddr().String(), "key_id", KeyID(hello.Key), "reason", mismatch)
		return nil, hello, 0, "", &refusal{conn: conn, status: StatusModeMismatch, msg: mismatch}
	}
	reply := HelloReply{Status: StatusOK, Flow: flow}
	if hello.Version >= HelloVersionPool && flow == FlowReverse && s.cfg.PoolMax > 0 {
		reply.PoolMax, reply.Token = s.cfg.PoolMax, newToken()
	}
	if _, err := conn.Write(AppendHelloReplyFor(nil, reply, hello.Version)); err != nil {
		return nil, hello, 0, "", fmt.Errorf("hello reply: %w", err)
	}
	_ = raw.SetDeadline(time.Time{})
	return conn, hello, flow, reply.Token, nil
}

// secure peeks at the first byte of raw: a TLS record (an agent that opens
// TLS first) is served with the bridge's certificate, a plain hello is
// accepted only without TLS or with AllowPlain. It returns the connection
// to read the hello from, or why not (a *refusal when the agent is to hear
// it).
func (s *Server) secure(raw net.Conn) (net.Conn, error) {
	if c, ok := raw.(*carriedConn); ok {
		if !c.tls && s.cfg.TLS != nil && !s.cfg.AllowPlain {
			return nil, &refusal{conn: raw, status: StatusTLSRequired, msg: "this bridge requires TLS"}
		}
		return raw, nil // its carrier ran TLS where it applies
	}
	br := bufio.NewReaderSize(raw, 16)
	first, err := br.Peek(1)
	if err != nil {
		return nil, fmt.Errorf("closed before hello: %w", err)
	}
	peeked := &peekedConn{Conn: raw, r: br}
	switch {
	case first[0] == tlsHandshakeRecord && s.cfg.TLS == nil:
		return nil, errors.New("TLS to a bridge that has no TLS certificate")
	case first[0] == tlsHandshakeRecord:
		// Over a RecordConn: a pooled link's copy can then wait for the
		// socket between records without holding a buffer (netx.Awaitable).
		tc := tls.Server(tlsx.NewRecordConn(peeked), s.cfg.TLS)
		if err := tc.Handshake(); err != nil {
			return nil, fmt.Errorf("TLS handshake: %w", err)
		}
		return tc, nil
	case s.cfg.TLS != nil && !s.cfg.AllowPlain:
		return nil, &refusal{conn: raw, status: StatusTLSRequired, msg: "this bridge requires TLS"}
	}
	return peeked, nil
}

// tlsHandshakeRecord is the first byte of a TLS ClientHello record.
const tlsHandshakeRecord = 0x16

func (s *Server) addSession(sess *session) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.pools.add(sess)
	return true
}

// refusal is a handshake the bridge refuses with a reply the agent is to
// hear: conn is where to write it.
type refusal struct {
	conn   net.Conn
	status HelloStatus
	msg    string
	cause  error // detail for the log, not sent
	http   bool  // answered as HTTP: the agent sent an HTTP request
}

func (r *refusal) Error() string {
	if r.cause != nil {
		return fmt.Sprintf("agent refused: %s: %s: %v", r.status, r.msg, r.cause)
	}
	return fmt.Sprintf("agent refused: %s: %s", r.status, r.msg)
}

// Revoke closes every session of key, e.g. when no instance names it any
// more. Links on them fail at once.
func (s *Server) Revoke(key string) {
	for _, sess := range s.pools.take(key) {
		_ = sess.mux.Close()
	}
}

// Close disconnects every agent and waits for the server's goroutines.
// Call it after the listener passed to Serve is closed.
func (s *Server) Close() error {
	s.mu.Lock()
	if !s.closed {
		close(s.done)
	}
	s.closed = true
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	for _, sess := range s.pools.all() {
		_ = sess.mux.Close()
	}
	s.wg.Wait()
	return nil
}

// openControl opens a session's control stream: the first stream, marked
// by its link header.
func openControl(mux *smux.Session) (*smux.Stream, error) {
	st, err := mux.OpenStream()
	if err != nil {
		return nil, err
	}
	hdr, err := AppendLinkHeader(nil, LinkHeader{Network: NetworkControl})
	if err == nil {
		_, err = st.Write(hdr)
	}
	if err != nil {
		_ = st.Close()
		return nil, err
	}
	return st, nil
}

// peekedConn reads through the bufio.Reader that peeked at the first byte.
type peekedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *peekedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// Buffered is how many peeked bytes wait to be read.
func (c *peekedConn) Buffered() int { return c.r.Buffered() }

// NetConn is the connection under c, for netx.Reset.
func (c *peekedConn) NetConn() net.Conn { return c.Conn }
