package netx

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"time"
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
// the old one exits. An idle link then holds two minimal stacks per end;
// with a Parker (park), none once the fresh goroutine has waited the
// Parker's patience: the wait goes to the Parker and that goroutine exits
// too.
// A busy link does not move on every message, though: the fresh goroutine
// would grow its stack again at once (a TLS read or write alone needs
// more than 2 KiB), a stack copy and a goroutine start per message. Once
// hotStreak waits in a row were over within hot, the copy waits where it
// is, for up to hot; only a link quiet that long moves its wait again.
// Waiting in place, a copy from a socket itself (not an Awaitable) waits
// in its read or splice, holding its buffer or pipe for that while,
// instead of looking first: one system call fewer per chunk. A
// link that carries a message or two and goes quiet (most idle ones)
// never waits in place. (The move allocates nothing: resumeFn is bound
// once.)
type pump struct {
	dst   io.Writer
	src   io.Reader
	f     Flow
	t     *idle
	total int64

	// parked, when set, lets the copy move to a fresh goroutine; it is
	// called there with the copy's results once the copy is over.
	parked   func(n int64, err error)
	resumeFn func()        // p.resume, bound once
	hot      time.Duration // how long a busy copy waits in place before moving (<= 0: it moves at once)
	streak   int           // waits in a row that were over within hot
	since    time.Time     // when the wait that moved began
	woke     bool          // resume saw src readable: the next wait is over at once

	// park, when set, holds the wait of a copy that moved and stayed
	// quiet (see Parker); parkedAt (1 + its slot while parked), armed (its
	// socket is registered) and unparked (it was just let go: its socket
	// is ready) are the Parker's, set under its lock.
	park     *Parker
	parkedAt int32
	armed    bool
	unparked bool

	sock    *net.TCPConn // the socket src's bytes come from, when it can be polled
	pk      peeker       // polls sock; pk.rc is nil when src has no socket to poll
	aw      Awaitable    // src, when it is one (sock is its socket)
	fr      Framer       // dst, when it frames what it writes
	head    int          // fr's headroom
	started bool         // the buffered copy has read once
	sp      *spliced     // set when the copy is kernel-to-kernel
}

// Awaitable is a connection whose next byte, once a Read returned less
// than it was asked for, comes from its socket unless Buffered says it
// waits above it: a pooled link's TLS over a tlsx.RecordConn. A copy from
// it waits for the socket between reads, holding no buffer (and, in
// Start, in a fresh goroutine), as a copy from the socket itself does.
type Awaitable interface {
	// AwaitSocket returns the socket, or nil when the connection cannot
	// be awaited.
	AwaitSocket() *net.TCPConn
	// Buffered reports whether bytes wait to be read above the socket.
	Buffered() bool
	// AwaitErr is what the connection's own Read would return for err,
	// an error of the socket found while waiting (a reset, which the
	// kernel reports once: the Read after it would see an end).
	AwaitErr(err error) error
}

// Framer is a destination that writes each chunk behind a header of its
// own (a pooled link's frames: see bridge.FrameConn). A copy to it reads
// each chunk in after Headroom bytes and hands WriteFramed the buffer with
// that room in front, so making room does not copy the chunk again.
type Framer interface {
	// Headroom is the room WriteFramed needs before the chunk; 0 when the
	// destination does not frame now (it is written with Write).
	Headroom() int
	// WriteFramed writes the chunk in b after Headroom bytes, which it
	// may overwrite, and returns how many of the chunk's bytes it wrote.
	WriteFramed(b []byte) (int, error)
}

func newPump(dst io.Writer, src io.Reader, f Flow, t *idle) *pump {
	p := &pump{dst: dst, src: src, f: f, t: t}
	if fr, ok := dst.(Framer); ok {
		if h := fr.Headroom(); h > 0 && h < idleChunk {
			p.fr, p.head = fr, h
		}
	}
	return p
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
	if a, ok := p.src.(Awaitable); ok && canAwait {
		if sock := a.AwaitSocket(); sock != nil {
			if rc, err := sock.SyscallConn(); err == nil {
				p.sock, p.aw = sock, a
				p.pk.init(rc, sock)
				return p.loop()
			}
		}
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
			p.sock = tcp
			p.pk.init(rc, tcp)
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
		return p.settle(err)
	}
	return p.bufferedLoop()
}

// resume is the copy going on in a fresh goroutine: it waits for src,
// then copies, and reports the end unless it moved on again.
func (p *pump) resume() {
	var err error
	switch {
	case p.park != nil && !p.unparked:
		// Quiet for the Parker's patience: the wait goes to the Parker
		// and this goroutine ends.
		var quiet bool
		if quiet, err = p.awaitWithin(p.park.patience()); quiet {
			if p.park.park(p) {
				return // the Parker starts the copy again
			}
			err = p.pk.await()
		}
	default:
		p.unparked = false
		err = p.pk.await()
	}
	if err == nil {
		p.woke = true
		if p.hot > 0 {
			if time.Since(p.since) < p.hot {
				p.streak++
			} else {
				p.streak = 0
			}
		}
		err = p.loop()
	} else {
		err = p.awaitErr(err)
	}
	if err != errParked {
		p.parked(p.total, err)
	}
}

