package tlsx

import (
	"crypto/tls"
	"net"
	"sync"
	"sync/atomic"
)

// Conn is a TLS connection whose Write hands the records it makes to the
// socket in one write, and whose Read, after a full record, goes on with
// the records that have already arrived. A tls.Conn writes each record (at
// most 16 KiB of plaintext) with a system call of its own once the
// handshake is done, and its Read returns one record at most, so a 64 KiB
// copy chunk costs four writes on the sending end (each a trip through
// the kernel's TCP stack and a wakeup of the reader) and four reads and
// four writes of 16 KiB on the receiving one; with Conn, one of each.
//
// Everything else is the tls.Conn's. Close while a Write is blocked on a
// peer that does not read closes the socket at once, as tls.Conn's own
// Close does with a Write in flight, instead of queueing a close_notify
// behind it.
type Conn struct {
	*tls.Conn
	batch   *batchConn
	writing atomic.Int32 // Writes in flight, flushes included
	rmu     sync.Mutex   // one Read at a time: batch.noWait is its own
}

// Server returns the server side of TLS on raw, as tls.Server does, with
// batched writes.
func Server(raw net.Conn, cfg *tls.Config) *Conn {
	b := &batchConn{Conn: raw}
	return &Conn{Conn: tls.Server(b, cfg), batch: b}
}

// Client returns the client side of TLS on raw, as tls.Client does, with
// batched writes.
func Client(raw net.Conn, cfg *tls.Config) *Conn {
	b := &batchConn{Conn: raw}
	return &Conn{Conn: tls.Client(b, cfg), batch: b}
}

// Write encrypts p into records and writes them to the socket with one
// write (several when they exceed maxBatch).
func (c *Conn) Write(p []byte) (int, error) {
	// A handshake is never batched: its flight must go out before the
	// reply it waits for can come. Done already (Burrow shakes hands
	// before use), this costs an atomic load.
	if err := c.Conn.Handshake(); err != nil {
		return 0, err
	}
	c.writing.Add(1)
	defer c.writing.Add(-1)
	c.batch.hold()
	n, err := c.Conn.Write(p)
	if ferr := c.batch.release(); err == nil && ferr != nil {
		// Bytes the caller was told were taken did not reach the socket.
		return n, ferr
	}
	return n, err
}

// fullRecord is the most plaintext a TLS record carries. A Read that got
// a whole one is likely in the middle of a burst.
const fullRecord = 16 << 10

// Read reads as tls.Conn does; when that returned a full record and p has
// room, it adds what further records have already arrived (decrypted, or
// on the socket), without waiting for more. Small messages are returned
// as they come, with no extra system call.
func (c *Conn) Read(p []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	n, err := c.Conn.Read(p)
	if err != nil || n < fullRecord {
		return n, err
	}
	c.batch.noWait = true
	defer func() { c.batch.noWait = false }()
	for n < len(p) {
		m, err := c.Conn.Read(p[n:])
		n += m
		if err != nil || m == 0 {
			// Nothing more has arrived (errWouldBlock, which tls.Conn
			// keeps no record of), or an end or failure the next Read
			// returns again: these bytes come first.
			break
		}
	}
	return n, nil
}

// Close sends close_notify and closes the connection. With a Write in
// flight (blocked on a peer that does not read) it closes the socket
// straight away: the close_notify could only queue behind the blocked
// bytes, and the Write ends with an error.
func (c *Conn) Close() error {
	if c.writing.Load() > 0 {
		err := c.batch.Conn.Close()
		_ = c.Conn.Close()
		return err
	}
	return c.Conn.Close()
}

// maxBatch bounds what one batch holds before it is written: the records
// of a 64 KiB copy chunk (four full records and their overhead) fit.
const maxBatch = 80 << 10

// batchPool holds batch buffers; a connection holds one only while a
// Write is in flight. A sync.Pool is a cache, not shared state.
var batchPool = sync.Pool{New: func() any { b := make([]byte, 0, maxBatch); return &b }}

// batchConn is the socket under a Conn's tls.Conn. While a Write holds
// it, the records tls.Conn writes are appended to a buffer; the last
// release writes them. Outside a Write (the handshake, which tls.Conn
// buffers itself; an alert sent from Read) writes go straight through.
// While noWait is set, a read takes what has arrived and never waits.
type batchConn struct {
	net.Conn
	mu    sync.Mutex // orders appends and writes to the socket
	holds int
	buf   *[]byte // nil when nothing is held
	err   error   // the first failed write: records after it would not decrypt

	// Set and used by the one Conn.Read in progress (under its rmu).
	noWait bool
	nw     noWaitRead
}

// Read reads the socket; with noWait, only what has already arrived.
func (b *batchConn) Read(p []byte) (int, error) {
	if !b.noWait {
		return b.Conn.Read(p)
	}
	if bc, ok := b.Conn.(interface{ Buffered() int }); ok && bc.Buffered() > 0 {
		return b.Conn.Read(p) // a peeking wrapper's buffer: no wait
	}
	return b.readNoWait(p)
}

// errWouldBlock is a read that found nothing arrived. It is a temporary
// net.Error, as a read deadline's is, so tls.Conn keeps what it has read
// of a record and lets the next Read go on.
var errWouldBlock error = wouldBlock{}

type wouldBlock struct{}

func (wouldBlock) Error() string   { return "tls: no more input has arrived" }
func (wouldBlock) Timeout() bool   { return true }
func (wouldBlock) Temporary() bool { return true }

func (b *batchConn) hold() {
	b.mu.Lock()
	b.holds++
	b.mu.Unlock()
}

// release ends one hold; the last one writes what is buffered.
func (b *batchConn) release() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.holds--
	if b.holds > 0 {
		return nil
	}
	return b.flushLocked()
}

// flushLocked writes the buffer and gives it back to the pool.
func (b *batchConn) flushLocked() error {
	if b.buf == nil {
		return b.err
	}
	if b.err == nil {
		_, b.err = b.Conn.Write(*b.buf)
	}
	*b.buf = (*b.buf)[:0]
	batchPool.Put(b.buf)
	b.buf = nil
	return b.err
}

// writeLocked writes p to the socket; a failure sticks (tls.Conn, told
// earlier records were written, would go on numbering records the peer
// never got).
func (b *batchConn) writeLocked(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	n, err := b.Conn.Write(p)
	b.err = err
	return n, err
}

// Write is called by tls.Conn with one record (or a handshake flight) at
// a time. While held, it is buffered and reported written; an error of
// the socket comes back from the release that writes it.
func (b *batchConn) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.holds == 0 {
		if err := b.flushLocked(); err != nil {
			return 0, err
		}
		return b.writeLocked(p)
	}
	if b.buf != nil && len(*b.buf)+len(p) > maxBatch {
		if err := b.flushLocked(); err != nil {
			return 0, err
		}
	}
	if len(p) > maxBatch {
		return b.writeLocked(p)
	}
	if b.err != nil {
		return 0, b.err
	}
	if b.buf == nil {
		b.buf = batchPool.Get().(*[]byte)
	}
	*b.buf = append(*b.buf, p...)
	return len(p), nil
}

// NetConn is the socket, for what reaches through wrappers (netx.TCP,
// netx.Reset).
func (b *batchConn) NetConn() net.Conn { return b.Conn }
