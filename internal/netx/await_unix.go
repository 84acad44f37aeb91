//go:build unix

package netx

import (
	"errors"
	"net"
	"syscall"
)

// awaitReadable waits until c has bytes, its end or an error to read,
// without taking them, so the reader need not hold a buffer meanwhile.
func awaitReadable(c *net.TCPConn) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil // let the read itself fail
	}
	var b [1]byte
	var perr error
	err = rc.Read(func(fd uintptr) bool {
		_, _, perr = syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return !errors.Is(perr, syscall.EAGAIN)
	})
	if err == nil && perr != nil {
		// Reported now: the kernel hands a socket's error (a reset) to one
		// receive only, and the read after this peek would see an end.
		err = &net.OpError{Op: "read", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: perr}
	}
	return err
}
