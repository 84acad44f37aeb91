package netx

import (
	"errors"
	"io"
	"net"
	"sync"
	"syscall"
)

// Copy copies src to dst until EOF, counting and limiting per f. It returns
// nil at EOF. It prefers src's zero-copy WriteTo when nothing must happen
// between reads (no limit): smux streams hand over their frame buffers
// directly.
func Copy(dst io.Writer, src io.Reader, f Flow) (int64, error) {
	return copyFlow(dst, src, f, nil)
}

func copyFlow(dst io.Writer, src io.Reader, f Flow, t *idle) (int64, error) {
	p := newPump(dst, src, f, t)
	err := p.run()
	return p.total, err
}

// errParked is what a pump's loop returns when the copy went on in a
// goroutine of its own (see pump.parked); it never leaves the package.
var errParked = errors.New("netx: copy parked")

// pump is one copy from src to dst in progress.
//
// A copy from a socket waits for its bytes without holding a buffer (it
// polls the socket, then reads). With parked set, it does not wait in the
// goroutine that copied either: that one's stack grew while it copied (to
// 4 KiB or more, and a blocked goroutine keeps it), so the wait moves to
// a fresh goroutine (2 KiB) that goes on copying once bytes arrive, and
// the old one exits. An idle link then holds two minimal stacks per end.
// The move costs a goroutine start (no allocation: resumeFn is bound
// once) only when a read would otherwise block.
type pump struct {
	dst   io.Writer
	src   io.Reader
	f     Flow
	t     *idle
	total int64

	// parked, when set, lets the copy move to a fresh goroutine; it is
	// called there with the copy's results once the copy is over.
	parked   func(n int64, err error)
	resumeFn func() // p.resume, bound once
	woke     bool   // resume saw src readable: the next wait is over at once

	rc syscall.RawConn // src's socket, when it is one and can be polled
	sp *spliced        // set when the copy is kernel-to-kernel
}

func newPump(dst io.Writer, src io.Reader, f Flow, t *idle) *pump {
	return &pump{dst: dst, src: src, f: f, t: t}
}

// run copies until the end and returns nil at EOF, or errParked when the
// copy went on in another goroutine.
func (p *pump) run() error {
	if ok, err := p.setupSplice(); ok {
		if err != nil {
			return err
		}
		return p.loop()
	}
	if p.f.Limit == nil && p.t == nil {
		if wt, ok := p.src.(io.WriterTo); ok && !isTCP(p.src) {
			var err error
			if p.f.Count == nil {
				p.total, err = wt.WriteTo(p.dst)
			} else {
				p.total, err = wt.WriteTo(&countingWriter{w: p.dst, n: p.f.Count})
			}
			return err
		}
	}
	if tcp, ok := p.src.(*net.TCPConn); ok && canAwait {
		if rc, err := tcp.SyscallConn(); err == nil {
			p.rc = rc
		}
	}
	return p.loop()
}

// loop copies with what run set up, from where the copy stopped.
func (p *pump) loop() error {
	if p.sp != nil {
		err := p.spliceLoop()
		if err == errParked {
			return err
		}
		return p.sp.settle(err)
	}
	return p.bufferedLoop()
}

// resume is the copy going on in a fresh goroutine: it waits for src,
// then copies, and reports the end unless it moved on again.
func (p *pump) resume() {
	err := awaitRaw(p.rc)
	if err == nil {
		p.woke = true
		err = p.loop()
	} else if p.sp != nil {
		err = p.sp.settle(err)
	}
	if err != errParked {
		p.parked(p.total, err)
	}
}

// await waits until src (a socket: p.rc) has bytes, its end or an error
// to read. moved reports that the wait went to a fresh goroutine instead,
// and the caller must return errParked.
func (p *pump) await() (moved bool, err error) {
	if p.woke {
		p.woke = false
		return false, nil
	}
	if p.parked == nil {
		return false, awaitRaw(p.rc)
	}
	if ready, err := readableNow(p.rc); ready || err != nil {
		return false, err
	}
	go p.resumeFn()
	return true, nil
}

// bufferedLoop copies through pooled buffers. Its state between reads
// (the buffer, whether the last read filled it) is back at its start
// whenever it waits on a socket, so a resumed copy starts it afresh.
func (p *pump) bufferedLoop() error {
	var (
		bp   *[]byte
		pool *sync.Pool // bp's
		buf  []byte
	)
	release := func() {
		if bp != nil {
			pool.Put(bp)
			bp = nil
		}
	}
	defer release()
	socket := p.rc != nil
	full := false    // the last read filled the buffer: more is likely waiting
	resumed := false // the last read filled an idleChunk buffer: this one takes the rest of its record
	for {
		want := &bufPool
		if !full {
			// A source that may go idle holds no full-size buffer while it
			// waits: a socket none at all, another an idleChunk one.
			if socket {
				release()
				if moved, err := p.await(); moved {
					return errParked
				} else if err != nil {
					return err
				}
			} else {
				want = &idlePool
			}
		}
		if pool != want {
			release()
		}
		if bp == nil {
			bp, pool = want.Get().(*[]byte), want
			buf = *bp
		}
		nr, rerr := p.src.Read(buf)
		// The rest of a full-size record begun in an idleChunk buffer
		// counts as a full record: a stream of records is read one record
		// a time, not in an idleChunk piece and the rest (two writes each).
		full = nr == len(buf) || (!socket && (nr >= recordChunk || resumed && idleChunk+nr >= recordChunk))
		resumed = !socket && len(buf) == idleChunk && nr == len(buf)
		if nr > 0 {
			p.t.touch()
			if err := Wait(p.f.Limit, nr); err != nil {
				return err
			}
			nw, werr := p.dst.Write(buf[:nr])
			if nw > 0 {
				p.total += int64(nw)
				if p.f.Count != nil {
					p.f.Count.Add(int64(nw))
				}
			}
			if werr != nil || nw != nr {
				// A writer that failed may still hold buf: smux queues a
				// frame whose Write timed out, or whose session is dying,
				// and its send loop may copy it later. Such a buffer never
				// goes back to the pool, where another connection's bytes
				// would be read into it.
				bp = nil
				if werr == nil {
					werr = io.ErrShortWrite
				}
				return werr
			}
		}
		if rerr != nil {
			if rerr == io.EOF {
				return nil
			}
			return rerr
		}
	}
}
