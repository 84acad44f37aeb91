package bridge

// The HTTP/2 carrier (type=3): each session rides one HTTP/2 stream, a
// POST whose request body carries the agent's bytes and whose response
// body the bridge's, over one TLS connection (ALPN h2) that the agent
// shares among its sessions and dials again when it dies.

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http2"
)

// H2Path is the request path of the HTTP/2 carrier's streams.
const H2Path = "/burrow/tunnel"

// Flow-control windows of the HTTP/2 carrier, both ends: large enough
// that a session's bulk transfer is not held to one window per round trip.
const (
	h2StreamWindow = 4 << 20
	h2ConnWindow   = 16 << 20
	h2MaxStreams   = 1024 // streams a peer may have open on one connection
	h2Ping         = 15 * time.Second
)

// h2Conn is one HTTP/2 stream as a byte stream: r is the body read, w the
// body written (flushed after each write).
type h2Conn struct {
	r      io.ReadCloser
	w      io.Writer
	flush  func() error
	closer func() // ends the stream
	local  net.Addr
	remote net.Addr
	dl     deadlines
	done   chan struct{}
	once   sync.Once

	wmu    sync.Mutex // a write, or the close that ends writing
	wended bool       // closed: the handler may return, so w is not written again
}

func newH2Conn(r io.ReadCloser, w io.Writer, flush func() error, closer func(), local, remote net.Addr) *h2Conn {
	c := &h2Conn{r: r, w: w, flush: flush, closer: closer, local: local, remote: remote, done: make(chan struct{})}
	c.dl.expire = func() { _ = c.Close() }
	return c
}

func (c *h2Conn) Read(p []byte) (int, error) { return c.r.Read(p) }

func (c *h2Conn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.wended {
		return 0, net.ErrClosed
	}
	n, err := c.w.Write(p)
	if err == nil && c.flush != nil {
		err = c.flush()
	}
	return n, err
}

// Close ends the stream: closer unblocks a write in progress, and no
// write follows.
func (c *h2Conn) Close() error {
	c.once.Do(func() {
		c.dl.stop()
		c.closer()
		c.wmu.Lock()
		c.wended = true
		c.wmu.Unlock()
		_ = c.r.Close()
		close(c.done)
	})
	return nil
}

func (c *h2Conn) LocalAddr() net.Addr                { return c.local }
func (c *h2Conn) RemoteAddr() net.Addr               { return c.remote }
func (c *h2Conn) SetDeadline(t time.Time) error      { c.dl.set(t); return nil }
func (c *h2Conn) SetReadDeadline(t time.Time) error  { c.dl.set(t); return nil }
func (c *h2Conn) SetWriteDeadline(t time.Time) error { c.dl.set(t); return nil }

// deadlines is a stream's deadline where the stream has none of its own:
// when it passes, the stream is closed (reads and writes fail). That is
// what the tunnel uses deadlines for: to bound a handshake or an abort.
type deadlines struct {
	mu     sync.Mutex
	timer  *time.Timer
	expire func()
}

func (d *deadlines) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	if t.IsZero() {
		return
	}
	d.timer = time.AfterFunc(time.Until(t), d.expire)
}

func (d *deadlines) stop() { d.set(time.Time{}) }

// h2Carrier opens a stream per connection on one shared TLS connection.
type h2Carrier struct {
	cfg CarrierConfig
	tls *tls.Config
	tr  *http2.Transport
	url string

	mu     sync.Mutex
	cc     *http2.ClientConn
	raw    net.Conn
	closed bool
}

func newH2Carrier(cfg CarrierConfig) *h2Carrier {
	tc := cfg.TLS.Clone()
	tc.NextProtos = []string{"h2"}
	host := cfg.Addr
	if cfg.Host != "" {
		host = cfg.Host
	}
	return &h2Carrier{
		cfg: cfg, tls: tc, url: "https://" + host + H2Path,
		tr: &http2.Transport{
			ReadIdleTimeout: h2Ping, PingTimeout: h2Ping, DisableCompression: true,
			MaxReadFrameSize: 1 << 20,
		},
	}
}

func (c *h2Carrier) Type() CarrierType { return CarrierHTTP2 }

func (c *h2Carrier) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	if c.cc != nil {
		_ = c.cc.Close()
		c.cc = nil
	}
	return nil
}

