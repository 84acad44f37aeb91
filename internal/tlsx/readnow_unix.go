//go:build unix

package tlsx

import (
	"os"
	"syscall"
)

// readNow reads what waits in socket sock into p without waiting for
// more: n > 0, or errWouldBlock when nothing waits, or (0, nil) at the
// socket's end, or the socket's error (or, as a *net.OpError, its
// deadline's or its close's).
func readNow(sock syscall.RawConn, p []byte) (n int, err error) {
	var rerr error
	if cerr := sock.Read(func(fd uintptr) bool {
		n, rerr = syscall.Read(int(fd), p)
		return true // one look: never wait here
	}); cerr != nil {
		return 0, cerr
	}
	switch {
	case rerr == syscall.EAGAIN || rerr == syscall.EINTR:
		return 0, errWouldBlock
	case rerr != nil:
		return 0, os.NewSyscallError("read", rerr)
	}
	return n, nil
}
