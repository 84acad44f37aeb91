package framework

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/burrowproject/burrow/internal/testutil"
)

// The mock servers listen on 127.0.0.1:0, are closed at cleanup, and stop
// every goroutine they started (Main checks with goleak).

// streamServer accepts TCP connections and hands each to handle, tracking
// them so close can end them all.
type streamServer struct {
	l      net.Listener
	handle func(net.Conn)
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

func (f *Framework) startStream(what string, handle func(net.Conn)) *streamServer {
	f.t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.t.Fatalf("e2e: %s listen: %v", what, err)
	}
	s := &streamServer{l: l, handle: handle, conns: make(map[net.Conn]struct{})}
	s.wg.Go(s.acceptLoop)
	f.addCloser(func() error { return s.close(what) })
	return s
}

func (s *streamServer) acceptLoop() {
	for {
		c, err := s.l.Accept()
		if err != nil {
			return // closed
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			_ = c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Go(func() {
			defer func() {
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
				_ = c.Close()
			}()
			s.handle(c)
		})
	}
}

func (s *streamServer) close(what string) error {
	s.mu.Lock()
	s.closed = true
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	_ = s.l.Close()
	return waitGroupTimeout(&s.wg, mockStopWait, what)
}

// TCPEcho starts a TCP server that writes back everything it reads, and
// returns its address.
func (f *Framework) TCPEcho() string {
	f.t.Helper()
	s := f.startStream("tcp echo", func(c net.Conn) {
		buf := make([]byte, 64<<10)
		_, _ = io.CopyBuffer(c, c, buf)
	})
	return s.l.Addr().String()
}

// Sink is a TCP server that reads every connection to its end and records
// how many bytes it got and their SHA-256.
type Sink struct {
	Addr string

	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every change
	conns   []*sinkConn
}

// SinkConn is what a Sink knows about one connection.
type SinkConn struct {
	Bytes  int64
	SHA256 string // hex; final once Closed
	Closed bool   // the peer closed (EOF) or the connection failed
	Err    error  // the read error other than EOF, if any
}

type sinkConn struct {
	stats SinkConn
	h     hash.Hash
}

// TCPSink starts a Sink.
func (f *Framework) TCPSink() *Sink {
	f.t.Helper()
	sink := &Sink{changed: make(chan struct{})}
	s := f.startStream("tcp sink", sink.serve)
	sink.Addr = s.l.Addr().String()
	return sink
}

func (s *Sink) serve(c net.Conn) {
	sc := &sinkConn{h: sha256.New()}
	s.mu.Lock()
	s.conns = append(s.conns, sc)
	s.notifyLocked()
	s.mu.Unlock()
	buf := make([]byte, 64<<10)
	for {
		n, err := c.Read(buf)
		s.mu.Lock()
		if n > 0 {
			sc.h.Write(buf[:n])
			sc.stats.Bytes += int64(n)
		}
		if err != nil {
			sc.stats.Closed = true
			if !errors.Is(err, io.EOF) {
				sc.stats.Err = err
			}
		}
		sc.stats.SHA256 = hex.EncodeToString(sc.h.Sum(nil))
		s.notifyLocked()
		s.mu.Unlock()
		if err != nil {
			return
		}
	}
}

func (s *Sink) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// Accepted is how many connections the sink has accepted.
func (s *Sink) Accepted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Conns returns a snapshot of every connection, in accept order.
func (s *Sink) Conns() []SinkConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]SinkConn, len(s.conns))
	for i, c := range s.conns {
		out[i] = c.stats
	}
	return out
}

// WaitClosed waits until at least n connections have ended and returns the
// snapshot.
func (s *Sink) WaitClosed(n int, timeout time.Duration) ([]SinkConn, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		s.mu.Lock()
		closed := 0
		for _, c := range s.conns {
			if c.stats.Closed {
				closed++
			}
		}
		changed := s.changed
		s.mu.Unlock()
		if closed >= n {
			return s.Conns(), nil
		}
		select {
		case <-changed:
		case <-timer.C:
			return s.Conns(), fmt.Errorf("sink: %d of %d connections ended within %v", closed, n, timeout)
		}
	}
}

