package tlsx

import (
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
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

	// hot: the last record begun was a full one, bulk is flowing, and the
	// next read looks for what waits in the socket without waiting (see
	// Read), until a look finds nothing. sock is the socket looked at
	// (found at the first look, when found is set; nil when there is
	// none).
	hot   bool
	found bool
	sock  syscall.RawConn
	looks int // reads of the socket that did not wait, for tests
	// largest is the longest record body handed to TLS so far: TLS's own
	// read buffer holds at least that much for the connection's life (it
	// never shrinks; golang/go#43563). Read by others (LargestRecord).
	largest atomic.Int32

	// The write side: while a batch is open (WriteRecords), the records
	// TLS writes gather in *batch and go to the socket in one write when
	// it closes. werr is the socket's write error, returned by every
	// write after it (TLS's own state is broken by then too). wmu is held
	// across the socket's writes, by design: it orders a batch's flush
	// with TLS's other writes as TLS's own lock orders its records (only
	// TLS's writers and the batch's owner take it).
	wmu   sync.Mutex
	batch *[]byte // pooled, the records gathered; nil when no batch is open
	werr  error
}

const (
	recordHeaderLen = 5
	// aheadSize bounds what one read takes beyond the current record: a
	// frame of full records (see batchSize), so that a reader that
	// gathers whole records (RecordReady) gets a frame from one read of
	// the socket.
	aheadSize = batchSize
)

// batchSize holds a frame of four full records (16 KiB of plaintext each
// and TLS 1.3's 22 bytes around it) and some.
const batchSize = 4*(16<<10+22) + 512

// batchPool holds the buffers records gather in while a batch is open.
var batchPool = sync.Pool{New: func() any { b := make([]byte, 0, batchSize); return &b }}

// aheadPool holds the buffers of bytes read beyond a record. A sync.Pool
// is a cache, not shared state: what one caller puts in, no caller can
// observe.
var aheadPool = sync.Pool{New: func() any { b := make([]byte, aheadSize); return &b }}

// NewRecordConn returns c, for TLS to be run over.
func NewRecordConn(c net.Conn) *RecordConn { return &RecordConn{Conn: c} }

// NetConn is the connection under c, for netx.Reset and netx.TCP.
func (c *RecordConn) NetConn() net.Conn { return c.Conn }

// Read reads at most the rest of the current record.
//
// TLS reads into a buffer of about one record, so a read of the socket
// into it takes one record at a time. While bulk flows (the last record
// begun was a full one), a read takes what waits in the socket, up to a
// frame (aheadSize), into a pooled buffer without waiting, and hands TLS
// its records from there: a frame of four records costs one system call.
// When nothing waits, the buffer goes back and the read waits as any
// other, holding only TLS's: a connection blocked in a read holds no
// buffer of its own.
func (c *RecordConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if len(c.ahead) == 0 && c.err == nil && c.hot && len(p) < aheadSize {
		c.readWaiting()
	}
	if len(c.ahead) == 0 {
		if c.err != nil {
			err := c.err
			c.err = nil
			return 0, err
		}
		return c.readInto(p)
	}
	n := c.bound(p[:copy(p, c.ahead)])
	c.ahead = c.ahead[n:]
	if len(c.ahead) == 0 {
		aheadPool.Put(c.stash)
		c.stash, c.ahead = nil, nil
	}
	return n, nil
}

