package http

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/burrowproject/burrow/internal/upgrade"
)

// This file checks every HTTP/1 request head on an entry before
// net/http parses it, refusing framing that a server or proxy behind or in
// front of Burrow could read differently (request smuggling). net/http
// refuses on its own: Content-Length values that differ, a Content-Length
// that is not a number, several Transfer-Encoding values or one that is
// not "chunked" (501), invalid header names (a space before the colon) and
// a missing or repeated Host. It silently normalises what this file
// refuses with 400 and a closed connection:
//
//   - Content-Length together with Transfer-Encoding (net/http drops the
//     Content-Length; RFC 9112 6.1 says close the connection after such a
//     request), and Transfer-Encoding in an HTTP/1.0 request (net/http
//     ignores it and reads the chunked body as the next request);
//   - repeated Content-Length, even when equal (net/http keeps one), and
//     one with a sign (+5);
//   - a line ending in a bare LF, a bare CR, and obsolete line folding;
//   - an absolute-form request URI naming a host other than the Host
//     header (net/http routes by the URI and drops the header).
//
// The checker reads the head with net/textproto, the parser net/http uses,
// so both see the same fields. It hands net/http no byte past the end of a
// head until it has checked that head, and then exactly the body
// Content-Length announces, so the next head it checks is the one
// net/http reads next. It does not follow chunked bodies: after a chunked
// request the entry closes the connection (entry.ServeHTTP), so nothing
// pipelined behind one is ever read.
//
// HTTPS entries check HTTP/1 the same way, inside TLS (tlsaccept.go);
// HTTP/2 connections are left to net/http's HTTP/2 server, whose binary
// framing has none of these ambiguities.

// errFraming is what net/http reads when the checker has refused a head
// (after writing its own 400 page): EOF, so net/http adds nothing.
var errFraming = io.EOF

// framing is how the body of a checked head is delimited.
type framing struct {
	length  int64 // Content-Length; 0 = no body
	chunked bool
}

// checkHead checks one request head (request line to the empty line,
// inclusive) and returns its body framing. sc, if not nil, is reused to
// read the fields.
func checkHead(head []byte, sc *scratch) (framing, error) {
	for i, c := range head {
		switch {
		case c == '\n' && (i == 0 || head[i-1] != '\r'):
			return framing{}, errors.New("line ends in a bare LF")
		case c == '\r' && (i+1 == len(head) || head[i+1] != '\n'):
			return framing{}, errors.New("bare CR")
		}
	}
	line, fields, ok := bytes.Cut(head, []byte("\r\n"))
	if !ok {
		return framing{}, errors.New("no request line")
	}
	if bytes.Contains(fields, []byte("\r\n ")) || bytes.Contains(fields, []byte("\r\n\t")) || len(fields) > 0 && (fields[0] == ' ' || fields[0] == '\t') {
		return framing{}, errors.New("obsolete line folding")
	}
	method, rest, ok1 := bytes.Cut(line, []byte(" "))
	target, proto, ok2 := bytes.Cut(rest, []byte(" "))
	major, minor, ok3 := http.ParseHTTPVersion(string(proto))
	if !ok1 || !ok2 || !ok3 || len(method) == 0 {
		return framing{}, fmt.Errorf("malformed request line %q", printable(string(line)))
	}
	if sc == nil {
		sc = &scratch{}
	}
	h, err := sc.fields(fields)
	if err != nil {
		return framing{}, fmt.Errorf("malformed header: %w", err)
	}
	for k := range h {
		if !isToken(k) { // textproto keeps "Name : v" under "Name "; net/http refuses it
			return framing{}, fmt.Errorf("invalid header name %q", printable(k))
		}
	}
	var f framing
	switch cl := h["Content-Length"]; {
	case len(cl) > 1:
		return framing{}, errors.New("repeated Content-Length")
	case len(cl) == 1:
		v := textproto.TrimString(cl[0])
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || v == "" || v[0] < '0' || v[0] > '9' {
			return framing{}, fmt.Errorf("invalid Content-Length %q", printable(cl[0]))
		}
		f.length = n
	}
	if te := h["Transfer-Encoding"]; len(te) > 0 {
		switch {
		case major == 1 && minor == 0:
			return framing{}, errors.New("Transfer-Encoding in an HTTP/1.0 request")
		case len(h["Content-Length"]) > 0:
			return framing{}, errors.New("both Content-Length and Transfer-Encoding")
		case len(te) != 1 || !asciiEqualFold(textproto.TrimString(te[0]), "chunked"):
			return framing{}, fmt.Errorf("unsupported Transfer-Encoding %q", printable(fmt.Sprint(te)))
		}
		f.chunked = true
	}
	hosts := h["Host"]
	if len(hosts) > 1 {
		return framing{}, errors.New("repeated Host")
	}
	if len(target) > 0 && target[0] != '/' && string(target) != "*" && string(method) != http.MethodConnect {
		u, err := url.ParseRequestURI(string(target))
		if err != nil {
			return framing{}, fmt.Errorf("malformed request target: %w", err)
		}
		if u.IsAbs() && len(hosts) == 1 && NormalizeHost(u.Host) != NormalizeHost(hosts[0]) {
			return framing{}, fmt.Errorf("absolute-form URI names host %q, Host says %q", printable(u.Host), printable(hosts[0]))
		}
	}
	return f, nil
}

// scratch is what reading a head's fields needs, kept per connection.
type scratch struct {
	rd bytes.Reader
	br *bufio.Reader
}

