// Package netx is the byte-copying core of Burrow's data path: Join couples
// two connections with pooled buffers, counts every chunk as it passes (so
// traffic figures are live, not reported at close), and applies an optional
// rate limit and idle timeout. Everything that moves user bytes goes through
// here.
package netx

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// ChunkSize is the size of a copy buffer: large enough to fill a tunnel
// frame in one write, small enough to keep memory per connection modest.
const ChunkSize = 64 << 10

// bufPool holds copy buffers. A sync.Pool is a cache, not shared state: what
// one caller puts in, no caller can observe.
var bufPool = sync.Pool{New: func() any { b := make([]byte, ChunkSize); return &b }}

// A copy from a source that cannot be polled for readability without
// taking its bytes (TLS, a carrier's stream) waits for them with an
// idleChunk buffer, not a ChunkSize one: an idle pooled TLS link holds 4
// KiB per direction instead of 64. Once a read fills it, or returns at
// least a full TLS record (recordChunk), more is likely waiting and the
// copy reads ChunkSize at a time again (the read that takes the rest of a
// full record begun in the idleChunk buffer counts as one).
const (
	idleChunk   = 4 << 10
	recordChunk = 16 << 10
)

var idlePool = sync.Pool{New: func() any { b := make([]byte, idleChunk); return &b }}

// Flow describes what happens to the bytes of one direction of a Join.
type Flow struct {
	Count *atomic.Int64 // bytes are added per chunk as they pass; nil = not counted
	Limit *rate.Limiter // bytes per second; nil = unlimited
}

// DefaultStall bounds how long a write may make no progress toward a peer
// that has already ended its side (see JoinOptions.Stall).
const DefaultStall = 15 * time.Second

// JoinOptions configure Join.
type JoinOptions struct {
	AToB Flow          // bytes read from a and written to b
	BToA Flow          // bytes read from b and written to a
	Idle time.Duration // close both ends after this long without a read on either side; 0 = never
	// Stall bounds, once a side has sent EOF, how long a write to it may
	// block. A side that only half-closed keeps reading and never hits it;
	// a tunnel stream whose far end closed completely (smux has no reset,
	// so that also arrives as EOF) stops granting window, and the write
	// fails instead of holding both connections forever. 0 = DefaultStall.
	Stall time.Duration
	// Hot is how long, in Start, a copy that has just moved bytes waits
	// for more in its own goroutine, whose stack grew to what copying
	// needs, before it waits in a fresh goroutine of minimal stack (see
	// pump): a busy link keeps its stacks, an idle one sheds them after
	// this long. 0 = DefaultHot; < 0 = shed at once.
	Hot time.Duration
	// Park, in Start, holds the waits of copies quiet for its patience
	// without a goroutine each (see Parker); nil = they wait in
	// goroutines of their own.
	Park *Parker
}

// DefaultHot is JoinOptions.Hot's default: a link quiet for a second
// holds minimal stacks.
const DefaultHot = time.Second

// Join copies a to b and b to a until both directions end, then closes both
// connections. When one side reaches EOF the other side's write half is
// closed (where the connection supports it), so protocols that half-close
// keep working. An error in either direction resets both at once (see
// Reset): a connection whose other end failed never ends cleanly. It returns
// the bytes copied each way and the first error that was not an orderly end.
func Join(a, b net.Conn, o JoinOptions) (aToB, bToA int64, err error) {
	j := newJoin(a, b, o)
	var wg sync.WaitGroup
	wg.Go(j.copyAToB)
	j.copyBToA()
	wg.Wait()
	return j.end()
}

// Start is Join in goroutines of its own: it returns at once, and done (if
// not nil) is called with Join's results once both directions ended and
// both connections are closed. A caller whose goroutine grew a deep stack
// before the copy (a handshake, a dial, a verdict) and would only wait in
// Join hands the link over and returns: an idle link then holds the two
// copying goroutines' small stacks, not a third, deep one.
func Start(a, b net.Conn, o JoinOptions, done func(aToB, bToA int64, err error)) {
	j := newJoin(a, b, o)
	var left atomic.Int32
	left.Store(2)
	last := func() {
		if left.Add(-1) != 0 {
			return
		}
		aToB, bToA, err := j.end()
		if done != nil {
			done(aToB, bToA, err)
		}
	}
	hot := o.Hot
	if hot == 0 {
		hot = DefaultHot
	}
	// Both copies are set up before either runs: each end knows the
	// copy reading from it, which a close by the other wakes if parked.
	ab := startPump(j.b, j.a, o.AToB, j.idle, hot, o.Park, func(n int64, err error) { j.aToB, j.errAB = n, err; last() })
	ba := startPump(j.a, j.b, o.BToA, j.idle, hot, o.Park, func(n int64, err error) { j.bToA, j.errBA = n, err; last() })
	go ab.start()
	go ba.start()
}

// join is one Join: its two ends and what each direction copied.
type join struct {
	a, b         *endpoint
	o            JoinOptions
	idle         *idle
	aToB, bToA   int64
	errAB, errBA error
}

func newJoin(a, b net.Conn, o JoinOptions) *join {
	stall := o.Stall
	if stall <= 0 {
		stall = DefaultStall
	}
	j := &join{a: &endpoint{Conn: a, stall: stall}, b: &endpoint{Conn: b, stall: stall}, o: o}
	if o.Idle > 0 {
		j.idle = newIdle(o.Idle, j.a, j.b)
	}
	return j
}

