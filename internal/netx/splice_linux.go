package netx

import (
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"
)

const (
	spliceMove     = 0x1 // SPLICE_F_MOVE
	spliceNonblock = 0x2 // SPLICE_F_NONBLOCK
	setPipeSize    = 1031
)

// pipe is a kernel pipe splice moves bytes through. Idle connections hold
// none: a direction takes one from pipes only once bytes have arrived, and
// puts it back drained.
type pipe struct {
	r, w int
	fds  *pipeFDs // closed by close, or by the cleanup when the pool drops the pipe
}

type pipeFDs struct {
	fds    [2]int
	closed bool
}

func (f *pipeFDs) close() {
	if !f.closed {
		f.closed = true
		_ = syscall.Close(f.fds[0])
		_ = syscall.Close(f.fds[1])
	}
}

// pipes holds drained pipes. A sync.Pool is a cache, not shared state; a
// pipe it drops is closed by its cleanup.
var pipes = sync.Pool{New: func() any {
	var fds [2]int
	if err := syscall.Pipe2(fds[:], syscall.O_CLOEXEC|syscall.O_NONBLOCK); err != nil {
		return nil
	}
	_, _, _ = syscall.Syscall(syscall.SYS_FCNTL, uintptr(fds[0]), setPipeSize, SpliceChunk) // best effort: a bigger pipe moves more per call
	p := &pipe{r: fds[0], w: fds[1], fds: &pipeFDs{fds: fds}}
	runtime.AddCleanup(p, (*pipeFDs).close, p.fds)
	return p
}}

// spliceLoop moves src to dst through a pipe, each splice at most
// s.chunk of what has arrived, counting, limiting and marking activity
// after each, until EOF (nil) or errParked. A busy copy waiting in place
// (see pump) whose last splice moved a message (less than spliceSmall)
// waits in the splice itself, not in a look before it: one system call
// fewer per message. One moving bulk looks first, so that the splice
// after the look takes all that arrived meanwhile.
func (p *pump) spliceLoop() error {
	small := false // the last splice moved less than spliceSmall
	for {
		var (
			n       int
			err     error
			spliced bool // the wait in the splice ended with bytes, their end or an error
		)
		if small && p.hotInPlace() {
			var quiet bool
			if n, err, quiet = p.spliceWithin(p.hot); quiet {
				p.streak = 0 // quiet for hot: shed the stack (the wait below moves)
			} else {
				spliced = true
			}
		}
		if !spliced {
			if moved, err := p.await(nil); moved {
				return errParked
			} else if err != nil {
				return err
			}
			n, err = p.spliceOnce()
		}
		small = n < spliceSmall
		if n > 0 {
			p.total += int64(n)
			p.t.touch()
			if p.f.Count != nil {
				p.f.Count.Add(int64(n))
			}
			if werr := Wait(p.f.Limit, n); werr != nil {
				return werr
			}
		}
		switch {
		case err != nil:
			return err
		case n == 0:
			return nil // EOF
		}
	}
}

var errNoPipe = errors.New("splice: no pipe")

// spliceSmall is the most a splice of a message moves (see spliceLoop):
// one full TLS record's worth.
const spliceSmall = 16 << 10

// spliceOnce moves what has arrived, or waits for it, through a pooled
// pipe; 0 bytes at EOF.
func (p *pump) spliceOnce() (int, error) {
	s := p.sp
	pp, _ := pipes.Get().(*pipe)
	if pp == nil {
		return 0, errNoPipe
	}
	n, err := s.fill(pp, s.chunk)
	if err != nil || n == 0 {
		pipes.Put(pp) // nothing went in
		return 0, err
	}
	if s.e != nil && s.e.ended.Load() {
		// After the fill, which may have waited: the stall is the write's.
		_ = s.out.SetWriteDeadline(time.Now().Add(s.e.stall))
	}
	moved, err := s.drain(pp, n)
	if err != nil {
		pp.fds.close() // bytes may be left in the pipe: it is not reused
	} else {
		pipes.Put(pp)
	}
	return moved, err
}

// spliceWithin is spliceOnce waiting at most d for bytes: quiet reports
// that d passed first, nothing moved. The deadline is the copy's own, as
// in awaitWithin, and is cleared before it returns. (A write that timed
// out, on an ended peer that stopped reading, is an error as ever: it
// is the write deadline's, and comes with bytes in the pipe.)
func (p *pump) spliceWithin(d time.Duration) (n int, err error, quiet bool) {
	_ = p.sock.SetReadDeadline(time.Now().Add(d))
	n, err = p.spliceOnce()
	_ = p.sock.SetReadDeadline(time.Time{})
	if n == 0 && errors.Is(err, errReadTimeout) {
		return 0, nil, true
	}
	return n, err, false
}

// spliceState is one splice call's arguments and results, kept with its
// copy so that splicing allocates nothing (closures capturing them would
// be allocated per call).
type spliceState struct {
	pp      *pipe
	max     int                   // bytes to move at most
	n       int                   // bytes the last splice moved
	serr    error                 // its error
	in, out func(fd uintptr) bool // inFn and outFn, bound once
}

func (c *spliceState) bind() { c.in, c.out = c.inFn, c.outFn }

// inFn splices from the socket fd into the pipe.
func (c *spliceState) inFn(fd uintptr) bool {
	r, e := syscall.Splice(int(fd), nil, c.pp.w, nil, c.max, spliceMove|spliceNonblock)
	c.n, c.serr = int(r), e
	return !errors.Is(e, syscall.EAGAIN)
}

// outFn splices from the pipe to the socket fd.
func (c *spliceState) outFn(fd uintptr) bool {
	r, e := syscall.Splice(c.pp.r, nil, int(fd), nil, c.max, spliceMove|spliceNonblock)
	c.n, c.serr = int(r), e
	return !errors.Is(e, syscall.EAGAIN)
}

// fill moves what has arrived on the copy's source (at most max bytes)
// into pp; 0 bytes at EOF. An error leaves pp empty; a read deadline that
// passed is errReadTimeout.
func (s *spliced) fill(pp *pipe, max int) (int, error) {
	c := &s.call
	c.pp, c.max = pp, max
	defer func() { c.pp = nil }()
	err := s.rin.Read(c.in)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return 0, errReadTimeout
	}
	if err == nil && c.serr != nil {
		err = &net.OpError{Op: "read", Net: "tcp", Err: c.serr}
	}
	if err != nil {
		return 0, err
	}
	return c.n, nil
}

// errReadTimeout is fill's error when the copy's read deadline passed
// before bytes arrived (spliceWithin's, or one set to wake the copy).
var errReadTimeout = &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}

// drain moves n bytes from pp to the copy's destination.
func (s *spliced) drain(pp *pipe, n int) (int, error) {
	c := &s.call
	c.pp = pp
	defer func() { c.pp = nil }()
	moved := 0
	for moved < n {
		c.max = n - moved
		err := s.rout.Write(c.out)
		if err == nil && c.serr != nil {
			err = &net.OpError{Op: "write", Net: "tcp", Err: c.serr}
		}
		if err != nil {
			return moved, err
		}
		if c.n == 0 {
			return moved, io.ErrShortWrite
		}
		moved += c.n
	}
	return moved, nil
}
