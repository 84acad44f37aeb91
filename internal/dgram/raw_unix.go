//go:build unix

package dgram

import (
	"fmt"
	"syscall"
)

// rawReads: the socket can be polled for readability before a buffer is taken.
const rawReads = true

// rawReader waits until a socket is readable, then takes a buffer and
// receives one datagram without blocking. Its read callback is made once,
// so a datagram costs no allocation. On a socket pair (eofOnZero) a
// zero-length read is the peer's close.
type rawReader struct {
	rc        syscall.RawConn
	pool      *Pool
	eofOnZero bool
	recv      func(fd uintptr) bool
	b         *[]byte
	n         int
	err       error
}

func newRawReader(rc syscall.RawConn, pool *Pool, eofOnZero bool) *rawReader {
	r := &rawReader{rc: rc, pool: pool, eofOnZero: eofOnZero}
	r.recv = func(fd uintptr) bool {
		r.b = r.pool.Get(Max)
		// read(2), not recvfrom(2): the socket is connected, and no sender
		// address is made for every datagram.
		r.n, r.err = syscall.Read(int(fd), *r.b)
		if r.err == syscall.EAGAIN || r.err == syscall.EINTR {
			r.pool.Put(r.b)
			r.b = nil
			return false
		}
		return true
	}
	return r
}

func (r *rawReader) read() (*[]byte, error) {
	err := r.rc.Read(r.recv)
	b, n := r.b, r.n
	r.b = nil
	if err == nil && r.err != nil {
		err = fmt.Errorf("read datagram: %w", r.err)
	}
	if err == nil && n == 0 && r.eofOnZero {
		err = errEOF
	}
	if err != nil {
		if b != nil {
			r.pool.Put(b)
		}
		return nil, err
	}
	// Keep only what the datagram needs: a queued or in-flight datagram
	// holds a buffer of its own size class, not a 64 KiB one.
	if class(n) < len(classes)-1 {
		small := r.pool.Copy((*b)[:n])
		r.pool.Put(b)
		return small, nil
	}
	*b = (*b)[:n]
	return b, nil
}