// conn returns the shared connection, dialling it when there is none or
// it can take no more streams.
func (c *h2Carrier) conn(ctx context.Context) (*http2.ClientConn, net.Conn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, nil, net.ErrClosed
	}
	if c.cc != nil && c.cc.CanTakeNewRequest() {
		return c.cc, c.raw, nil
	}
	if c.cc != nil {
		_ = c.cc.Close()
		c.cc = nil
	}
	raw, err := c.cfg.Dialer.DialContext(ctx, "tcp", c.cfg.Addr)
	if err != nil {
		return nil, nil, fmt.Errorf("dial bridge %s: %w", c.cfg.Addr, err)
	}
	if tc, ok := raw.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	t := tls.Client(raw, c.tls)
	if err := t.HandshakeContext(ctx); err != nil {
		_ = raw.Close()
		return nil, nil, fmt.Errorf("tls handshake with bridge %s: %w", c.cfg.Addr, err)
	}
	if p := t.ConnectionState().NegotiatedProtocol; p != "h2" {
		_ = raw.Close()
		return nil, nil, fmt.Errorf("bridge %s did not negotiate HTTP/2 (ALPN h2): it is not an HTTP/2 bridge (type=3)", c.cfg.Addr)
	}
	cc, err := c.tr.NewClientConn(t)
	if err != nil {
		_ = raw.Close()
		return nil, nil, fmt.Errorf("HTTP/2 with bridge %s: %w", c.cfg.Addr, err)
	}
	c.cc, c.raw = cc, t
	return cc, t, nil
}

func (c *h2Carrier) DialCarrier(ctx context.Context) (net.Conn, error) {
	cc, raw, err := c.conn(ctx)
	if err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	// The stream lives until it is closed, not until ctx (the dial's) ends.
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	req, err := http.NewRequestWithContext(sctx, http.MethodPost, c.url, pr)
	if err != nil {
		cancel()
		return nil, err
	}
	req.ContentLength = -1
	type result struct {
		resp *http.Response
		err  error
	}
	got := make(chan result, 1)
	go func() {
		resp, err := cc.RoundTrip(req)
		got <- result{resp, err}
	}()
	var res result
	select {
	case res = <-got:
	case <-ctx.Done():
		cancel()
		_ = pw.Close()
		res = <-got
		if res.err == nil {
			_ = res.resp.Body.Close()
		}
		return nil, fmt.Errorf("HTTP/2 stream to bridge %s: %w", c.cfg.Addr, ctx.Err())
	}
	if res.err != nil {
		cancel()
		_ = pw.Close()
		return nil, fmt.Errorf("HTTP/2 stream to bridge %s: %w", c.cfg.Addr, res.err)
	}
	if res.resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(res.resp.Body, MaxReasonLen))
		_ = res.resp.Body.Close()
		cancel()
		_ = pw.Close()
		return nil, fmt.Errorf("HTTP/2 stream to bridge %s: HTTP %s: %s", c.cfg.Addr, res.resp.Status, strings.TrimSpace(string(body)))
	}
	return newH2Conn(res.resp.Body, pw, nil, func() { _ = pw.Close(); cancel() }, raw.LocalAddr(), raw.RemoteAddr()), nil
}

// newH2Front serves the HTTP/2 carrier's connections: each stream on
// H2Path enters the handshake like a TCP connection; the connection's
// slot is held until the first session on it authenticates.
func (s *Server) newH2Front(ctx context.Context) (frontHandler, func()) {
	h2 := &http2.Server{
		MaxConcurrentStreams: h2MaxStreams, IdleTimeout: 2 * s.cfg.HandshakeTimeout,
		ReadIdleTimeout: h2Ping, PingTimeout: h2Ping,
		MaxUploadBufferPerStream: h2StreamWindow, MaxUploadBufferPerConnection: h2ConnWindow,
		MaxReadFrameSize: 1 << 20,
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fc, _ := r.Context().Value(frontKey{}).(*frontConn)
		switch {
		case fc == nil:
			http.Error(w, "no connection", http.StatusInternalServerError)
			return
		case r.URL.Path != H2Path || r.Method != http.MethodPost:
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		rc := http.NewResponseController(w)
		w.WriteHeader(http.StatusOK)
		if err := rc.Flush(); err != nil {
			return
		}
		expire := func() { // the stream's own deadlines: reads and writes fail
			_ = rc.SetReadDeadline(time.Unix(1, 0))
			_ = rc.SetWriteDeadline(time.Unix(1, 0))
		}
		c := newH2Conn(r.Body, w, rc.Flush, expire, fc.LocalAddr(), fc.RemoteAddr())
		c.dl.expire = expire
		s.accept(&carriedConn{Conn: c, kind: CarrierHTTP2, tls: fc.tls, sh: fc.sh})
		select { // the stream ends when the handler returns
		case <-c.done:
		case <-r.Context().Done():
			_ = c.Close()
		}
	})
	return func(fc *frontConn) {
		_ = fc.SetDeadline(time.Time{}) // the slot's timer bounds it now
		h2.ServeConn(fc, &http2.ServeConnOpts{
			Context: context.WithValue(ctx, frontKey{}, fc), Handler: handler,
			BaseConfig: &http.Server{MaxHeaderBytes: 8 << 10, ErrorLog: log.New(io.Discard, "", 0)},
		})
		_ = fc.Close()
		fc.sh.release()
	}, func() {}
}
