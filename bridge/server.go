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
)

// DefaultHandshakeTimeout bounds how long an agent may take to say hello.
const DefaultHandshakeTimeout = 10 * time.Second

// Config configures a Server.
type Config struct {
	Keys             Keys          // which agent keys are accepted; required
	TLS              *tls.Config   // nil = plain TCP
	Logger           *slog.Logger  // nil = discard
	Mux              *smux.Config  // nil = MuxConfig()
	HandshakeTimeout time.Duration // 0 = DefaultHandshakeTimeout
}

// Server is the bridge: it accepts agents and opens links through them.
type Server struct {
	cfg   Config
	log   *slog.Logger
	pools *pools

	nextID atomic.Uint64 // session ids
	mu     sync.Mutex
	conns  map[net.Conn]struct{} // every agent connection, until it ends
	closed bool
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
	return &Server{cfg: cfg, log: cfg.Logger, pools: newPools(), conns: make(map[net.Conn]struct{})}
}

// Serve accepts agents on ln until ln is closed or ctx ends. It closes ln
// when ctx ends. Agents already connected stay until Close.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.log.Info("bridge listening", "addr", ln.Addr().String(), "tls", s.cfg.TLS != nil)
	netx.AcceptLoop(ctx, ln, s.log, func(c net.Conn) {
		if !s.track(c) {
			_ = c.Close()
			return
		}
		go func() {
			defer s.wg.Done()
			s.handshake(c)
		}()
	})
	return nil
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

// handshake runs the hello exchange on c and, when it succeeds, adds an
// smux session over c to the key's pool.
func (s *Server) handshake(raw net.Conn) {
	defer s.untrack(raw)
	remote := raw.RemoteAddr().String()
	log := s.log.With("remote", remote)
	_ = raw.SetDeadline(time.Now().Add(s.cfg.HandshakeTimeout))

	var conn net.Conn = raw
	if s.cfg.TLS != nil {
		br := bufio.NewReaderSize(raw, 1)
		first, err := br.Peek(1)
		if err != nil {
			log.Debug("agent closed before hello", "err", err)
			_ = raw.Close()
			return
		}
		if first[0] != 0x16 { // not a TLS record: a plain hello to a TLS bridge
			s.refuse(raw, log, StatusTLSRequired, "this bridge requires TLS")
			return
		}
		tc := tls.Server(&peekedConn{Conn: raw, r: br}, s.cfg.TLS)
		if err := tc.Handshake(); err != nil {
			log.Warn("agent TLS handshake failed", "err", err)
			_ = raw.Close()
			return
		}
		conn = tc
	}

	hello, err := ReadHello(conn)
	switch {
	case errors.Is(err, ErrVersion):
		s.refuse(conn, log, StatusVersionMismatch, fmt.Sprintf("bridge speaks protocol version %d, agent %d", ProtocolVersion, hello.Version))
		return
	case err != nil:
		log.Warn("agent hello rejected", "err", err)
		s.refuse(conn, log, StatusBadHello, "malformed hello")
		return
	}
	log = log.With("key_id", KeyID(hello.Key))
	if !s.cfg.Keys.Accepts(hello.Key) {
		s.refuse(conn, log, StatusUnknownKey, "unknown key")
		return
	}
	if _, err := conn.Write(AppendHelloReply(nil, HelloReply{Status: StatusOK})); err != nil {
		log.Warn("agent hello reply failed", "err", err)
		_ = conn.Close()
		return
	}
	_ = raw.SetDeadline(time.Time{})

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
		name: hello.AgentName, version: hello.AgentVersion, remote: remote, since: time.Now(),
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
	log.Info("agent disconnected", "name", hello.AgentName)
}

func (s *Server) addSession(sess *session) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.pools.add(sess)
	return true
}

func (s *Server) refuse(c net.Conn, log *slog.Logger, status HelloStatus, msg string) {
	log.Warn("agent refused", "reason", status.String())
	_, _ = c.Write(AppendHelloReply(nil, HelloReply{Status: status, Message: msg}))
	_ = c.Close()
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
