//go:build unix

package bridge

import (
	"errors"
	"net"
	"syscall"

	"github.com/burrowproject/burrow/internal/netx"
)

// idleOpen reports whether an idle work connection is still open: the
// agent sends nothing on one until it carries a link, so anything to read
// (its FIN, an RST, TLS's close) means it is gone. One peek, no wait.
func idleOpen(c net.Conn) bool {
	tc := netx.TCP(c)
	if tc == nil {
		return true
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return false
	}
	open := false
	var b [1]byte
	_ = rc.Read(func(fd uintptr) bool {
		_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		open = errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EWOULDBLOCK)
		return true
	})
	return open
}
