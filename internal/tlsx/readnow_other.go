//go:build !unix

package tlsx

import (
	"errors"
	"syscall"
)

// errWouldBlock is readNow's error when nothing waits in the socket.
var errWouldBlock = errors.New("tlsx: nothing to read now")

// readNow never reads here: a read waits as any other.
func readNow(syscall.RawConn, []byte) (int, error) { return 0, errWouldBlock }
