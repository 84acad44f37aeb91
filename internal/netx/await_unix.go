//go:build unix

package netx

import (
	"errors"
	"net"
	"os"
	"syscall"
)

// canAwait: a socket can be waited on without reading from it.
const canAwait = true

// awaitRaw waits until the socket (rc, of c) has bytes, its end or an
// error to read, without taking them, so the reader need not hold a
// buffer meanwhile. The error (a reset) is returned: the kernel hands a
// socket's error to one receive only, and the read or splice after this
// peek would see an end.
func awaitRaw(rc syscall.RawConn, c net.Conn) error {
	var perr error
	err := rc.Read(func(fd uintptr) bool {
		perr = peek(fd)
		return !errors.Is(perr, syscall.EAGAIN)
	})
	if err == nil && perr != nil {
		err = readError(c, perr)
	}
	return err
}

// readableNow reports, without waiting, whether the socket has bytes, its
// end or an error to read; the error as awaitRaw returns it.
func readableNow(rc syscall.RawConn, c net.Conn) (bool, error) {
	var perr error
	if err := rc.Control(func(fd uintptr) { perr = peek(fd) }); err != nil {
		return true, err
	}
	switch {
	case errors.Is(perr, syscall.EAGAIN):
		return false, nil
	case perr != nil:
		return true, readError(c, perr)
	}
	return true, nil
}

// readError is err as c's own Read would have reported it.
func readError(c net.Conn, err error) error {
	return &net.OpError{Op: "read", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: os.NewSyscallError("read", err)}
}

// peek looks at the socket's next byte without taking it: nil when there
// is one or the end, EAGAIN when nothing has arrived.
func peek(fd uintptr) error {
	var b [1]byte
	_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	return err
}
