package dgram

import (
	"errors"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/burrowproject/burrow/internal/netx"
)

// JoinOptions configure Join.
type JoinOptions struct {
	AToB, BToA *atomic.Int64 // bytes of datagrams each way; nil = not counted
	// AToBLimit and BToALimit limit those bytes per second; nil = unlimited.
	AToBLimit, BToALimit *rate.Limiter
	// Idle ends the join after this long without a datagram either way;
	// 0 = never.
	Idle time.Duration
}

// BatchWriter is a connection that sends several datagrams, each still a
// datagram of its own, in one write (bridge.DatagramConn, flow.Conn over
// one): on a tunnel, one record and one system call for a burst.
type BatchWriter interface {
	WriteBatch(ds []*[]byte) error
}

// A batch is what a relay gathers from its source without waiting, for
// a BatchWriter: at most BatchLen datagrams, and more only while their
// payloads and 2-byte lengths fit BatchBytes: one full TLS record, with
// room for the frame header a tunnel adds. A datagram larger than that
// goes alone.
const (
	BatchLen   = 64
	BatchBytes = 16<<10 - 64
)

// Join relays datagrams from a to b and b to a until either side fails or
// ends, then closes both. Each datagram is one Write, except towards a
// BatchWriter from a socket: there the datagrams the socket holds already
// when one is read go in one WriteBatch (a datagram never waits for
// another). Buffers come from
// pool and are held only while a datagram is between its read and its
// write. It returns the first error that was not an orderly end.
func Join(a, b net.Conn, pool *Pool, o JoinOptions) error {
	var last atomic.Int64 // unix nanos of the last datagram either way
	last.Store(time.Now().UnixNano())
	var once sync.Once
	stop := func() {
		once.Do(func() {
			_ = a.Close()
			_ = b.Close()
		})
	}
	var wg sync.WaitGroup
	var errAB error
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer stop()
		errAB = relay(b, a, pool, netx.Flow{Count: o.AToB, Limit: o.AToBLimit}, o.Idle, &last)
	}()
	errBA := relay(a, b, pool, netx.Flow{Count: o.BToA, Limit: o.BToALimit}, o.Idle, &last)
	stop()
	wg.Wait()
	if errAB != nil {
		return errAB
	}
	return errBA
}

// relay copies datagrams from src to dst until one fails; nil for an end
// (EOF, a close from the other direction, the idle period).
func relay(dst, src net.Conn, pool *Pool, f netx.Flow, idle time.Duration, last *atomic.Int64) error {
	r := NewReader(src, pool)
	if bw, ok := dst.(BatchWriter); ok && r.raw != nil {
		return relayBatches(bw, r, src, pool, f, idle, last)
	}
	for {
		if idle > 0 {
			_ = src.SetReadDeadline(time.Unix(0, last.Load()).Add(idle))
		}
		b, err := r.Read()
		if err != nil {
			if idle > 0 && errors.Is(err, os.ErrDeadlineExceeded) && time.Since(time.Unix(0, last.Load())) < idle {
				continue // the other direction was active
			}
			return orderly(err)
		}
		last.Store(time.Now().UnixNano())
		n := len(*b)
		if f.Limit != nil {
			if err := netx.Wait(f.Limit, n); err != nil {
				pool.Put(b)
				return err
			}
		}
		_, err = dst.Write(*b)
		pool.Put(b)
		if err != nil {
			return orderly(err)
		}
		if f.Count != nil {
			f.Count.Add(int64(n))
		}
	}
}

// relayBatches is relay towards a BatchWriter: after each datagram that
// had to be waited for, it takes those the socket holds already, and
// writes them all at once.
func relayBatches(dst BatchWriter, r *Reader, src net.Conn, pool *Pool, f netx.Flow, idle time.Duration, last *atomic.Int64) error {
	batch := make([]*[]byte, 0, BatchLen)
	var next *[]byte // read, but beyond the last batch's bytes
	defer func() {
		for _, b := range batch {
			pool.Put(b)
		}
		if next != nil {
			pool.Put(next)
		}
	}()
	for {
		b := next
		next = nil
		for b == nil {
			if idle > 0 {
				_ = src.SetReadDeadline(time.Unix(0, last.Load()).Add(idle))
			}
			var err error
			if b, err = r.Read(); err != nil {
				if idle > 0 && errors.Is(err, os.ErrDeadlineExceeded) && time.Since(time.Unix(0, last.Load())) < idle {
					continue // the other direction was active
				}
				return orderly(err)
			}
		}
		batch = append(batch, b)
		n, framed := len(*b), len(*b)+2
		var ended error // the source's error after the batch, if any
		for len(batch) < BatchLen && framed < BatchBytes {
			c, err := r.TryRead()
			if err != nil {
				if !errors.Is(err, os.ErrDeadlineExceeded) { // the idle period is the next Read's to judge
					ended = err
				}
				break
			}
			if c == nil {
				break
			}
			if framed+len(*c)+2 > BatchBytes {
				next = c
				break
			}
			batch = append(batch, c)
			n, framed = n+len(*c), framed+len(*c)+2
		}
		last.Store(time.Now().UnixNano())
		if f.Limit != nil {
			if err := netx.Wait(f.Limit, n); err != nil {
				return err
			}
		}
		err := dst.WriteBatch(batch)
		for i, b := range batch {
			pool.Put(b)
			batch[i] = nil
		}
		batch = batch[:0]
		if err != nil {
			return orderly(err)
		}
		if f.Count != nil {
			f.Count.Add(int64(n))
		}
		if ended != nil {
			return orderly(ended)
		}
	}
}

// orderly is nil for the ways a relay ends normally.
func orderly(err error) error {
	if errors.Is(err, errEOF) || errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrDeadlineExceeded) {
		return nil
	}
	return err
}