func (j *join) copyAToB() { j.aToB, j.errAB = half(j.b, j.a, j.o.AToB, j.idle) }
func (j *join) copyBToA() { j.bToA, j.errBA = half(j.a, j.b, j.o.BToA, j.idle) }

// end closes both connections once both directions are over and returns
// Join's results.
func (j *join) end() (aToB, bToA int64, err error) {
	_ = j.a.Conn.Close()
	_ = j.b.Conn.Close()
	if j.idle != nil {
		j.idle.stop()
	}
	err = j.errAB
	if err == nil {
		err = j.errBA
	}
	return j.aToB, j.bToA, err
}

// endpoint is one side of a Join. Once it has sent EOF, writes to it carry
// a deadline so a peer that is gone cannot hold the copy forever.
type endpoint struct {
	net.Conn
	stall  time.Duration
	ended  atomic.Bool // a read from it returned EOF
	reader *pump       // Start's copy from it, set before either copy runs
}

// Close closes the connection and wakes the copy from it if it is parked:
// it finds the connection closed and ends.
func (e *endpoint) Close() error {
	err := e.Conn.Close()
	e.unpark()
	return err
}

// unpark wakes the copy from e if it is parked.
func (e *endpoint) unpark() {
	if e.reader != nil && e.reader.park != nil {
		e.reader.park.wake(e.reader)
	}
}

// Write sets the stall deadline before each write once the side has ended.
func (e *endpoint) Write(p []byte) (int, error) {
	e.stalls()
	return e.Conn.Write(p)
}

// stalls sets the stall deadline once the side has ended.
func (e *endpoint) stalls() {
	if e.ended.Load() {
		_ = e.Conn.SetWriteDeadline(time.Now().Add(e.stall))
	}
}

// Headroom implements Framer for a connection that frames: 0 for others.
func (e *endpoint) Headroom() int {
	if fr, ok := e.Conn.(Framer); ok {
		return fr.Headroom()
	}
	return 0
}

// WriteFramed implements Framer, with Write's stall deadline.
func (e *endpoint) WriteFramed(b []byte) (int, error) {
	e.stalls()
	return e.Conn.(Framer).WriteFramed(b)
}

// half copies src to dst. On EOF it closes dst's write side. On an error
// that is not an orderly end it resets both connections: the copy failed
// (a peer reset, a tunnel was lost, a link was aborted), and each peer must
// hear a failure, not a clean end that would make a cut-off transfer look
// complete. An orderly error (the other direction closed them) just closes.
func half(dst, src *endpoint, f Flow, t *idle) (int64, error) {
	n, err := copyFlow(dst, src.Conn, f, t)
	return ended(dst, src, n, err)
}

// startPump sets up half for Start: where src is a socket, the copy does
// not wait for its bytes in a goroutine whose stack grew while it copied,
// but goes on in a fresh one, and parks in park (if not nil) once quiet
// (see pump). done gets half's results.
func startPump(dst, src *endpoint, f Flow, t *idle, hot time.Duration, park *Parker, done func(int64, error)) *pump {
	p := newPump(dst, src.Conn, f, t)
	p.parked = func(n int64, err error) { done(ended(dst, src, n, err)) }
	p.resumeFn, p.hot = p.resume, hot
	if canPark {
		p.park = park
	}
	src.reader = p
	return p
}

// start runs a copy of startPump's.
func (p *pump) start() {
	if err := p.run(); err != errParked {
		p.parked(p.total, err)
	}
}

// ended is what half does once its copy is over.
func ended(dst, src *endpoint, n int64, err error) (int64, error) {
	if err != nil {
		if isOrderly(err) {
			_ = src.Close()
			_ = dst.Close()
			return n, nil
		}
		_ = Reset(src.Conn)
		_ = Reset(dst.Conn)
		dst.unpark()
		return n, err
	}
	src.ended.Store(true)
	if !closeWrite(dst.Conn) {
		// No half-close: ending the whole connection is the only way to
		// tell the peer there is no more data.
		_ = dst.Close()
	}
	return n, nil
}

// RateLimiters returns a limiter for each direction at mbps megabits per
// second, bursting a tenth of a second (at least one chunk); both nil when
// mbps is 0 (unlimited).
func RateLimiters(mbps int) (up, down *rate.Limiter) {
	if mbps <= 0 {
		return nil, nil
	}
	bps := float64(mbps) * 1e6 / 8
	burst := max(int(bps/10), ChunkSize)
	return rate.NewLimiter(rate.Limit(bps), burst), rate.NewLimiter(rate.Limit(bps), burst)
}

// Wait blocks until l allows n bytes, in pieces no larger than its burst.
// A nil limiter allows everything at once.
func Wait(l *rate.Limiter, n int) error {
	if l == nil {
		return nil
	}
	burst := l.Burst()
	for n > 0 {
		step := min(n, burst)
		if err := l.WaitN(context.Background(), step); err != nil {
			return err
		}
		n -= step
	}
	return nil
}

// isTCP reports whether r is a plain TCP connection. Its WriteTo only
// splices into unix sockets and otherwise allocates its own buffer, so
// the pooled loop is better.
func isTCP(r io.Reader) bool {
	_, ok := r.(*net.TCPConn)
	return ok
}

type countingWriter struct {
	w io.Writer
	n *atomic.Int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(int64(n))
	return n, err
}

func closeWrite(c net.Conn) bool {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite() == nil
	}
	return false
}

// isOrderly reports whether err is how a connection normally ends when the
// other direction closed it first.
func isOrderly(err error) bool {
	return errors.Is(err, net.ErrClosed) || errors.Is(err, io.ErrClosedPipe) || errors.Is(err, io.EOF)
}
