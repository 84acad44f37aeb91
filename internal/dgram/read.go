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

// ReadPacket reads one datagram from c into a buffer from pool, which the
// caller must Put back. While it waits, no buffer is held: c reads through
// PacketReader when it is one, else, for a socket, the buffer is taken only
// when the socket is readable. A stream-type socket pair (SOCK_SEQPACKET)
// that reads nothing has ended: io.EOF.
func ReadPacket(c net.Conn, pool *Pool) (*[]byte, error) {
	if pr, ok := c.(PacketReader); ok {
		return pr.ReadPacket(pool)
	}
	if sc, ok := c.(syscall.Conn); ok && rawReads {
		rc, err := sc.SyscallConn()
		if err == nil {
			_, unix := c.(*net.UnixConn)
			return readRaw(rc, pool, unix)
		}
	}
	b := pool.Get(Max)
	n, err := c.Read(*b)
	if err != nil {
		pool.Put(b)
		return nil, err
	}
	*b = (*b)[:n]
	return b, nil
}

// errEOF marks a zero-length read on a socket pair.
var errEOF = io.EOF
