package bridge

// Carriers: what carries an agent's connections to the bridge (NodePass's
// pool type, type=). Every carrier yields connections, or streams, that
// then speak Burrow's hello and smux session exactly as a TCP connection
// does, so the handshake, its bounds and the session code are one.
//
// The agent must know the carrier from its own URL (type= on the client):
// through a CDN it cannot first make a raw TCP connection to ask. A bridge
// refuses an agent that arrives on another carrier with StatusCarrierMismatch,
// whose message names the type it expects, wherever the agent's bytes let
// it answer in kind (a TCP agent at a WebSocket or HTTP/2 bridge, or at the
// TCP port beside a QUIC bridge; a WebSocket upgrade at a TCP bridge hears
// an HTTP error saying the same).

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/burrowproject/burrow/internal/tlsx"
)

// CarrierType is a bridge's carrier, numbered as NodePass's type=.
type CarrierType uint8

// Carrier types.
const (
	CarrierTCP       CarrierType = 0 // one TCP (TLS) connection per session
	CarrierQUIC      CarrierType = 1 // a QUIC stream per session, over one UDP connection
	CarrierWebSocket CarrierType = 2 // a WebSocket per session (ws:// or wss://), through HTTP proxies and CDNs
	CarrierHTTP2     CarrierType = 3 // an HTTP/2 stream per session, over one TLS connection
)

func (c CarrierType) String() string {
	switch c {
	case CarrierTCP:
		return "TCP"
	case CarrierQUIC:
		return "QUIC"
	case CarrierWebSocket:
		return "WebSocket"
	case CarrierHTTP2:
		return "HTTP/2"
	}
	return fmt.Sprintf("carrier(%d)", uint8(c))
}

// Carrier dials the agent's connections to a bridge. Each connection it
// returns is secured as configured (TLS where it applies: QUIC and HTTP/2
// always) and is ready for the hello. Close releases what the connections
// share (a QUIC or HTTP/2 connection) and ends the streams on it.
type Carrier interface {
	Type() CarrierType
	DialCarrier(ctx context.Context) (net.Conn, error)
	Close() error
}

// CarrierConfig configures a Carrier.
type CarrierConfig struct {
	Type CarrierType
	Addr string      // host:port dialled
	TLS  *tls.Config // the bridge's verification; nil = plain (TCP and WebSocket only)
	// Path is the HTTP path of a WebSocket carrier ("" = "/"), Host its
	// Host header ("" = Addr's host); both for going through a reverse
	// proxy or CDN.
	Path, Host string
	Dialer     *net.Dialer // nil = default
}

// NewCarrier returns the carrier cfg describes.
func NewCarrier(cfg CarrierConfig) (Carrier, error) {
	if cfg.Dialer == nil {
		cfg.Dialer = &net.Dialer{}
	}
	if cfg.Path == "" {
		cfg.Path = "/"
	}
	switch cfg.Type {
	case CarrierTCP:
		return &tcpCarrier{addr: cfg.Addr, tls: cfg.TLS, dialer: cfg.Dialer}, nil
	case CarrierWebSocket:
		return newWSCarrier(cfg), nil
	case CarrierQUIC, CarrierHTTP2:
		if cfg.TLS == nil {
			return nil, fmt.Errorf("the %s carrier (type=%d) always runs TLS: drop tls=0", cfg.Type, cfg.Type)
		}
		if cfg.Type == CarrierQUIC {
			return newQUICCarrier(cfg), nil
		}
		return newH2Carrier(cfg), nil
	}
	return nil, fmt.Errorf("unknown carrier type %d (0 TCP, 1 QUIC, 2 WebSocket, 3 HTTP/2)", cfg.Type)
}

// tcpCarrier is the default: a TCP connection, TLS first unless tls is nil.
type tcpCarrier struct {
	addr   string
	tls    *tls.Config
	dialer *net.Dialer
}

func (c *tcpCarrier) Type() CarrierType { return CarrierTCP }
func (c *tcpCarrier) Close() error      { return nil }

