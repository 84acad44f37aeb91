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
	try       func(fd uintptr) bool // recv that never waits
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
	r.try = func(fd uintptr) bool {
		if !r.recv(fd) {
			r.err = nil // nothing there: no error, no buffer
		}
		return true
	}
	return r
}

func (r *rawReader) read() (*[]byte, error) { return r.receive(r.recv) }

// tryRead receives a datagram only if one is there already: nil and no
// error when the socket has none.
func (r *rawReader) tryRead() (*[]byte, error) { return r.receive(r.try) }

func (r *rawReader) receive(recv func(fd uintptr) bool) (*[]byte, error) {
	err := r.rc.Read(recv)
	if err == nil && r.b == nil && r.err == nil {
		return nil, nil // tryRead: nothing there
	}
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
