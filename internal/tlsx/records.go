package tlsx

import (
	"crypto/tls"
	"encoding/binary"
	"net"
	"sync"
	"sync/atomic"
)

// RecordConn is the connection under a tls.Conn that hands TLS at most the
// rest of one record per Read. What a read from the socket brought beyond
// that waits in a pooled buffer of its own, returned once drained.
//
// TLS asks for no more than the record it is reading, so over a RecordConn
// a tls.Conn holds no byte of the stream once its Read returned less than
// was asked for (that record's plaintext is drained, and no later record
// was read ahead). Buffered then tells whether bytes wait here; when none
// do, the next byte can only come from the socket, and a reader may wait
// for the socket to become readable without holding a buffer (see
// netx.Awaitable).
type RecordConn struct {
	net.Conn
	stash *[]byte // pooled; nil when nothing waits
	ahead []byte  // the unread part of *stash
	err   error   // the socket's error, returned once ahead is drained

	// The record being delivered: its header bytes seen so far and, once
	// the header is complete, how many of its body bytes are still to come.
	hdr  [recordHeaderLen]byte
	hdrN int
	body int

	// largest is the longest record body handed to TLS so far: TLS's own
	// read buffer holds at least that much for the connection's life (it
	// never shrinks; golang/go#43563). Read by others (LargestRecord).
	largest atomic.Int32
}

const (
	recordHeaderLen = 5
	// aheadSize bounds what one read takes beyond the current record: a
	// full record (16 KiB of plaintext and its overhead) and some.
	aheadSize = 18 << 10
)

// aheadPool holds the buffers of bytes read beyond a record. A sync.Pool
// is a cache, not shared state: what one caller puts in, no caller can
// observe.
var aheadPool = sync.Pool{New: func() any { b := make([]byte, aheadSize); return &b }}

// NewRecordConn returns c, for TLS to be run over.
func NewRecordConn(c net.Conn) *RecordConn { return &RecordConn{Conn: c} }

// NetConn is the connection under c, for netx.Reset and netx.TCP.
func (c *RecordConn) NetConn() net.Conn { return c.Conn }

// Read reads at most the rest of the current record.
func (c *RecordConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if len(c.ahead) > 0 {
		n := c.bound(p[:copy(p, c.ahead)])
		c.ahead = c.ahead[n:]
		if len(c.ahead) == 0 {
			aheadPool.Put(c.stash)
			c.stash, c.ahead = nil, nil
		}
		return n, nil
	}
	if c.err != nil {
		err := c.err
		c.err = nil
		return 0, err
	}
	// At most the rest of this record (of its header, when that is not
	// complete yet) and what fits ahead.
	known := recordHeaderLen - c.hdrN
	if c.hdrN == recordHeaderLen {
		known = c.body
	}
	p = p[:min(len(p), known+aheadSize)]
	n, err := c.Conn.Read(p)
	if n <= 0 {
		return n, err
	}
	k := c.bound(p[:n])
	if k < n {
		c.stash = aheadPool.Get().(*[]byte)
		c.ahead = (*c.stash)[:copy(*c.stash, p[k:n])]
		c.err = err // after what waits ahead
		err = nil
	}
	return k, err
}

// Buffered reports whether bytes (or an error) wait to be read that the
// socket will not signal: read ahead here, or buffered below.
func (c *RecordConn) Buffered() bool {
	if len(c.ahead) > 0 || c.err != nil {
		return true
	}
	b, ok := c.Conn.(interface{ Buffered() int })
	return ok && b.Buffered() > 0
}

// bound advances the record parser over b and returns how many of its
// bytes belong to the current record: all of b, or up to the record's
// end.
func (c *RecordConn) bound(b []byte) int {
	i := 0
	for i < len(b) {
		if c.hdrN < recordHeaderLen {
			c.hdr[c.hdrN] = b[i]
			c.hdrN++
			i++
			if c.hdrN == recordHeaderLen {
				c.body = int(binary.BigEndian.Uint16(c.hdr[3:]))
				if int32(c.body) > c.largest.Load() {
					c.largest.Store(int32(c.body))
				}
				if c.body == 0 {
					c.hdrN = 0
					return i
				}
			}
			continue
		}
		k := min(c.body, len(b)-i)
		c.body -= k
		i += k
		if c.body == 0 {
			c.hdrN = 0
			return i
		}
	}
	return i
}

// BelowRecords returns the connection a TLS connection c's RecordConn
// reads from (its socket, or what wraps it), or nil when c is not TLS over
// a RecordConn: where netx.Awaitable may wait.
func BelowRecords(c net.Conn) net.Conn {
	if rc := recordsUnder(c); rc != nil {
		return rc.Conn
	}
	return nil
}

// Buffered reports whether bytes of c may wait above its socket: false
// only when c is TLS over a RecordConn with nothing read ahead (and TLS's
// last Read returned short; see RecordConn).
func Buffered(c net.Conn) bool {
	rc := recordsUnder(c)
	return rc == nil || rc.Buffered()
}

// LargestRecord is the longest record (its body, in bytes) TLS connection
// c has read over its RecordConn, which TLS's read buffer holds at least
// from then on; 0 when c is not TLS over a RecordConn.
func LargestRecord(c net.Conn) int {
	if rc := recordsUnder(c); rc != nil {
		return int(rc.largest.Load())
	}
	return 0
}

// recordsUnder returns the RecordConn a TLS connection c runs over, or
// nil when c is not TLS over one.
func recordsUnder(c net.Conn) *RecordConn {
	if tc, ok := c.(*tls.Conn); ok {
		rc, _ := tc.NetConn().(*RecordConn)
		return rc
	}
	return nil
}
