// Package block refuses connections whose first bytes are a protocol the
// instance blocks (NodePass's block=: 1 SOCKS4/4a/5, 2 HTTP, 3 TLS). The
// check reads only what the user sends, as it arrives: nothing waits for
// bytes before the connection is set up, so a protocol in which the server
// speaks first is not delayed, and the other direction flows meanwhile.
package block

import (
	"errors"
	"fmt"
	"net"
	"strings"
)

// Set is a set of blocked protocols.
type Set uint8

// Protocols that can be blocked.
const (
	SOCKS Set = 1 << iota // SOCKS4, SOCKS4a, SOCKS5 (digit 1)
	HTTP                  // HTTP/1.x request line (digit 2)
	TLS                   // TLS handshake record (digit 3)
)

// Parse returns the set named by block= digits ("", "0" = none). conf has
// checked that only 0-3 appear.
func Parse(digits string) Set {
	var s Set
	for d, p := range map[byte]Set{'1': SOCKS, '2': HTTP, '3': TLS} {
		if strings.IndexByte(digits, d) >= 0 {
			s |= p
		}
	}
	return s
}

// Error is the error a blocked connection's first Read returns.
type Error struct{ Protocol string }

func (e *Error) Error() string { return "blocked " + e.Protocol + " connection" }

// IsBlocked reports whether err ended a connection because it was blocked,
// and which protocol it spoke.
func IsBlocked(err error) (string, bool) {
	var be *Error
	if errors.As(err, &be) {
		return be.Protocol, true
	}
	return "", false
}

// peekLen is the most a verdict needs: an HTTP method of up to 7 letters
// and its space.
const peekLen = 8

// verdict classifies the first bytes b: the protocol when blocked, "" when
// clean, or more=true while b is too short to tell.
func (s Set) verdict(b []byte) (protocol string, more bool) {
	if len(b) == 0 {
		return "", true
	}
	undecided := false
	if s&SOCKS != 0 {
		switch {
		case b[0] != 4 && b[0] != 5:
		case len(b) < 2:
			undecided = true
		case b[0] == 4 && (b[1] == 1 || b[1] == 2): // CONNECT or BIND
			return "SOCKS4", false
		case b[0] == 5 && b[1] >= 1 && b[1] <= 3: // number of auth methods
			return "SOCKS5", false
		}
	}
	if s&HTTP != 0 && isUpper(b[0]) {
		for i := 1; i < peekLen; i++ {
			if i == len(b) {
				undecided = true
				break
			}
			if b[i] == ' ' && i >= 3 { // GET, PUT, POST, DELETE, OPTIONS, CONNECT…
				return "HTTP", false
			}
			if !isUpper(b[i]) {
				break
			}
		}
	}
	if s&TLS != 0 && b[0] == 0x16 { // handshake record
		switch {
		case len(b) < 2:
			undecided = true
		case b[1] == 3:
			return "TLS", false
		}
	}
	return "", undecided
}

func isUpper(c byte) bool { return c >= 'A' && c <= 'Z' }

// Wrap returns c checking its first bytes against s, or c itself when s is
// empty. The first Read returns an *Error instead of the data when the
// connection speaks a blocked protocol; until it can tell, it reads on
// (at most peekLen bytes in all) and returns nothing of the user's.
func Wrap(c net.Conn, s Set) net.Conn {
	if s == 0 {
		return c
	}
	return &conn{Conn: c, set: s}
}

type conn struct {
	net.Conn
	set     Set
	buf     [peekLen]byte
	n       int
	pending []byte // checked bytes not yet returned
	checked bool
}

func (c *conn) Read(p []byte) (int, error) {
	if !c.checked {
		if err := c.check(); err != nil {
			return 0, err
		}
	}
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// check reads until the first bytes are known clean or blocked.
func (c *conn) check() error {
	for {
		n, err := c.Conn.Read(c.buf[c.n:])
		c.n += n
		protocol, more := c.set.verdict(c.buf[:c.n])
		if protocol != "" {
			return &Error{Protocol: protocol}
		}
		if !more || c.n == len(c.buf) || err != nil {
			c.checked, c.pending = true, c.buf[:c.n]
			if len(c.pending) == 0 && err != nil {
				return err
			}
			return nil
		}
	}
}

// CloseWrite half-closes c when it can, so the copy loop keeps half-close.
func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return fmt.Errorf("%T cannot half-close", c.Conn)
}
