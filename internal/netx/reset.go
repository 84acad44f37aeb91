package netx

import (
	"errors"
	"io"
	"net"
)

// Resetter is a connection that can end abortively, so that its peer
// learns the connection failed instead of reading a clean end: a tunnel
// link (the far end is told on the tunnel's control stream) or any wrapper
// that knows how to reach its socket.
type Resetter interface {
	Reset() error
}

// Reset ends c abortively: a Resetter resets itself; a TCP connection is
// closed with SO_LINGER 0, which sends an RST, so the peer's next read
// fails with ECONNRESET instead of returning EOF; a wrapper that exposes
// NetConn (tls.Conn) resets what it wraps. Anything else is just closed.
func Reset(c net.Conn) error {
	switch x := c.(type) {
	case Resetter:
		return x.Reset()
	case *net.TCPConn:
		_ = x.SetLinger(0)
		return x.Close()
	case interface{ NetConn() net.Conn }:
		inner := x.NetConn()
		if inner != nil && inner != c {
			return errors.Join(Reset(inner), ignoreClosed(c.Close()))
		}
	}
	return c.Close()
}

func ignoreClosed(err error) error {
	if err == nil || errors.Is(err, net.ErrClosed) || errors.Is(err, io.ErrClosedPipe) {
		return nil
	}
	return err
}
