package bridge

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xtaci/smux"

	"github.com/burrowproject/burrow/internal/tlsx"
)

// DialConfig configures the agent's end of a tunnel.
type DialConfig struct {
	Addr         string        // bridge host:port
	Key          string        // agent key; secret
	AgentName    string        // shown in the bridge's agent list
	AgentVersion string        // shown in the bridge's agent list
	TLS          *tls.Config   // nil = plain TCP
	Dialer       *net.Dialer   // nil = default
	Mux          *smux.Config  // nil = MuxConfig()
	Timeout      time.Duration // for connect + TLS + hello; 0 = DefaultHandshakeTimeout
	// Flow is what the agent can carry: FlowAny follows the bridge;
	// FlowReverse for an agent that cannot listen for users.
	Flow Flow
	// Carrier dials the connection (see DialConn); nil = TCP to Addr,
	// TLS first with TLS, through Dialer.
	Carrier Carrier
	// Pool asks for a pool of work connections (HelloVersionAck, then
	// HelloVersionPool); a bridge too old to know a version is asked again
	// with the one before, down to none. Only the TCP carrier has one: the
	// others multiplex their own connection.
	Pool bool
	// MaxVersion caps the hello version offered (an agent that speaks as
	// an older release did); 0 = the newest.
	MaxVersion uint8
	// WorkTLS secures work connections (nil = TLS); give it the same
	// ClientSessionCache as TLS so they resume the session's TLS.
	WorkTLS *tls.Config
}

// RefusedError is the bridge's refusal of a hello.
type RefusedError struct {
	Status  HelloStatus
	Message string
	// The bridge's carrier and WebSocket path, with StatusCarrierMismatch.
	Carrier CarrierType
	Path    string
}

func (e *RefusedError) Error() string {
	if e.Message == "" || e.Message == e.Status.String() {
		return "bridge refused the agent: " + e.Status.String()
	}
	return "bridge refused the agent: " + e.Status.String() + ": " + e.Message
}

// Tunnel is the agent's end of a session: the smux session, on which the
// bridge opens a stream per link, and the session's control stream, which
// carries the bridge's aborts one way and the agent's resets the other.
type Tunnel struct {
	*smux.Session
	Control *smux.Stream
	Flow    Flow // the server's: FlowForward means the agent listens for users
	// PoolMax is the most idle work connections the bridge keeps for this
	// session (0: no pool); see DialWork.
	PoolMax int
	// Version is the hello version the bridge accepted.
	Version uint8
	token   string
	cfg     DialConfig
	// resumeTLS dials work connections that resume the session's TLS
	// (see tlsx.ResumedOnly); nil without TLS. resumeFails counts the
	// work connections in a row that could not resume: at maxResumeFails
	// a bridge that does not resume is dialled in full at once.
	resumeTLS   *tls.Config
	resumeFails atomic.Int32
	conn        *tunnelConn
	ctrlMu      sync.Mutex // one control message at a time
}

// Alive reports whether the connection under the tunnel has not failed.
// A stream's EOF on a dead tunnel is a loss, not the bridge's orderly end.
func (t *Tunnel) Alive() bool { return !t.IsClosed() && (t.conn == nil || t.conn.alive()) }

// Reset tells the bridge that the target connection of link stream id
// failed, so it resets the user's connection; it answers with an abort of
// id. Bounded by abortTimeout.
func (t *Tunnel) Reset(id uint32, reason string) error {
	return t.Send(ControlMessage{Kind: ControlReset, Stream: id, Reason: reason})
}

// Send writes one control message to the bridge, bounded by abortTimeout.
// Safe for concurrent use.
func (t *Tunnel) Send(m ControlMessage) error {
	msg := AppendControl(make([]byte, 0, 8+len(m.Reason)), m)
	t.ctrlMu.Lock()
	defer t.ctrlMu.Unlock()
	_ = t.Control.SetWriteDeadline(time.Now().Add(abortTimeout))
	_, err := t.Control.Write(msg)
	return err
}

