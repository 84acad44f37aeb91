//go:build unix

package dgram

import (
	"fmt"
	"syscall"
)

// rawReads: the socket can be polled for readability before a buffer is taken.
const rawReads = true

// readRaw waits until the socket is readable, then takes a buffer and
// receives one datagram without blocking. On a socket pair (eofOnZero) a
// zero-length read is the peer's close.
func readRaw(rc syscall.RawConn, pool *Pool, eofOnZero bool) (*[]byte, error) {
	var (
		b    *[]byte
		n    int
		rerr error
	)
	err := rc.Read(func(fd uintptr) bool {
		b = pool.Get(Max)
		n, _, rerr = syscall.Recvfrom(int(fd), *b, syscall.MSG_DONTWAIT)
		if rerr == syscall.EAGAIN || rerr == syscall.EINTR {
			pool.Put(b)
			b = nil
			return false
		}
		return true
	})
	if err == nil && rerr != nil {
		err = fmt.Errorf("read datagram: %w", rerr)
	}
	if err == nil && n == 0 && eofOnZero {
		err = errEOF
	}
	if err != nil {
		if b != nil {
			pool.Put(b)
		}
		return nil, err
	}
	// Keep only what the datagram needs: a queued or in-flight datagram
	// holds a buffer of its own size class, not a 64 KiB one.
	if class(n) < len(classes)-1 {
		small := pool.Copy((*b)[:n])
		pool.Put(b)
		return small, nil
	}
	*b = (*b)[:n]
	return b, nil
}