// readWaiting appends what waits in the socket to c.ahead, in a pooled
// buffer, without waiting; a socket's end or error becomes c.err, after
// what is ahead. When nothing waits (or there is no socket to look at),
// c is no longer hot.
func (c *RecordConn) readWaiting() {
	sock := c.socket()
	if sock == nil {
		c.hot = false
		return
	}
	if c.stash == nil {
		c.stash = aheadPool.Get().(*[]byte)
	}
	have := copy(*c.stash, c.ahead) // to the front: what is ahead begins the buffer
	if have == len(*c.stash) {
		return // a frame waits already (never less than a record: see RecordReady)
	}
	n, err := readNow(sock, (*c.stash)[have:])
	c.looks++
	c.ahead = (*c.stash)[:have+max(n, 0)]
	switch {
	case n > 0:
	case err == nil:
		c.err = io.EOF
	case errors.Is(err, errWouldBlock):
		c.hot = false
	default:
		var op *net.OpError
		if !errors.As(err, &op) { // the socket's own error: as its Read would report it
			err = &net.OpError{Op: "read", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
		}
		c.err = err
	}
	if len(c.ahead) == 0 {
		aheadPool.Put(c.stash)
		c.stash, c.ahead = nil, nil
	}
}

// socket is the socket under c's connection, when nothing waits above
// it: c's connection itself, or one that peeked at its first bytes
// (Buffered) and has none left; nil otherwise.
func (c *RecordConn) socket() syscall.RawConn {
	under := c.Conn
	if b, ok := under.(interface {
		Buffered() int
		NetConn() net.Conn
	}); ok {
		if b.Buffered() > 0 {
			return nil
		}
		under = b.NetConn()
	}
	if !c.found {
		c.found = true
		if tc, ok := under.(*net.TCPConn); ok {
			c.sock, _ = tc.SyscallConn()
		}
	}
	return c.sock
}

// readInto reads the socket into p, waiting for it: at most the rest of
// the current record and a frame beyond it, which waits in a pooled
// buffer (c.ahead).
func (c *RecordConn) readInto(p []byte) (int, error) {
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
	// A record that came in parts (after a peeked prefix, or split in
	// the socket) is read whole here when it fits in p, as TLS would read
	// it next: TLS would first grow its read buffer to ask for the rest
	// and some, and keep it grown for the connection's life.
	for k == n && err == nil && c.hdrN > 0 {
		rest := c.restToRead(len(p) - n)
		if rest == 0 {
			break
		}
		var m int
		m, err = c.Conn.Read(p[n : n+rest])
		k += c.bound(p[n : n+m])
		n += m
	}
	if k < n {
		c.stash = aheadPool.Get().(*[]byte)
		c.ahead = (*c.stash)[:copy(*c.stash, p[k:n])]
		c.err = err // after what waits ahead
		err = nil
	}
	return k, err
}

// restToRead is how many more bytes of the record begun belong to it and
// fit in room: the rest of its header, or of its body once the header is
// complete and the body fits; 0 when the record is done, does not fit, or
// its header is none TLS would wait for the body of (TLS then fails it,
// and so must not wait here).
func (c *RecordConn) restToRead(room int) int {
	switch {
	case c.hdrN < recordHeaderLen:
		return min(recordHeaderLen-c.hdrN, room)
	case !plausibleHeader(c.hdr) || c.body > room:
		return 0
	}
	return c.body
}

// plausibleHeader reports whether h could begin a TLS record: a known
// content type (change_cipher_spec 20 to application_data 23) and a
// version of 3.x.
func plausibleHeader(h [recordHeaderLen]byte) bool {
	return h[0] >= 20 && h[0] <= 23 && h[1] == 3
}

// Write writes p, one record of TLS's, to the socket, or into the open
// batch.
func (c *RecordConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.werr != nil {
		return 0, c.werr
	}
	if c.batch != nil {
		b := *c.batch
		if len(b)+len(p) > cap(b) {
			if err := c.flushLocked(); err != nil {
				return 0, err
			}
		}
		if len(p) <= cap(b) {
			*c.batch = append(*c.batch, p...)
			return len(p), nil
		}
	}
	n, err := c.Conn.Write(p)
	if err != nil {
		c.werr = err
	}
	return n, err
}

// flushLocked writes the gathered records, with wmu held.
func (c *RecordConn) flushLocked() error {
	if len(*c.batch) == 0 {
		return nil
	}
	_, err := c.Conn.Write(*c.batch)
	*c.batch = (*c.batch)[:0]
	if err != nil {
		c.werr = err
	}
	return err
}

// WriteRecords writes b to TLS connection c as TLS would, but when c runs
// over a RecordConn and b spans several records, the records go to the
// socket in one write instead of one each: a frame of 64 KiB costs one
// system call, not four.
func WriteRecords(c net.Conn, b []byte) (int, error) {
	rc := recordsUnder(c)
	if rc == nil || len(b) <= maxPlaintext {
		return c.Write(b)
	}
	rc.wmu.Lock()
	if rc.batch != nil { // another writer's batch: TLS orders the two
		rc.wmu.Unlock()
		return c.Write(b)
	}
	rc.batch = batchPool.Get().(*[]byte)
	rc.wmu.Unlock()
	n, err := c.Write(b)
	rc.wmu.Lock()
	ferr := rc.flushLocked()
	batchPool.Put(rc.batch) // empty: flushed, or the write failed and werr stays
	rc.batch = nil
	rc.wmu.Unlock()
	if err == nil && ferr != nil {
		return 0, ferr // TLS counted them written; none is known to be
	}
	return n, err
}

// errWouldBlock is readNow's error when nothing waits in the socket.
var errWouldBlock = errors.New("tlsx: nothing to read now")

// maxPlaintext is the most one TLS record carries.
const maxPlaintext = 16 << 10

// RecordReady reports whether TLS connection c's next Read returns
// without waiting for the socket: a whole record waits read ahead (or an
// error does) under TLS, reading what waits in the socket first while
// bulk flows (see RecordConn.Read). The record is application data, as
// every record on a link is once its handshake is over. Only c's reader
// may ask, between its reads.
func RecordReady(c net.Conn) bool {
	rc := recordsUnder(c)
	if rc == nil {
		return false
	}
	if !rc.wholeRecordAhead() && rc.err == nil && rc.hot {
		rc.readWaiting()
	}
	return rc.wholeRecordAhead() || rc.err != nil
}

func (c *RecordConn) wholeRecordAhead() bool {
	switch a := c.ahead; {
	case c.hdrN == recordHeaderLen:
		return len(a) >= c.body // the rest of the record being read
	case c.hdrN > 0 || len(a) < recordHeaderLen:
		return false
	default:
		return len(a) >= recordHeaderLen+int(binary.BigEndian.Uint16(a[3:recordHeaderLen]))
	}
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
				c.hot = c.body >= maxPlaintext
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
