package http

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/burrowproject/burrow/conf"
	"github.com/burrowproject/burrow/plugins/sdk"
)

// This file is the instance's side of the HTTP inspector (inspect=): each
// request's metadata, headers (redacted by sdk.Redact before they leave
// the handler) and, with inspect=body, the first sdk.MaxInspectBody bytes
// of each body, handed to the host's sdk.Recorder when the response is
// done. An instance with inspect off never reaches this file: serve checks
// one pointer, so the request path allocates, locks and copies nothing
// more than without the inspector.

// inspection is one request being recorded.
type inspection struct {
	ex    *sdk.Exchange
	start time.Time
	body  *inspectBody
	w     *inspectWriter
}

// begin starts recording r: it wraps the request body and the response
// writer with counting (and, for bodies, capturing) ones.
func (in *instance) begin(w http.ResponseWriter, r *http.Request) (*inspection, http.ResponseWriter, *http.Request) {
	bodies := in.set.inspect == conf.InspectBodies
	now := time.Now()
	ex := &sdk.Exchange{
		Instance: in.id, ID: newRequestID(), Time: now, Method: r.Method, Host: NormalizeHost(r.Host),
		Path: r.URL.RequestURI(), Proto: r.Proto, Client: r.RemoteAddr, BodiesRecorded: bodies,
	}
	if r.RequestURI != "" && r.URL.Scheme == "" {
		ex.Path = r.RequestURI // as the client sent it
	}
	ex.ReqHeader, ex.HeadersTruncated = sdk.BoundHeader(r.Header)
	is := &inspection{ex: ex, start: now}
	if r.Body != nil && r.Body != http.NoBody {
		is.body = &inspectBody{rc: r.Body, capture: bodies}
		r.Body = is.body
	}
	is.w = &inspectWriter{ResponseWriter: w, is: is, capture: bodies}
	return is, is.w, r
}

// finish hands the finished exchange to the recorder.
func (in *instance) finish(is *inspection) {
	ex := is.ex
	ex.Duration = time.Since(is.start)
	if b := is.body; b != nil {
		ex.ReqBytes, ex.ReqBody, ex.ReqTruncated = b.n, b.buf.bytes, b.buf.truncated
	}
	w := is.w
	ex.Status, ex.RespBytes = w.status, w.n
	ex.RespBody, ex.RespTruncated = w.buf.bytes, w.buf.truncated
	sdk.Redact(ex.ReqHeader)
	sdk.Redact(ex.RespHeader)
	in.rec.Record(ex)
}

// requestID is the id naming this request's answer: the inspected
// exchange's, so a page and its record agree, else a fresh one.
func requestID(is *inspection) string {
	if is != nil {
		return is.ex.ID
	}
	return newRequestID()
}

// failed notes the class of failure the proxy answered with.
func (is *inspection) failed(msg string) {
	if is != nil {
		is.ex.Error = msg
	}
}

// capped keeps the first sdk.MaxInspectBody bytes written to it.
type capped struct {
	bytes     []byte
	truncated bool
}

func (c *capped) add(p []byte) {
	room := sdk.MaxInspectBody - len(c.bytes)
	if len(p) > room {
		p, c.truncated = p[:room], true
	}
	if len(p) > 0 {
		if c.bytes == nil {
			c.bytes = make([]byte, 0, min(sdk.MaxInspectBody, max(len(p), 512)))
		}
		c.bytes = append(c.bytes, p...)
	}
}

// inspectBody counts (and with capture keeps the start of) a request body.
type inspectBody struct {
	rc      io.ReadCloser
	n       int64
	capture bool
	buf     capped
}

func (b *inspectBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.n += int64(n)
	if b.capture {
		b.buf.add(p[:n])
	}
	return n, err
}

func (b *inspectBody) Close() error { return b.rc.Close() }

// inspectWriter counts (and with capture keeps the start of) a response,
// and snapshots its headers when they are written.
type inspectWriter struct {
	http.ResponseWriter
	is      *inspection
	status  int
	n       int64
	capture bool
	buf     capped
}

func (w *inspectWriter) snapshot() {
	w.is.ex.RespHeader, _ = sdk.BoundHeader(w.ResponseWriter.Header())
}

func (w *inspectWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 { // 1xx are interim responses
		w.status = code
		w.snapshot()
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *inspectWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	n, err := w.ResponseWriter.Write(p)
	w.n += int64(n)
	if w.capture {
		w.buf.add(p[:n])
	}
	return n, err
}

// Unwrap lets http.ResponseController reach the connection (flushes and
// deadlines of the proxy's copy).
func (w *inspectWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush implements http.Flusher for callers that assert it.
func (w *inspectWriter) Flush() {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Hijack implements http.Hijacker: an upgrade leaves through the host.
func (w *inspectWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(w.ResponseWriter).Hijack()
}
