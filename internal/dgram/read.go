package dgram

import (
	"io"
	"net"
	"syscall"
)

// PacketReader is a connection that reads one datagram into a buffer it
// takes from pool once the datagram is there (bridge.DatagramConn,
// flow.Conn over one).
type PacketReader interface {
	ReadPacket(pool *Pool) (*[]byte, error)
}

// Reader reads datagrams from one connection into buffers from a pool,
// which the caller must Put back. While it waits, no buffer is held: the
// connection reads through PacketReader when it is one, else, for a
// socket, the buffer is taken only when the socket is readable. A
// stream-type socket pair (SOCK_SEQPACKET) that reads nothing has ended:
// io.EOF. A Reader allocates nothing per datagram; it is used by one
// goroutine at a time.
type Reader struct {
	c    net.Conn
	pool *Pool
	pr   PacketReader
	raw  *rawReader
}

// NewReader returns a Reader of c.
func NewReader(c net.Conn, pool *Pool) *Reader {
	r := &Reader{c: c, pool: pool}
	if pr, ok := c.(PacketReader); ok {
		r.pr = pr
		return r
	}
	if sc, ok := c.(syscall.Conn); ok && rawReads {
		if rc, err := sc.SyscallConn(); err == nil {
			_, unix := c.(*net.UnixConn)
			r.raw = newRawReader(rc, pool, unix)
		}
	}
	return r
}

// Read reads one datagram.
func (r *Reader) Read() (*[]byte, error) {
	switch {
	case r.pr != nil:
		return r.pr.ReadPacket(r.pool)
	case r.raw != nil:
		return r.raw.read()
	}
	b := r.pool.Get(Max)
	n, err := r.c.Read(*b)
	if err != nil {
		r.pool.Put(b)
		return nil, err
	}
	*b = (*b)[:n]
	return b, nil
}

// TryRead reads one datagram only if it is there already, without
// waiting: nil and no error when there is none, or when the connection is
// not a socket this Reader polls (a link: its datagrams are read one by
// one).
func (r *Reader) TryRead() (*[]byte, error) {
	if r.raw == nil {
		return nil, nil
	}
	return r.raw.tryRead()
}

// ReadPacket reads one datagram from c as a Reader does. It allocates
// nothing for a PacketReader; a loop reading a socket uses a Reader.
func ReadPacket(c net.Conn, pool *Pool) (*[]byte, error) {
	if pr, ok := c.(PacketReader); ok {
		return pr.ReadPacket(pool)
	}
	return NewReader(c, pool).Read()
}

// errEOF marks a zero-length read on a socket pair.
var errEOF = io.EOF