// awaitErr is what the copy ends with for err, an error of src's socket
// found while waiting: what src's own Read would have returned.
func (p *pump) awaitErr(err error) error {
	switch {
	case p.sp != nil:
		return p.settle(err)
	case p.aw != nil:
		return p.aw.AwaitErr(err)
	}
	return err
}

// await waits until src's socket (p.sock) has bytes, its end or an error
// to read; release (if not nil) is called first when the wait may block.
// moved reports that the wait went to a fresh goroutine instead, and the
// caller must return errParked.
func (p *pump) await(release func()) (moved bool, err error) {
	if p.woke {
		p.woke = false
		return false, nil
	}
	if p.parked == nil {
		// Waiting in place: await looks before it blocks.
		if release != nil {
			release()
		}
		return false, p.pk.await()
	}
	if release != nil {
		release()
	}
	if p.hotInPlace() {
		// A busy link: wait here, where the stack already has what
		// copying needs.
		if quiet, err := p.awaitWithin(p.hot); !quiet {
			return false, err
		}
		p.streak = 0 // quiet for hot: shed the stack
	}
	if ready, err := p.pk.readableNow(); ready || err != nil {
		p.streak++
		return false, err
	}
	if p.hot > 0 {
		p.since = time.Now()
	}
	go p.resumeFn()
	return true, nil
}

// hotInPlace reports whether the copy's next wait is a busy copy's wait in
// place (see pump): one that may move, after hotStreak quick waits in a
// row, with nothing known to be there yet.
func (p *pump) hotInPlace() bool {
	return p.parked != nil && p.hot > 0 && p.streak >= hotStreak && !p.woke
}

// awaitWithin is pk.await for at most d: quiet reports that d passed
// first. The deadline is the copy's own (nothing else sets one on a
// copy's source while it runs) and is cleared before it returns.
func (p *pump) awaitWithin(d time.Duration) (quiet bool, err error) {
	_ = p.sock.SetReadDeadline(time.Now().Add(d))
	err = p.pk.await()
	_ = p.sock.SetReadDeadline(time.Time{})
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return true, nil
	}
	return false, err
}

// hotStreak is how many waits in a row must be over within the hot
// window before a copy waits in place (see pump).
const hotStreak = 4

// bufferedLoop copies through pooled buffers. Between reads from a
// socket (or an Awaitable) its only state is whether it waits before the
// next one, so a resumed copy starts it afresh, waiting.
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
	socket := p.pk.rc != nil
	// An Awaitable's first bytes may already wait above its socket (a
	// link's payload read with its verdict): it is read at once, then
	// awaited once a read drained it.
	first := !p.started
	p.started = true
	wait := socket && !(first && p.aw != nil)
	full := false    // not a socket: the last read filled the buffer, more is likely waiting
	resumed := false // not a socket: the last read filled an idleChunk buffer, this one takes the rest of its record
	for {
		want := &bufPool
		direct := false // the read is the wait: a busy copy's, from its socket itself
		switch {
		case wait && p.aw == nil && p.hotInPlace():
			// A busy link waits in place (see pump), in the read itself:
			// one system call fewer than a look and a read. (An
			// Awaitable's read holds state a deadline could break.)
			direct = true
		case wait:
			// A socket's copy holds no buffer while it waits.
			if moved, err := p.await(release); moved {
				return errParked
			} else if err != nil {
				return p.awaitErr(err)
			}
		case !socket && !full, first && p.aw != nil:
			// A read that may wait for its bytes holds a small buffer.
			want = &idlePool
		}
		first = false
		if pool != want {
			release()
		}
		if bp == nil {
			bp, pool = want.Get().(*[]byte), want
			buf = *bp
		}
		chunk := buf[p.head:] // a Framer's header goes in front
		var (
			nr   int
			rerr error
		)
		if direct {
			_ = p.sock.SetReadDeadline(time.Now().Add(p.hot))
			nr, rerr = p.src.Read(chunk)
			_ = p.sock.SetReadDeadline(time.Time{})
			if nr == 0 && errors.Is(rerr, os.ErrDeadlineExceeded) {
				p.streak = 0 // quiet for hot: the next wait, with no buffer, moves
				continue
			}
		} else {
			nr, rerr = p.src.Read(chunk)
		}
		if socket {
			// Even after a read that filled the chunk: the socket may
			// hold no more, and a read that blocks would hold the buffer
			// and the goroutine. The wait is a look, over at once when
			// more is there.
			wait = p.aw == nil || !p.aw.Buffered()
		} else {
			// The rest of a full-size record begun in an idleChunk buffer
			// counts as a full record: a stream of records is read one
			// record a time, not in an idleChunk piece and the rest (two
			// writes each).
			full = nr == len(chunk) || nr >= recordChunk || resumed && idleChunk+nr >= recordChunk
			resumed = pool == &idlePool && nr == len(chunk)
		}
		if nr > 0 {
			p.t.touch()
			if err := Wait(p.f.Limit, nr); err != nil {
				return err
			}
			var nw int
			var werr error
			if p.fr != nil {
				nw, werr = p.fr.WriteFramed(buf[:p.head+nr])
			} else {
				nw, werr = p.dst.Write(buf[:nr])
			}
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
