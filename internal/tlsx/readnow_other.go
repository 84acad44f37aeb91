//go:build !unix

package tlsx

import "syscall"

// readNow never reads here: a read waits as any other.
func readNow(syscall.RawConn, []byte) (int, error) { return 0, errWouldBlock }