// UDPEcho starts a UDP server that sends every datagram back to its sender,
// and returns its address.
func (f *Framework) UDPEcho() string {
	f.t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		f.t.Fatalf("e2e: udp echo listen: %v", err)
	}
	testutil.EchoPackets(f.t, pc)
	return pc.LocalAddr().String()
}

// HTTPServer serves handler on a loopback port and returns its address
// (host:port, no scheme).
func (f *Framework) HTTPServer(handler http.Handler) string {
	f.t.Helper()
	addr, _ := f.CountedHTTPServer(handler)
	return addr
}

// Traffic is what a counted server read and wrote on all its connections,
// raw bytes on the wire (HTTP heads, WebSocket frames and all).
type Traffic struct {
	Read, Written atomic.Int64
}

// countingListener counts the bytes of every connection it accepts.
type countingListener struct {
	net.Listener
	t *Traffic
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, t: l.t}, nil
}

type countingConn struct {
	net.Conn
	t *Traffic
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.t.Read.Add(int64(n))
	return n, err
}

func (c *countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.t.Written.Add(int64(n))
	return n, err
}

// CountedHTTPServer is HTTPServer that also counts the raw bytes it reads
// and writes on all its connections: what a proxy sent it and what it
// answered.
func (f *Framework) CountedHTTPServer(handler http.Handler) (string, *Traffic) {
	f.t.Helper()
	traffic := &Traffic{}
	addr := f.serveHTTP(handler, func(l net.Listener) net.Listener { return countingListener{Listener: l, t: traffic} })
	return addr, traffic
}

// serveHTTP serves handler on a loopback listener, wrapped by wrap, until
// cleanup, and returns its address.
func (f *Framework) serveHTTP(handler http.Handler, wrap func(net.Listener) net.Listener) string {
	f.t.Helper()
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.t.Fatalf("e2e: http server listen: %v", err)
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	var wg sync.WaitGroup
	wg.Go(func() { _ = srv.Serve(wrap(tl)) })
	f.addCloser(func() error {
		_ = srv.Close()
		return waitGroupTimeout(&wg, mockStopWait, "http server")
	})
	return tl.Addr().String()
}

// WSEcho starts a WebSocket server that echoes text and binary messages
// with their type (at any path) and answers pings, and returns its address
// (dial ws://ADDR/).
func (f *Framework) WSEcho() string {
	f.t.Helper()
	addr, _ := f.WSEchoCounted()
	return addr
}

// WSEchoCounted is WSEcho that also counts the bytes the server read and
// wrote, handshakes and frames included: what a tunnel in front of it must
// have counted once every connection has ended.
func (f *Framework) WSEchoCounted() (string, *Traffic) {
	f.t.Helper()
	ws := &wsEcho{conns: make(map[*websocket.Conn]struct{})}
	ws.upgrader.CheckOrigin = func(*http.Request) bool { return true }
	addr, traffic := f.CountedHTTPServer(ws)
	// Registered after the HTTP server, so it runs first: hijacked
	// connections are invisible to http.Server.Close.
	f.addCloser(ws.close)
	return addr, traffic
}

type wsEcho struct {
	upgrader websocket.Upgrader
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    map[*websocket.Conn]struct{}
	closed   bool
}

func (ws *wsEcho) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c, err := ws.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // Upgrade has answered with an HTTP error
	}
	ws.mu.Lock()
	if ws.closed {
		ws.mu.Unlock()
		_ = c.Close()
		return
	}
	ws.conns[c] = struct{}{}
	ws.wg.Add(1)
	ws.mu.Unlock()
	defer func() {
		ws.mu.Lock()
		delete(ws.conns, c)
		ws.mu.Unlock()
		_ = c.Close()
		ws.wg.Done()
	}()
	testutil.EchoWebSocket(c)
}

func (ws *wsEcho) close() error {
	ws.mu.Lock()
	ws.closed = true
	for c := range ws.conns {
		_ = c.Close()
	}
	ws.mu.Unlock()
	return waitGroupTimeout(&ws.wg, mockStopWait, "ws echo")
}

// RefusingAddr returns a loopback address nothing listens on: connecting
// to it is refused. The port comes from the framework's allocator, so no
// other spec binds it.
func (f *Framework) RefusingAddr() string {
	f.t.Helper()
	return Addr(f.Port())
}
