package netx

import (
	"io"
	"net"
	"syscall"
)

// SpliceChunk bounds one kernel-to-kernel copy (what one splice moves,
// at most what has arrived): the byte counts of a spliced direction are
// updated, its rate limit and idle timer fed, after every chunk, as the
// buffered copy does after every read.
const SpliceChunk = 256 << 10

// Spliceable is a connection whose bytes a TCP socket carries, which Join
// then copies kernel-to-kernel (splice) when the other side is one too: a
// tunnel link on a plain pooled connection.
type Spliceable interface {
	// SpliceConn returns the socket, or nil when the bytes cannot be
	// spliced (TLS on it). With reading, the caller is about to read:
	// what precedes the payload (a link's verdict) is consumed first, and
	// its failure returned.
	SpliceConn(reading bool) (*net.TCPConn, error)
	// SpliceErr is what the connection's own Read or Write would return
	// for err, an error of the socket.
	SpliceErr(err error) error
}

// TCP returns the TCP connection c is or wraps (through NetConn, as
// tls.Conn), or nil.
func TCP(c net.Conn) *net.TCPConn {
	for range 4 {
		switch x := c.(type) {
		case *net.TCPConn:
			return x
		case interface{ NetConn() net.Conn }:
			c = x.NetConn()
		default:
			return nil
		}
	}
	return nil
}

// spliceWriter returns the socket under dst when its bytes may be spliced.
func spliceWriter(dst io.Writer) (*net.TCPConn, *endpoint, error) {
	e, _ := dst.(*endpoint)
	if e != nil {
		dst = e.Conn
	}
	switch x := dst.(type) {
	case *net.TCPConn:
		return x, e, nil
	case Spliceable:
		tc, err := x.SpliceConn(false)
		return tc, e, err
	}
	return nil, nil, nil
}

// spliceReader returns the socket under src when its bytes may be spliced.
func spliceReader(src io.Reader) (*net.TCPConn, error) {
	switch x := src.(type) {
	case *net.TCPConn:
		return x, nil
	case Spliceable:
		return x.SpliceConn(true)
	}
	return nil, nil
}

// spliced is a pump's kernel-to-kernel copy between two sockets.
type spliced struct {
	rin, rout syscall.RawConn
	out       *net.TCPConn
	e         *endpoint // dst, when it is a Join's end
	chunk     int       // bytes per splice at most
	call      spliceState
}

// setupSplice prepares a kernel-to-kernel copy when src and dst are TCP
// sockets underneath; ok is false (nothing done) when they are not.
func (p *pump) setupSplice() (ok bool, err error) {
	if !canSplice {
		return false, nil
	}
	out, e, err := spliceWriter(p.dst)
	if out == nil || err != nil {
		return false, nil
	}
	in, err := spliceReader(p.src)
	if err != nil {
		return true, err
	}
	if in == nil {
		return false, nil
	}
	s := &spliced{out: out, e: e, chunk: SpliceChunk}
	s.call.bind()
	if s.rin, err = in.SyscallConn(); err != nil {
		return true, err
	}
	if s.rout, err = out.SyscallConn(); err != nil {
		return true, err
	}
	if p.f.Limit != nil {
		s.chunk = min(s.chunk, p.f.Limit.Burst())
	}
	p.sp, p.sock = s, in
	p.pk.init(s.rin, in)
	return true, nil
}

// settle turns the end of a spliced copy into what the connections' own
// Read or Write would have returned.
func (p *pump) settle(err error) error {
	switch sc, isS := p.src.(Spliceable); {
	case isS && err == nil:
		// The connection learns of its orderly end (or that it was none:
		// a lost tunnel) as its Read would have.
		if err = sc.SpliceErr(io.EOF); err == io.EOF {
			err = nil
		}
	case isS:
		err = sc.SpliceErr(err)
	case err != nil:
		if d, ok := dstConn(p.dst).(Spliceable); ok {
			err = d.SpliceErr(err)
		}
	}
	return err
}

func dstConn(dst io.Writer) io.Writer {
	if e, ok := dst.(*endpoint); ok {
		return e.Conn
	}
	return dst
}
