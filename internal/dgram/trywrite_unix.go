//go:build unix

package dgram

import (
	"net"
	"syscall"
)

// TryWriter sends datagrams on a socket only when it can take them at
// once, so a loop that must never wait (a udp entry's read loop) can hand a
// datagram straight to a link, and queue it only when the link is behind.
// It allocates nothing per datagram. A TryWriter is used by one goroutine
// at a time.
type TryWriter struct {
	rc   syscall.RawConn
	p    []byte
	err  error
	send func(fd uintptr) bool
}

// NewTryWriter returns a TryWriter for c, or nil when c is no socket.
func NewTryWriter(c net.Conn) *TryWriter {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	w := &TryWriter{rc: rc}
	w.send = func(fd uintptr) bool {
		_, w.err = syscall.Write(int(fd), w.p)
		return true // never wait for the socket to become writable
	}
	return w
}

// TryWrite sends p as one datagram if the socket takes it now: false and
// no error when it would have to wait.
func (w *TryWriter) TryWrite(p []byte) (bool, error) {
	w.p = p
	err := w.rc.Write(w.send)
	w.p = nil
	if err == nil {
		err = w.err
	}
	switch err {
	case nil:
		return true, nil
	case syscall.EAGAIN, syscall.EINTR:
		return false, nil
	}
	return false, err
}
