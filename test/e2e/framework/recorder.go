package framework

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"sync"
)

// RecordedRequest is one request a RecordingHTTPServer's handler saw, as
// net/http parsed it.
type RecordedRequest struct {
	Method, URI, Proto string
	Header             http.Header
	Body               string // the first 4 KiB
}

// Recorder is what a RecordingHTTPServer received: every raw byte read on
// every connection, in arrival order per connection, and every request its
// handler parsed.
type Recorder struct {
	mu    sync.Mutex
	conns []*bytes.Buffer
	reqs  []RecordedRequest
}

// recordCap bounds the raw bytes kept per connection.
const recordCap = 1 << 20

// Raw returns the raw bytes of every connection, each as one string.
func (r *Recorder) Raw() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, len(r.conns))
	for i, b := range r.conns {
		out[i] = b.String()
	}
	return out
}

// Requests returns the requests the handler has seen so far.
func (r *Recorder) Requests() []RecordedRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]RecordedRequest(nil), r.reqs...)
}

func (r *Recorder) newConn() *bytes.Buffer {
	r.mu.Lock()
	defer r.mu.Unlock()
	b := &bytes.Buffer{}
	r.conns = append(r.conns, b)
	return b
}

func (r *Recorder) wrote(b *bytes.Buffer, p []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if room := recordCap - b.Len(); room > 0 {
		b.Write(p[:min(len(p), room)])
	}
}

type recordingListener struct {
	net.Listener
	r *Recorder
}

func (l recordingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &recordingConn{Conn: c, r: l.r, buf: l.r.newConn()}, nil
}

type recordingConn struct {
	net.Conn
	r   *Recorder
	buf *bytes.Buffer
}

func (c *recordingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.r.wrote(c.buf, p[:n])
	}
	return n, err
}

// RecordingHTTPServer serves handler on a loopback port, recording every
// raw byte it reads and every request the handler gets (before handler
// runs), and returns its address (host:port) and the recorder.
func (f *Framework) RecordingHTTPServer(handler http.Handler) (string, *Recorder) {
	f.t.Helper()
	rec := &Recorder{}
	record := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(req.Body, 4<<10))
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, RecordedRequest{Method: req.Method, URI: req.RequestURI, Proto: req.Proto,
			Header: req.Header.Clone(), Body: string(body)})
		rec.mu.Unlock()
		handler.ServeHTTP(w, req)
	})
	addr := f.serveHTTP(record, func(l net.Listener) net.Listener { return recordingListener{Listener: l, r: rec} })
	return addr, rec
}
