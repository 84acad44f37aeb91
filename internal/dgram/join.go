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

// Join relays datagrams from a to b and b to a, one Write per datagram,
// until either side fails or ends, then closes both. Buffers come from
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

// orderly is nil for the ways a relay ends normally.
func orderly(err error) error {
	if errors.Is(err, errEOF) || errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrDeadlineExceeded) {
		return nil
	}
	return err
}