// fields reads b's header fields with net/textproto, as net/http does.
func (sc *scratch) fields(b []byte) (textproto.MIMEHeader, error) {
	sc.rd.Reset(b)
	if sc.br == nil {
		sc.br = bufio.NewReaderSize(&sc.rd, 1<<10)
	} else {
		sc.br.Reset(&sc.rd)
	}
	return textproto.NewReader(sc.br).ReadMIMEHeader()
}

// isToken reports whether s is an RFC 9110 token, as a field name must be.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i]|0x20, b[i]|0x20
		if x != y || a[i] >= 0x80 {
			return false
		}
	}
	return true
}

// checkedListener gives the entry's server connections whose request heads
// are checked first.
type checkedListener struct {
	net.Listener
	log     *slog.Logger
	headCap int
}

func (l checkedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &headConn{Conn: c, log: l.log, headCap: l.headCap}, nil
}

// What a headConn is passing on.
const (
	inHead = iota // a request head, checked at its end
	inBody        // remain bytes of a Content-Length body
	inFree        // anything: after a chunked head, or a head too large (net/http answers 431)
)

// headConn is a connection whose reader checks each request head before
// net/http sees its end. net/http reads it from one goroutine at a time.
type headConn struct {
	net.Conn
	log     *slog.Logger
	headCap int // heads larger than this are left to net/http's limit

	mode    int
	remain  int64  // inBody
	head    []byte // inHead: the head so far
	line    int    // bytes since the last LF
	content bool   // the head has a byte other than CR and LF
	sc      scratch
	held    []byte // read from the socket, not yet handed to net/http: held[hoff:]
	hoff    int
	refused atomic.Bool // a head was refused: net/http reads EOF from now on
	// lingering is set by the first Close after a refusal; net/http's
	// shutdown may call Close from another goroutine meanwhile.
	lingering atomic.Bool
}

func (c *headConn) Read(p []byte) (int, error) {
	if c.refused.Load() {
		return 0, errFraming
	}
	if len(p) == 0 {
		return 0, nil
	}
	var n int
	fromHeld := c.hoff < len(c.held)
	if fromHeld {
		n = copy(p, c.held[c.hoff:])
		c.hoff += n
	} else {
		var err error
		if n, err = c.Conn.Read(p); n == 0 {
			return 0, err
		} // an error with bytes comes back on the next read
	}
	k := c.pass(p[:n])
	if k < n { // the rest waits for the next read, in the next mode
		if fromHeld {
			c.hoff -= n - k
		} else {
			c.held, c.hoff = append(c.held[:0], p[k:n]...), 0
		}
	}
	if c.refused.Load() {
		return 0, errFraming
	}
	return k, nil
}

// pass returns how many bytes of b net/http may have now.
func (c *headConn) pass(b []byte) int {
	switch c.mode {
	case inBody:
		k := int(min(int64(len(b)), c.remain))
		if c.remain -= int64(k); c.remain == 0 {
			c.mode = inHead
		}
		return k
	case inFree:
		return len(b)
	}
	for i, ch := range b {
		switch {
		case ch == '\n':
			end := c.content && (c.line == 0 || c.line == 1 && c.lastByte(b, i) == '\r')
			c.line = 0
			if end {
				c.headDone(b[:i+1])
				return i + 1
			}
		case ch == '\r':
			c.line++
		default:
			c.line++
			c.content = true
		}
	}
	if c.head = append(c.head, b...); len(c.head) > c.headCap {
		c.mode, c.head = inFree, nil
	}
	return len(b)
}

// lastByte is the byte before b[i], which may be in the head so far.
func (c *headConn) lastByte(b []byte, i int) byte {
	if i > 0 {
		return b[i-1]
	}
	if len(c.head) > 0 {
		return c.head[len(c.head)-1]
	}
	return 0
}

// headDone checks the head ending with tail and sets the next mode, or
// refuses the connection with a 400 page.
func (c *headConn) headDone(tail []byte) {
	head := append(c.head, tail...)
	f, err := checkHead(bytes.TrimLeft(head, "\r\n"), &c.sc)
	c.head, c.line, c.content = head[:0], 0, false
	if cap(c.head) > 8<<10 {
		c.head = nil
	}
	switch {
	case err != nil:
		c.refuse(err)
	case f.chunked:
		c.mode = inFree
	case f.length > 0:
		c.mode, c.remain = inBody, f.length
	}
}

// refuse answers the client with a 400 page naming the class of the
// problem; the log line has the detail.
func (c *headConn) refuse(err error) {
	c.refused.Store(true)
	id := newRequestID()
	c.log.Debug("request refused: ambiguous or malformed framing", "request_id", id, "client", c.RemoteAddr().String(), "err", err)
	_ = c.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = c.Conn.Write(upgrade.Page(http.StatusBadRequest, "The request's framing is malformed or ambiguous.", id))
}

// CloseWrite ends the write side, as net/http does before it closes.
func (c *headConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// Close closes the connection; after a refusal it lingers first so the
// 400 page is not lost to a reset. A second Close (the server shutting
// down meanwhile) closes at once, which also ends the linger.
func (c *headConn) Close() error {
	if c.refused.Load() && c.lingering.CompareAndSwap(false, true) {
		upgrade.Linger(c.Conn)
		return nil
	}
	return c.Conn.Close()
}

// release returns the raw connection and the bytes read from it that
// net/http has not seen (for a hijacked upgrade, which then owns both).
func (c *headConn) release() (net.Conn, []byte) {
	return c.Conn, c.held[c.hoff:]
}