// Dial connects to a bridge, says hello, and returns once the bridge has
// accepted the agent and can route links to it (it says so with a ready
// marker on the control stream).
//
// A bridge that refuses the hello's version (an older release) is asked
// again with the version before, newest first: with a pool
// HelloVersionReuse, HelloVersionAck, HelloVersionPool, then
// HelloVersionFlow (links ride the
// session); without one HelloVersionFlow alone.
func Dial(ctx context.Context, cfg DialConfig) (*Tunnel, error) {
	if cfg.Carrier != nil && cfg.Carrier.Type() != CarrierTCP {
		cfg.Pool = false // its links ride the carrier's own multiplexing
	}
	versions := []uint8{HelloVersionFlow}
	if cfg.Pool {
		versions = []uint8{HelloVersionReuse, HelloVersionAck, HelloVersionPool, HelloVersionFlow}
	}
	var t *Tunnel
	err := errors.New("no hello version to offer at or below the agent's maximum")
	for _, v := range versions {
		if cfg.MaxVersion != 0 && v > cfg.MaxVersion {
			continue
		}
		t, err = dial(ctx, cfg, v)
		var refused *RefusedError
		if !errors.As(err, &refused) || refused.Status != StatusVersionMismatch {
			break
		}
	}
	return t, err
}

func dial(ctx context.Context, cfg DialConfig, version uint8) (*Tunnel, error) {
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = DefaultHandshakeTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := cfg.DialConn(ctx)
	if err != nil {
		return nil, err
	}
	raw := conn
	stop := context.AfterFunc(ctx, func() { _ = raw.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	hello, err := AppendHello(nil, Hello{Version: version, Key: cfg.Key, AgentName: cfg.AgentName, AgentVersion: cfg.AgentVersion, Flow: cfg.Flow})
	if err != nil {
		_ = raw.Close()
		return nil, err
	}
	if _, err := conn.Write(hello); err != nil {
		_ = raw.Close()
		return nil, fmt.Errorf("send hello to bridge %s: %w", cfg.Addr, err)
	}
	reply, err := ReadHelloReplyFor(conn, version)
	if err != nil {
		_ = raw.Close()
		return nil, fmt.Errorf("read hello reply from bridge %s: %w", cfg.Addr, err)
	}
	if reply.Status != StatusOK {
		_ = raw.Close()
		return nil, &RefusedError{Status: reply.Status, Message: reply.Message, Carrier: reply.Carrier, Path: reply.Path}
	}
	if !stop() {
		_ = raw.Close()
		return nil, fmt.Errorf("handshake with bridge %s: %w", cfg.Addr, ctx.Err())
	}
	mc := cfg.Mux
	if mc == nil {
		mc = MuxConfig()
	}
	tc := newTunnelConn(conn)
	sess, err := smux.Server(tc, mc)
	if err != nil {
		_ = raw.Close()
		return nil, fmt.Errorf("start tunnel session: %w", err)
	}
	ctrl, err := awaitReady(ctx, sess)
	if err != nil {
		_ = sess.Close()
		return nil, fmt.Errorf("bridge %s did not confirm the session: %w", cfg.Addr, err)
	}
	t := &Tunnel{Session: sess, Control: ctrl, Flow: reply.Flow, PoolMax: reply.PoolMax, Version: version, token: reply.Token, cfg: cfg, conn: tc}
	if reply.Token != "" && cfg.TLS != nil {
		t.resumeTLS = tlsx.ResumedOnly(t.workTLS())
	}
	return t, nil
}

// workTLS is the full TLS configuration of work connections: WorkTLS, or
// the session's.
func (t *Tunnel) workTLS() *tls.Config {
	if t.cfg.TLS != nil && t.cfg.WorkTLS != nil {
		return t.cfg.WorkTLS
	}
	return t.cfg.TLS
}

// DialWork opens a work connection for the session (see workwire.go): it
// returns once the work hello is sent (and, in a session of
// HelloVersionAck, the bridge acked it: ErrPoolFull when it has no room),
// to wait for a link header. All of it within the handshake timeout. Work
// connections are TCP, TLS with WorkTLS when the session has TLS, so a link
// without TLS is a plain *net.TCPConn underneath (spliced). A work
// connection resumes the session's TLS with an X25519 key exchange (see
// tlsx.ResumedOnly), which costs a fraction of the default hybrid's; when
// it cannot resume, it is dialled again with WorkTLS in full.
func (t *Tunnel) DialWork(ctx context.Context) (net.Conn, error) {
	if t.token == "" {
		return nil, errors.New("the bridge keeps no pool for this session")
	}
	timeout := t.cfg.Timeout
	if timeout <= 0 {
		timeout = DefaultHandshakeTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	d := t.cfg.Dialer
	if d == nil {
		d = &net.Dialer{}
	}
	var conn net.Conn
	var err error
	resume := t.resumeTLS != nil && t.resumeFails.Load() < maxResumeFails
	if resume {
		conn, err = (&tcpCarrier{addr: t.cfg.Addr, tls: t.resumeTLS, dialer: d}).DialCarrier(ctx)
		switch {
		case err == nil:
			t.resumeFails.Store(0)
		case errors.Is(err, tlsx.ErrNotResumed):
			t.resumeFails.Add(1)
		}
	}
	if !resume || errors.Is(err, tlsx.ErrNotResumed) {
		conn, err = (&tcpCarrier{addr: t.cfg.Addr, tls: t.workTLS(), dialer: d}).DialCarrier(ctx)
	}
	if err != nil {
		return nil, err
	}
	dl, _ := ctx.Deadline()
	_ = conn.SetDeadline(dl)
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) }) // the session ended
	defer stop()
	if _, err := conn.Write(AppendWorkHello(make([]byte, 0, 8+TokenLen), t.token)); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("send work hello to bridge %s: %w", t.cfg.Addr, err)
	}
	if t.Version >= HelloVersionAck {
		ack, err := ReadWorkAck(conn)
		if err == nil && ack == WorkPoolFull {
			err = ErrPoolFull
		}
		if err != nil {
			_ = conn.Close()
			return nil, fmt.Errorf("work connection to bridge %s: %w", t.cfg.Addr, err)
		}
	}
	if !stop() {
		_ = conn.Close()
		return nil, fmt.Errorf("work connection to bridge %s: %w", t.cfg.Addr, ctx.Err())
	}
	_ = conn.SetDeadline(time.Time{})
	return conn, nil
}

