//go:build !unix

package netx

import "syscall"

// canAwait: here a socket cannot be waited on without reading from it; a
// read holds its buffer while it waits.
const canAwait = false

func awaitRaw(syscall.RawConn) error { return nil }

func readableNow(syscall.RawConn) (bool, error) { return true, nil }
