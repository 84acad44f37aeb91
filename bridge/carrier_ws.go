package bridge

// The WebSocket carrier (type=2): each session rides one WebSocket, its
// smux frames in binary messages, over ws:// or wss://, so a bridge can
// sit behind the same reverse proxy or CDN as a website, on a path and
// Host of the user's choosing.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// wsBuffer is the size of a WebSocket's read and write buffers.
const wsBuffer = 32 << 10

// wsConn is a WebSocket as a byte stream: writes are binary messages,
// reads run through message boundaries.
type wsConn struct {
	ws  *websocket.Conn
	r   io.Reader // the message being read; nil between messages
	wmu sync.Mutex
}

func (c *wsConn) Read(p []byte) (int, error) {
	for {
		if c.r == nil {
			typ, r, err := c.ws.NextReader()
			if err != nil {
				return 0, err
			}
			if typ != websocket.BinaryMessage {
				return 0, fmt.Errorf("%w: a WebSocket text message in the tunnel", ErrMalformed)
			}
			c.r = r
		}
		n, err := c.r.Read(p)
		if errors.Is(err, io.EOF) {
			c.r = nil
			if n == 0 {
				continue
			}
			err = nil
		}
		return n, err
	}
}

func (c *wsConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.ws.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (c *wsConn) Close() error         { return c.ws.Close() }
func (c *wsConn) LocalAddr() net.Addr  { return c.ws.LocalAddr() }
func (c *wsConn) RemoteAddr() net.Addr { return c.ws.RemoteAddr() }
func (c *wsConn) SetDeadline(t time.Time) error {
	return errors.Join(c.ws.SetReadDeadline(t), c.ws.SetWriteDeadline(t))
}
func (c *wsConn) SetReadDeadline(t time.Time) error  { return c.ws.SetReadDeadline(t) }
func (c *wsConn) SetWriteDeadline(t time.Time) error { return c.ws.SetWriteDeadline(t) }

// wsCarrier dials a WebSocket per connection.
type wsCarrier struct {
	url    string
	header http.Header
	dialer *websocket.Dialer
}

func newWSCarrier(cfg CarrierConfig) *wsCarrier {
	scheme := "wss"
	if cfg.TLS == nil {
		scheme = "ws"
	}
	d := &websocket.Dialer{
		NetDialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			c, err := cfg.Dialer.DialContext(ctx, "tcp", cfg.Addr) // the proxy's address, whatever Host says
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetNoDelay(true)
			}
			return c, err
		},
		ReadBufferSize: wsBuffer, WriteBufferSize: wsBuffer,
	}
	if cfg.TLS != nil {
		d.TLSClientConfig = cfg.TLS.Clone()
		d.TLSClientConfig.NextProtos = []string{"http/1.1"}
	}
	host := cfg.Addr
	h := http.Header{}
	if cfg.Host != "" {
		host = cfg.Host
	}
	return &wsCarrier{url: scheme + "://" + host + cfg.Path, header: h, dialer: d}
}

func (c *wsCarrier) Type() CarrierType { return CarrierWebSocket }
func (c *wsCarrier) Close() error      { return nil }

func (c *wsCarrier) DialCarrier(ctx context.Context) (net.Conn, error) {
	ws, resp, err := c.dialer.DialContext(ctx, c.url, c.header)
	if err != nil {
		if resp != nil {
			defer resp.Body.Close()
			body, _ := io.ReadAll(io.LimitReader(resp.Body, MaxReasonLen))
			return nil, fmt.Errorf("WebSocket to bridge %s: HTTP %s: %s", c.url, resp.Status, strings.TrimSpace(string(body)))
		}
		return nil, fmt.Errorf("WebSocket to bridge %s: %w", c.url, err)
	}
	return &wsConn{ws: ws}, nil
}

// frontKey is the request context key of a WebSocket's *frontConn.
type frontKey struct{}

// newWSFront serves WebSocket upgrades on the bridge's path with an
// http.Server of bounded header size and time, no keep-alive (a request
// that is not an upgrade ends its connection) and no browser origins.
func (s *Server) newWSFront() (frontHandler, func()) {
	path := s.cfg.Path
	if path == "" {
		path = "/"
	}
	up := &websocket.Upgrader{
		HandshakeTimeout: s.cfg.HandshakeTimeout, ReadBufferSize: wsBuffer, WriteBufferSize: wsBuffer,
		// Agents are not browsers: a page elsewhere may not open the tunnel.
		CheckOrigin: func(r *http.Request) bool { return r.Header.Get("Origin") == "" },
	}
	mux := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fc, _ := r.Context().Value(frontKey{}).(*frontConn)
		switch {
		case fc == nil:
			http.Error(w, "no connection", http.StatusInternalServerError)
			return
		case r.URL.Path != path:
			http.Error(w, "not found", http.StatusNotFound)
			return
		case !websocket.IsWebSocketUpgrade(r):
			http.Error(w, "this is a Burrow bridge's WebSocket endpoint (type=2): it takes WebSocket upgrades only", http.StatusBadRequest)
			return
		}
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return // Upgrade answered
		}
		fc.sh.release() // the hello holds a slot of its own
		s.accept(&carriedConn{Conn: &wsConn{ws: ws}, kind: CarrierWebSocket, tls: fc.tls})
	})
	ln := newChanListener()
	hs := &http.Server{
		Handler: mux, ReadHeaderTimeout: s.cfg.HandshakeTimeout, MaxHeaderBytes: 8 << 10,
		ErrorLog: log.New(io.Discard, "", 0),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, frontKey{}, c)
		},
		ConnState: func(c net.Conn, st http.ConnState) {
			if fc, ok := c.(*frontConn); ok && st == http.StateClosed {
				fc.sh.release()
			}
		},
	}
	hs.SetKeepAlivesEnabled(false)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = hs.Serve(ln)
	}()
	return func(fc *frontConn) {
			if !ln.put(fc) {
				_ = fc.Close()
				fc.sh.release()
			}
		}, func() {
			_ = hs.Close() // closes ln and every connection not yet upgraded
			<-done
		}
}

// chanListener hands connections accepted elsewhere to an http.Server.
type chanListener struct {
	ch     chan net.Conn
	done   chan struct{}
	closed sync.Once
}

func newChanListener() *chanListener {
	return &chanListener{ch: make(chan net.Conn), done: make(chan struct{})}
}

// put hands c to the server; false once the listener is closed.
func (l *chanListener) put(c net.Conn) bool {
	select {
	case l.ch <- c:
		return true
	case <-l.done:
		return false
	}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.closed.Do(func() { close(l.done) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return &net.TCPAddr{} }
