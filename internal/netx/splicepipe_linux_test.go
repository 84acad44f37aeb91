package netx

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/burrowproject/burrow/internal/testutil"
)

// A splice whose write failed after its read filled the pipe (a peer
// that stopped reading, past the write deadline) leaves bytes in the
// pipe: that pipe is closed, never pooled, so no later copy (another
// connection's) reads them.
func TestSpliceNeverPoolsAPipeWithBytesInIt(t *testing.T) {
	p, srcWrite, dstWrite, _ := splicedPump(t)
	if _, err := srcWrite.Write([]byte("another connection's secret")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond) // arrived: the splice in takes it
	_ = dstWrite.SetWriteDeadline(time.Now().Add(-time.Second))
	if n, err := p.spliceOnce(); n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("spliceOnce: %d bytes, %v; want 0 and the write deadline's error", n, err)
	}
	for range 8 { // the pool hands back what was put last first (this P's slot)
		pp, _ := pipes.Get().(*pipe)
		if pp == nil {
			t.Fatal("no pipe")
		}
		var b [64]byte
		if n, err := syscall.Read(pp.r, b[:]); n > 0 {
			t.Fatalf("a pooled pipe held %q", b[:n])
		} else if !errors.Is(err, syscall.EAGAIN) {
			t.Fatalf("read of a pooled pipe: %d, %v; want EAGAIN (empty)", n, err)
		}
		defer pipes.Put(pp)
	}
}

// A spliced copy's wait that timed out is quiet and moves nothing, and its
// deadline is gone after it: a byte that comes later is spliced.
func TestSpliceWithinIsQuietWhenNothingArrives(t *testing.T) {
	p, srcWrite, _, dstRead := splicedPump(t)
	n, err, quiet := p.spliceWithin(10 * time.Millisecond)
	if n != 0 || err != nil || !quiet {
		t.Fatalf("spliceWithin: %d, %v, quiet %v; want 0, nil, quiet", n, err, quiet)
	}
	time.Sleep(20 * time.Millisecond) // past the deadline, were it left
	if _, err := srcWrite.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if n, err := p.spliceOnce(); n != 1 || err != nil {
		t.Fatalf("spliceOnce after the quiet wait: %d, %v; want the byte", n, err)
	}
	one := make([]byte, 1)
	_ = dstRead.SetReadDeadline(time.Now().Add(testutil.Wait))
	if _, err := io.ReadFull(dstRead, one); err != nil || one[0] != 'x' {
		t.Fatalf("read %q, %v; want x", one, err)
	}
}

// splicedPump is a spliced copy from one TCP pair's far end to another's
// near end: bytes written to srcWrite are the copy's source, dstWrite its
// destination, and what it writes is read from dstRead.
func splicedPump(t *testing.T) (p *pump, srcWrite, dstWrite, dstRead *net.TCPConn) {
	t.Helper()
	srcWrite, srcRead := testutil.TCPPair(t)
	dstWrite, dstRead = testutil.TCPPair(t)
	p = newPump(dstWrite, srcRead, Flow{}, nil)
	if ok, err := p.setupSplice(); !ok || err != nil {
		t.Fatalf("setupSplice: %v, %v; want a spliced copy", ok, err)
	}
	return p, srcWrite, dstWrite, dstRead
}
