// Package upgrade gates an HTTP/1.1 protocol upgrade on the backend's
// answer. A handed-off upgrade request becomes a byte pipe only after the
// backend answers 101 Switching Protocols for the very protocol the client
// asked for (Upgrade naming it, Connection: upgrade). Until then nothing
// the client sent after its request head is read from the client, and
// those bytes (Options.Pending, already read by the proxy) reach the
// backend only after the 101. Any other answer is relayed to the client as
// one ordinary, correctly framed response with Connection: close, and the
// connection ends there: a request pipelined behind a refused upgrade is
// never forwarded unparsed (clients retry it on a new connection, which
// the proxy parses and checks like any other).
//
// The response head is bounded (MaxHead) and must arrive within
// Options.Timeout. The host (server/host Handoff) and the plugin-side
// fallback (plugins/sdk, for connections that cannot be passed as a
// descriptor) both run this one Gate.
package upgrade

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/burrowproject/burrow/internal/netx"
)

// MaxHead bounds the backend's response head (interim 1xx heads and the
// bytes read past the final head included), the same bound the http entry
// puts on request heads.
const MaxHead = 64 << 10

// DefaultTimeout is how long the backend may take for its response head
// when Options.Timeout is 0.
const DefaultTimeout = 60 * time.Second

// Options say what the client asked for and how to count.
type Options struct {
	// Protocol is the protocol the client asked to switch to ("websocket");
	// only a 101 naming it switches.
	Protocol string
	// Pending are the bytes the client sent after its request head; they are
	// written to the backend after its 101, never before.
	Pending []byte
	// Timeout bounds the wait for the backend's response head; 0 means
	// DefaultTimeout.
	Timeout time.Duration
	// RequestID is named in the pages the gate answers with itself.
	RequestID string
	// FromUser counts (and limits) the bytes the gate writes to the link on
	// the user's behalf (Pending); ToUser what it writes to the user.
	FromUser, ToUser netx.Flow
}

// Gate waits for the backend's answer to an upgrade request whose head was
// already written to link. It reports true when the connection switched
// protocols: the 101 head (and any bytes the backend sent after it) went to
// user, Pending went to link, and the caller now copies both ways. On
// false the gate has answered user (the backend's own response, or a 502
// or 504 page when that answer cannot be passed on), closed user after a
// lingering close, and the caller closes link. The error says what was
// wrong with the backend's answer; it is nil for a well-formed refusal.
func Gate(user, link net.Conn, head []byte, o Options) (bool, error) {
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	_ = link.SetReadDeadline(time.Now().Add(timeout))
	rec := &recorder{r: link, max: MaxHead}
	br := bufio.NewReaderSize(rec, 4<<10)
	req := &http.Request{Method: method(head)}
	var resp *http.Response
	start := 0
	for {
		start = len(rec.buf) - br.Buffered()
		var err error
		resp, err = http.ReadResponse(br, req)
		if err != nil {
			return false, o.refuse(user, headError(err, rec.over, timeout))
		}
		if resp.StatusCode == http.StatusSwitchingProtocols || resp.StatusCode >= 200 {
			break
		}
		// An interim answer (100 Continue, 103 Early Hints) has no body;
		// the final answer follows within the same bounds.
	}
	_ = link.SetReadDeadline(time.Time{})
	rec.done = true // a body is not part of the head: no more recording or bound
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return false, relay(user, resp, o)
	}
	if err := switches(resp, o.Protocol); err != nil {
		return false, o.refuse(user, &Failure{Status: http.StatusBadGateway, Msg: msgInvalid, Err: err})
	}
	_ = user.SetWriteDeadline(time.Now().Add(timeout))
	if err := write(user, rec.buf[start:], o.ToUser); err != nil {
		_ = user.Close()
		return false, fmt.Errorf("write the 101 answer to the user: %w", err)
	}
	_ = user.SetWriteDeadline(time.Time{})
	if len(o.Pending) > 0 {
		if err := write(link, o.Pending, o.FromUser); err != nil {
			_ = user.Close()
			return false, fmt.Errorf("write the user's early bytes to the backend: %w", err)
		}
	}
	return true, nil
}

// Failure is an answer from the backend that cannot be passed on, or none
// in time; Status and Msg are what the user is told.
type Failure struct {
	Status int
	Msg    string
	Err    error
}

func (f *Failure) Error() string { return f.Err.Error() }
func (f *Failure) Unwrap() error { return f.Err }

