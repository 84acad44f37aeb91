package http

import (
	"context"
	"crypto/tls"
	"net"
	"sync"
	"time"

	"github.com/burrowproject/burrow/internal/netx"
)

// handshakeListener serves an HTTPS entry: it completes each TLS handshake
// off the accept path (bounded by timeout) and then hands the entry's
// server the connection according to the protocol ALPN chose. An HTTP/2
// connection goes as the *tls.Conn itself, which net/http serves with its
// HTTP/2 server (whose framing has no Content-Length/Transfer-Encoding
// ambiguity); any other goes through the request-head checker, like a
// plain-HTTP entry's (net/http takes Request.TLS from its
// ConnectionState).
type handshakeListener struct {
	ln      net.Listener
	cfg     *tls.Config
	timeout time.Duration
	check   checkedListener // wraps HTTP/1 connections

	ctx    context.Context // cancelled by Close: ends the accept loop and handshakes
	cancel context.CancelFunc
	ready  chan net.Conn
	wg     sync.WaitGroup // the accept loop and every handshake
}

func newHandshakeListener(ln net.Listener, cfg *tls.Config, timeout time.Duration, check checkedListener) *handshakeListener {
	l := &handshakeListener{ln: ln, cfg: cfg, timeout: timeout, check: check, ready: make(chan net.Conn)}
	l.ctx, l.cancel = context.WithCancel(context.Background())
	l.wg.Go(func() {
		netx.AcceptLoop(l.ctx, ln, check.log, func(c net.Conn) {
			l.wg.Go(func() { l.handshake(c) })
		})
	})
	return l
}

func (l *handshakeListener) handshake(raw net.Conn) {
	tc := tls.Server(raw, l.cfg)
	ctx, cancel := context.WithTimeout(l.ctx, l.timeout)
	err := tc.HandshakeContext(ctx)
	cancel()
	if err != nil {
		l.check.log.Debug("tls handshake failed", "client", raw.RemoteAddr().String(), "err", err)
		_ = raw.Close()
		return
	}
	var c net.Conn = tc
	if tc.ConnectionState().NegotiatedProtocol != "h2" {
		c = &tlsHeadConn{headConn: headConn{Conn: tc, log: l.check.log, headCap: l.check.headCap}, tc: tc}
	}
	select {
	case l.ready <- c:
	case <-l.ctx.Done():
		_ = c.Close()
	}
}

// Accept returns the next connection whose handshake is complete.
func (l *handshakeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ready:
		return c, nil
	case <-l.ctx.Done():
		return nil, net.ErrClosed
	}
}

// Close stops accepting, abandons handshakes in progress and closes the
// listener.
func (l *handshakeListener) Close() error {
	l.cancel()
	return l.ln.Close()
}

// wait returns once the accept loop and every handshake have ended (after
// Close).
func (l *handshakeListener) wait() { l.wg.Wait() }

func (l *handshakeListener) Addr() net.Addr { return l.ln.Addr() }

// tlsHeadConn is a checked HTTP/1 connection over TLS. Its
// ConnectionState gives net/http the Request.TLS it would take from a
// *tls.Conn.
type tlsHeadConn struct {
	headConn
	tc *tls.Conn
}

func (c *tlsHeadConn) ConnectionState() tls.ConnectionState { return c.tc.ConnectionState() }

var _ net.Listener = (*handshakeListener)(nil)