func (c *tcpCarrier) DialCarrier(ctx context.Context) (net.Conn, error) {
	raw, err := c.dialer.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return nil, fmt.Errorf("dial bridge %s: %w", c.addr, err)
	}
	if tc, ok := raw.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	if c.tls == nil {
		return raw, nil
	}
	// Over a RecordConn: a pooled link's copy can then wait for the socket
	// between records without holding a buffer (netx.Awaitable).
	tc := tls.Client(tlsx.NewRecordConn(raw), c.tls)
	if err := tc.HandshakeContext(ctx); err != nil {
		_ = raw.Close()
		return nil, fmt.Errorf("tls handshake with bridge %s: %w", c.addr, err)
	}
	return tc, nil
}

// DialConn dials one connection to the bridge through cfg's carrier (a
// TCP connection, TLS first with cfg.TLS, when cfg.Carrier is nil), secured
// and ready for the hello. Every agent connection is dialled here.
func (cfg DialConfig) DialConn(ctx context.Context) (net.Conn, error) {
	if cfg.Carrier != nil {
		return cfg.Carrier.DialCarrier(ctx)
	}
	d := cfg.Dialer
	if d == nil {
		d = &net.Dialer{}
	}
	return (&tcpCarrier{addr: cfg.Addr, tls: cfg.TLS, dialer: d}).DialCarrier(ctx)
}

// carriedConn is a connection that a carrier accepted (or that came on
// another carrier's port): its TLS, if any, is the carrier's, so the
// handshake does not look for it.
type carriedConn struct {
	net.Conn
	kind CarrierType
	tls  bool    // TLS protects it (wss://, QUIC, HTTP/2, TLS before a TCP hello)
	sh   *shared // the shared connection it is a stream of; nil if none
}

// carrierOf is the carrier a connection the bridge accepted came on.
func carrierOf(c net.Conn) CarrierType {
	if cc, ok := c.(*carriedConn); ok {
		return cc.kind
	}
	return CarrierTCP
}

// mismatchMessage tells an agent that came on got which carrier this
// bridge expects.
func (s *Server) mismatchMessage(got CarrierType) string {
	want := s.cfg.Carrier
	if want == CarrierTCP {
		return fmt.Sprintf("this bridge carries agents over TCP (type=0), the agent came over %s: remove type= from the agent URL", got)
	}
	msg := fmt.Sprintf("this bridge carries agents over %s (type=%d), the agent came over %s: set type=%d", want, want, got, want)
	if want == CarrierWebSocket && s.cfg.Path != "" && s.cfg.Path != "/" {
		msg += " and wspath=" + s.cfg.Path
	}
	return msg + " on the agent URL"
}

// carrierAuthTimeout bounds how long a shared carrier connection (QUIC,
// HTTP/2) may stay open before one of its streams has authenticated.
func (s *Server) carrierAuthTimeout() time.Duration { return 2 * s.cfg.HandshakeTimeout }

// shared is a carrier connection that carries many sessions (QUIC,
// HTTP/2): it holds a handshake slot of the guard, as a TCP connection
// does, until the first session on it authenticates, and is closed if none
// has by carrierAuthTimeout.
type shared struct {
	s    *Server
	t    *ticket
	once sync.Once
}

// admitShared reserves a handshake slot for a carrier connection from
// addr, or closes it and returns nil.
func (s *Server) admitShared(c io.Closer, addr net.Addr) *shared {
	t, victim, reason := s.guard.admit(c, addrIP(addr))
	if t == nil {
		_ = c.Close()
		s.refused(reason)
		return nil
	}
	if victim != nil {
		s.refused(RefusedBusy)
		s.evict(victim)
	}
	sh := &shared{s: s, t: t}
	time.AfterFunc(s.carrierAuthTimeout(), func() { // does nothing once released
		if sh.release() {
			s.refused(RefusedFailed)
			_ = c.Close()
		}
	})
	return sh
}

// release frees the slot once; it reports whether this call did.
func (sh *shared) release() bool {
	did := false
	sh.once.Do(func() {
		did = true
		sh.s.guard.release(sh.t)
		close(sh.t.exited)
	})
	return did
}

// authenticated is called when a session on the connection authenticated.
func (sh *shared) authenticated() { sh.release() }

// httpRefusal is an HTTP/1.1 400 response whose body is msg: how a bridge
// answers a WebSocket agent it does not take (an HTTP client reads it).
func httpRefusal(msg string) []byte {
	return fmt.Appendf(nil, "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s", len(msg), msg)
}
