//go:build !unix

package netx

import (
	"net"
	"syscall"
)

// canAwait: here a socket cannot be waited on without reading from it; a
// read holds its buffer while it waits.
const canAwait = false

func awaitRaw(syscall.RawConn, net.Conn) error { return nil }

func readableNow(syscall.RawConn, net.Conn) (bool, error) { return true, nil }
