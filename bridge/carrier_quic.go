package bridge

// The QUIC carrier (type=1): each session rides one QUIC stream, over one
// UDP connection (TLS 1.3, ALPN "burrow") that the agent shares among its
// sessions and dials again when it dies. The bridge verifies nothing more
// than on TCP: the agent verifies the bridge's certificate as it does a
// TCP/TLS bridge's (fp= pin, ca=, system roots).

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/quic-go/quic-go"
)

// QUICProto is the QUIC carrier's ALPN protocol.
const QUICProto = "burrow"

// quicConfig is both ends' QUIC configuration: keep-alives well inside the
// idle timeout, so a dead path is found (and the agent dials a new
// connection) within 15 s, before smux's own keep-alive gives up, and
// windows large enough for one session's bulk transfer.
func quicConfig(handshake time.Duration) *quic.Config {
	return &quic.Config{
		HandshakeIdleTimeout: handshake, MaxIdleTimeout: 15 * time.Second, KeepAlivePeriod: 5 * time.Second,
		MaxIncomingStreams: h2MaxStreams, MaxIncomingUniStreams: -1,
		InitialStreamReceiveWindow: 1 << 20, MaxStreamReceiveWindow: h2StreamWindow,
		InitialConnectionReceiveWindow: 2 << 20, MaxConnectionReceiveWindow: h2ConnWindow,
	}
}

// quicStream is a QUIC stream as a net.Conn.
type quicStream struct {
	*quic.Stream
	conn *quic.Conn
}

// Close ends both directions of the stream (a QUIC stream's Close ends
// only the sending one).
func (s *quicStream) Close() error {
	s.CancelRead(0)
	return s.Stream.Close()
}

func (s *quicStream) LocalAddr() net.Addr  { return s.conn.LocalAddr() }
func (s *quicStream) RemoteAddr() net.Addr { return s.conn.RemoteAddr() }

// quicCarrier opens a stream per connection on one shared QUIC connection.
type quicCarrier struct {
	addr string
	tls  *tls.Config

	mu     sync.Mutex
	conn   *quic.Conn
	closed bool
}

func newQUICCarrier(cfg CarrierConfig) *quicCarrier {
	tc := cfg.TLS.Clone()
	tc.NextProtos = []string{QUICProto}
	return &quicCarrier{addr: cfg.Addr, tls: tc}
}

func (c *quicCarrier) Type() CarrierType { return CarrierQUIC }

func (c *quicCarrier) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	if c.conn != nil {
		_ = c.conn.CloseWithError(0, "agent stopped")
		c.conn = nil
	}
	return nil
}

// shared returns the live QUIC connection, dialling one when there is none.
func (c *quicCarrier) shared(ctx context.Context) (*quic.Conn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, net.ErrClosed
	}
	if c.conn != nil && c.conn.Context().Err() == nil {
		return c.conn, nil
	}
	timeout := DefaultHandshakeTimeout
	if d, ok := ctx.Deadline(); ok {
		timeout = time.Until(d)
	}
	conn, err := quic.DialAddr(ctx, c.addr, c.tls, quicConfig(timeout))
	if err != nil {
		return nil, fmt.Errorf("dial QUIC bridge %s (is it type=1?): %w", c.addr, err)
	}
	c.conn = conn
	return conn, nil
}

func (c *quicCarrier) DialCarrier(ctx context.Context) (net.Conn, error) {
	conn, err := c.shared(ctx)
	if err != nil {
		return nil, err
	}
	st, err := conn.OpenStreamSync(ctx)
	if err != nil {
		return nil, fmt.Errorf("QUIC stream to bridge %s: %w", c.addr, err)
	}
	return &quicStream{Stream: st, conn: conn}, nil
}

// ServeQUIC accepts agents over QUIC (Config.Carrier CarrierQUIC) on pc
// until ctx ends, and closes pc then. Each connection holds a handshake
// slot until a session on it authenticates (or is closed after
// carrierAuthTimeout); each stream enters the handshake as a TCP
// connection does.
func (s *Server) ServeQUIC(ctx context.Context, pc net.PacketConn) error {
	if s.cfg.TLS == nil {
		_ = pc.Close()
		return fmt.Errorf("the QUIC carrier needs the bridge's TLS certificate")
	}
	tc := s.cfg.TLS.Clone()
	tc.NextProtos = []string{QUICProto}
	tr := &quic.Transport{
		Conn: pc,
		// Each connection attempt takes a handshake slot before its TLS
		// handshake, as a TCP connection does at accept; refused, it is
		// refused in QUIC.
		ConnContext: func(ctx context.Context, info *quic.ClientInfo) (context.Context, error) {
			p := &quicPending{}
			sh := s.admitShared(p, info.RemoteAddr)
			if sh == nil {
				return ctx, errors.New("handshake refused")
			}
			context.AfterFunc(ctx, func() { sh.release() }) // the connection ended, or its handshake failed
			return context.WithValue(ctx, quicKey{}, &quicAdmitted{sh: sh, pending: p}), nil
		},
		// Source addresses of UDP can be forged: when handshakes pile up,
		// a source proves its address (a Retry round trip) before it takes
		// a slot.
		VerifySourceAddress: func(net.Addr) bool { return s.guard.inProgress() >= s.cfg.MaxHandshakes/4 },
	}
	ln, err := tr.Listen(tc, quicConfig(s.cfg.HandshakeTimeout))
	if err != nil {
		_ = pc.Close()
		return fmt.Errorf("listen for QUIC agents: %w", err)
	}
	s.log.Info("bridge listening", "addr", pc.LocalAddr().String(), "tls", true, "carrier", CarrierQUIC.String())
	var wg sync.WaitGroup
	defer func() {
		_ = ln.Close()
		_ = tr.Close() // closes every connection
		wg.Wait()
		_ = pc.Close()
	}()
	for {
		conn, err := ln.Accept(ctx)
		if err != nil {
			return nil
		}
		adm, _ := conn.Context().Value(quicKey{}).(*quicAdmitted)
		if adm == nil {
			_ = conn.CloseWithError(0, "")
			continue
		}
		adm.pending.set(conn)
		sh := adm.sh
		wg.Go(func() {
			defer sh.release()
			for {
				st, err := conn.AcceptStream(ctx)
				if err != nil {
					_ = conn.CloseWithError(0, "")
					return
				}
				s.accept(&carriedConn{Conn: &quicStream{Stream: st, conn: conn}, kind: CarrierQUIC, tls: true, sh: sh})
			}
		})
	}
}

// quicKey is the context key of a QUIC connection's *quicAdmitted.
type quicKey struct{}

// quicAdmitted is a QUIC connection's handshake slot.
type quicAdmitted struct {
	sh      *shared
	pending *quicPending
}

// quicPending closes a QUIC connection for the guard (to make room, or
// when no session authenticated in time), once Accept has returned it:
// before that, quic-go's handshake timeout bounds it.
type quicPending struct {
	mu     sync.Mutex
	conn   *quic.Conn
	closed bool
}

func (p *quicPending) set(c *quic.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.conn = c
	if p.closed {
		_ = c.CloseWithError(0, "closed by the bridge's bounds")
	}
}

func (p *quicPending) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	if p.conn != nil {
		return p.conn.CloseWithError(0, "closed by the bridge's bounds")
	}
	return nil
}