// maxResumeFails is how many work connections in a row may fail to
// resume the session's TLS before the rest of the session's are dialled
// in full (a bridge that keeps no tickets, or several behind one address).
const maxResumeFails = 3

// awaitReady accepts the session's control stream and reads the bridge's
// ready marker, before ctx ends.
func awaitReady(ctx context.Context, sess *smux.Session) (*smux.Stream, error) {
	if d, ok := ctx.Deadline(); ok {
		_ = sess.SetDeadline(d)
		defer sess.SetDeadline(time.Time{})
	}
	st, err := sess.AcceptStream()
	if err != nil {
		return nil, fmt.Errorf("accept control stream: %w", err)
	}
	if d, ok := ctx.Deadline(); ok {
		_ = st.SetReadDeadline(d)
	}
	h, err := ReadLinkHeader(st)
	if err == nil && h.Network != NetworkControl {
		err = fmt.Errorf("%w: first stream is %s, not control", ErrMalformed, h.Network)
	}
	var marker [4]byte
	if err == nil {
		_, err = io.ReadFull(st, marker[:])
	}
	if err == nil && binary.BigEndian.Uint32(marker[:]) != readyMarker {
		err = fmt.Errorf("%w: control stream did not start with the ready marker", ErrMalformed)
	}
	if err != nil {
		_ = st.Close()
		return nil, err
	}
	_ = st.SetReadDeadline(time.Time{})
	return st, nil
}
