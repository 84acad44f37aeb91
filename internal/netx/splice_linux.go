package netx

import (
	"errors"
	"io"
	"net"
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
// after each, until EOF (nil) or errParked.
func (p *pump) spliceLoop() error {
	s := p.sp
	for {
		if moved, err := p.await(nil); moved {
			return errParked
		} else if err != nil {
			return err
		}
		pp, _ := pipes.Get().(*pipe)
		if pp == nil {
			return errors.New("splice: no pipe")
		}
		if s.e != nil && s.e.ended.Load() {
			_ = s.out.SetWriteDeadline(time.Now().Add(s.e.stall))
		}
		n, err := s.once(pp, s.chunk)
		if err != nil {
			pp.fds.close() // bytes may be left in the pipe: it is not reused
		} else {
			pipes.Put(pp)
		}
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

// once moves what has arrived on the copy's source (at most max bytes)
// into pp and on to its destination; 0 bytes at EOF.
func (s *spliced) once(pp *pipe, max int) (int, error) {
	c := &s.call
	c.pp, c.max = pp, max
	defer func() { c.pp = nil }()
	err := s.rin.Read(c.in)
	if err == nil && c.serr != nil {
		err = &net.OpError{Op: "read", Net: "tcp", Err: c.serr}
	}
	if err != nil || c.n == 0 {
		return 0, err
	}
	n, moved := c.n, 0
	for moved < n {
		c.max = n - moved
		err = s.rout.Write(c.out)
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
