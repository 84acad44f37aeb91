// Package dgram moves datagrams with memory that follows the traffic, not
// the number of sessions: a buffer is taken from a size-class pool when a
// datagram arrives and returned once it is written on, so an idle session
// holds no buffer at all, and a queued datagram holds only a buffer of its
// own size class.
package dgram

import "sync"

// Max is the largest datagram (a UDP payload).
const Max = 65535

// classes are the buffer sizes a Pool hands out; the last one holds any
// datagram with its 2-byte length (a tunnel frame).
var classes = [...]int{512, 2048, 16 << 10, Max + 2}

// Pool hands out datagram buffers by size class. The zero value is ready
// to use; a Pool is a cache, so it may be shared freely.
type Pool struct {
	pools [len(classes)]sync.Pool
}

// Get returns a buffer of length n (at most Max+2) from the smallest class
// that holds it.
func (p *Pool) Get(n int) *[]byte {
	c := class(n)
	if b, ok := p.pools[c].Get().(*[]byte); ok {
		*b = (*b)[:n]
		return b
	}
	b := make([]byte, n, classes[c])
	return &b
}

// Put returns b to the pool. b must not be used afterwards.
func (p *Pool) Put(b *[]byte) {
	c := class(cap(*b))
	if cap(*b) != classes[c] { // not one of ours
		return
	}
	p.pools[c].Put(b)
}

// Copy returns a pooled buffer holding a copy of data.
func (p *Pool) Copy(data []byte) *[]byte {
	b := p.Get(len(data))
	copy(*b, data)
	return b
}

func class(n int) int {
	for i, size := range classes {
		if n <= size {
			return i
		}
	}
	return len(classes) - 1
}

// Shared is the process's datagram pool. Like any sync.Pool it is a cache,
// not shared state: what one caller puts in, no caller can observe.
var Shared = &Pool{}