// The sentences the user reads: the class of failure only.
const (
	msgClosed  = "The backend closed the connection without a complete answer."
	msgInvalid = "The backend sent an answer the proxy cannot pass on."
	msgTimeout = "The backend did not answer in time."
)

// headError classifies a failure to read the backend's response head.
func headError(err error, over bool, timeout time.Duration) *Failure {
	var ne net.Error
	switch {
	case over:
		return &Failure{Status: http.StatusBadGateway, Msg: msgInvalid, Err: fmt.Errorf("response head larger than %d bytes", MaxHead)}
	case errors.As(err, &ne) && ne.Timeout():
		return &Failure{Status: http.StatusGatewayTimeout, Msg: msgTimeout, Err: fmt.Errorf("no response head within %v: %w", timeout, err)}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return &Failure{Status: http.StatusBadGateway, Msg: msgClosed, Err: fmt.Errorf("backend closed before its response head: %w", err)}
	}
	return &Failure{Status: http.StatusBadGateway, Msg: msgInvalid, Err: fmt.Errorf("malformed response head: %w", err)}
}

// switches checks that a 101 switches to the protocol asked for.
func switches(resp *http.Response, protocol string) error {
	if !resp.ProtoAtLeast(1, 1) {
		return fmt.Errorf("101 in %s", resp.Proto)
	}
	if got := resp.Header.Values("Upgrade"); len(got) != 1 || !strings.EqualFold(strings.TrimSpace(got[0]), protocol) {
		return fmt.Errorf("101 switches to %q, the client asked for %q", strings.Join(got, ", "), protocol)
	}
	if !hasToken(resp.Header, "Connection", "upgrade") {
		return fmt.Errorf("101 without Connection: upgrade (Connection %q)", resp.Header.Values("Connection"))
	}
	return nil
}

// relay passes a final non-101 answer on as a response of its own, framed
// anew from what was parsed, with Connection: close, then closes user.
func relay(user net.Conn, resp *http.Response, o Options) error {
	defer resp.Body.Close()
	RemoveHopByHop(resp.Header)
	resp.Proto, resp.ProtoMajor, resp.ProtoMinor = "HTTP/1.1", 1, 1
	resp.Close = true
	bw := bufio.NewWriterSize(&flowWriter{w: user, f: o.ToUser}, 4<<10)
	err := resp.Write(bw)
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		// The backend's answer broke off (or the user left): what was read
		// goes out, and the user sees a reset, never a clean end.
		_ = bw.Flush()
		reset(user)
		return fmt.Errorf("relay the backend's %d answer: %w", resp.StatusCode, err)
	}
	Linger(user)
	return nil
}

// reset closes c so that its peer sees a reset (TCP), not an orderly end.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

// refuse answers user with f's page, closes it, and returns f.
func (o Options) refuse(user net.Conn, f *Failure) error {
	_ = user.SetWriteDeadline(time.Now().Add(time.Second))
	_ = write(user, Page(f.Status, f.Msg, o.RequestID), o.ToUser)
	Linger(user)
	return f
}

// method is the request method: the head's first word.
func method(head []byte) string {
	m, _, _ := bytes.Cut(head, []byte(" "))
	return string(m)
}

// hasToken reports whether a comma-separated header lists tok.
func hasToken(h http.Header, key, tok string) bool {
	for _, v := range h.Values(key) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), tok) {
				return true
			}
		}
	}
	return false
}

// recorder keeps what the head reader reads from the link, up to max
// bytes, so a 101 head goes to the user byte for byte; once done it only
// passes reads through.
type recorder struct {
	r    io.Reader
	buf  []byte
	max  int
	over bool
	done bool
}

func (r *recorder) Read(p []byte) (int, error) {
	if r.done {
		return r.r.Read(p)
	}
	room := r.max - len(r.buf)
	if room <= 0 {
		r.over = true
		return 0, errors.New("response head too large")
	}
	n, err := r.r.Read(p[:min(len(p), room)])
	r.buf = append(r.buf, p[:n]...)
	return n, err
}

// write writes p whole to w, counting and limiting per f.
func write(w io.Writer, p []byte, f netx.Flow) error {
	_, err := (&flowWriter{w: w, f: f}).Write(p)
	return err
}

// flowWriter counts and limits what passes through it.
type flowWriter struct {
	w io.Writer
	f netx.Flow
}

func (fw *flowWriter) Write(p []byte) (int, error) {
	if err := netx.Wait(fw.f.Limit, len(p)); err != nil {
		return 0, err
	}
	n, err := fw.w.Write(p)
	if fw.f.Count != nil {
		fw.f.Count.Add(int64(n))
	}
	return n, err
}
