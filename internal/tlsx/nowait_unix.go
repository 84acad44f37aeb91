//go:build unix

package tlsx

import (
	"errors"
	"io"
	"net"
	"syscall"
)

// readNoWait reads what has arrived on the socket under b (its connection
// or what that connection's NetConn chain reaches) with one non-blocking
// read; errWouldBlock when nothing has, or when there is no socket to read
// that way.
func (b *batchConn) readNoWait(p []byte) (int, error) {
	nw := &b.nw
	if !nw.looked {
		nw.looked = true
		if tc := socketOf(b.Conn); tc != nil {
			nw.raw, _ = tc.SyscallConn()
			nw.fn = nw.read // made once: no allocation per read
		}
	}
	if nw.raw == nil {
		return 0, errWouldBlock
	}
	nw.p = p
	err := nw.raw.Read(nw.fn)
	n, rerr := nw.n, nw.err
	nw.p, nw.err = nil, nil
	if err != nil {
		return 0, err // closed, or the caller's read deadline passed
	}
	switch {
	case errors.Is(rerr, syscall.EAGAIN) || errors.Is(rerr, syscall.EINTR):
		return 0, errWouldBlock
	case rerr != nil:
		return 0, &net.OpError{Op: "read", Net: "tcp", Err: rerr}
	case n == 0 && len(p) > 0:
		return 0, io.EOF
	}
	return n, nil
}

// noWaitRead is a batchConn's state for reads that do not wait.
type noWaitRead struct {
	looked bool
	raw    syscall.RawConn // nil: no socket to read that way
	fn     func(fd uintptr) bool
	p      []byte // the read in progress
	n      int
	err    error
}

func (r *noWaitRead) read(fd uintptr) bool {
	r.n, r.err = syscall.Read(int(fd), r.p)
	return true // one attempt: never wait
}

// socketOf is the TCP connection c is or wraps, or nil: netx.TCP, which
// this package cannot import (netx's tests reach tlsx through testutil).
func socketOf(c net.Conn) *net.TCPConn {
	for range 4 {
		switch x := c.(type) {
		case *net.TCPConn:
			return x
		case interface{ NetConn() net.Conn }:
			c = x.NetConn()
		default:
			return nil
		}
	}
	return nil
}
