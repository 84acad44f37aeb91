//go:build !linux

package netx

import (
	"errors"
	"net"
)

// spliceLoop is not used where the kernel has no splice: trySplice
// declines first.
func spliceLoop(out, in *net.TCPConn, e *endpoint, f Flow, t *idle) (int64, error) {
	return 0, errors.New("splice: not supported here")
}
