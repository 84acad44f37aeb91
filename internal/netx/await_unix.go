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

// peeker looks at one socket (rc, of c) without taking its bytes. A copy
// sets its own up once, with its socket, so that waiting allocates
// nothing: a closure capturing the look's result would be allocated per
// wait.
type peeker struct {
	rc   syscall.RawConn
	c    net.Conn
	perr error              // the last look's result
	look func(uintptr) bool // lookFn, bound once
	now  func(fd uintptr)   // nowFn, bound once
}

func (k *peeker) init(rc syscall.RawConn, c net.Conn) {
	k.rc, k.c = rc, c
	k.look, k.now = k.lookFn, k.nowFn
}

func (k *peeker) lookFn(fd uintptr) bool {
	k.perr = peek(fd)
	return !errors.Is(k.perr, syscall.EAGAIN)
}

func (k *peeker) nowFn(fd uintptr) { k.perr = peek(fd) }

// await waits until the socket has bytes, its end or an error to read,
// without taking them, so the reader need not hold a buffer meanwhile.
// The error (a reset) is returned: the kernel hands a socket's error to
// one receive only, and the read or splice after this peek would see an
// end.
func (k *peeker) await() error {
	err := k.rc.Read(k.look)
	if err == nil && k.perr != nil {
		err = readError(k.c, k.perr)
	}
	return err
}

// readableNow reports, without waiting, whether the socket has bytes, its
// end or an error to read; the error as await returns it.
func (k *peeker) readableNow() (bool, error) {
	if err := k.rc.Control(k.now); err != nil {
		return true, err
	}
	switch {
	case errors.Is(k.perr, syscall.EAGAIN):
		return false, nil
	case k.perr != nil:
		return true, readError(k.c, k.perr)
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
