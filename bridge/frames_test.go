package bridge_test

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/burrowproject/burrow/bridge"
	"github.com/burrowproject/burrow/internal/testutil"
	"github.com/burrowproject/burrow/internal/tlsx"
)

// framedPair is a TLS work connection over loopback TCP, each end read
// through a RecordConn as the bridge and the agent do.
func framedPair(t *testing.T) (agent, bridgeEnd *tls.Conn) {
	t.Helper()
	cert, err := tlsx.SelfSigned("x")
	if err != nil {
		t.Fatal(err)
	}
	a, b := testutil.TCPPair(t)
	return testutil.TLSPair(t, tlsx.NewRecordConn(a), tlsx.NewRecordConn(b), &tls.Config{Certificates: []tls.Certificate{cert}})
}

// link runs one link over a framed pair: up from the agent's side, down
// from the bridge's, each side ending its writes once it sent them, and
// returns what each side read.
func link(t *testing.T, a, b *bridge.FrameConn, up, down []byte) (gotUp, gotDown []byte) {
	t.Helper()
	type result struct {
		got []byte
		err error
	}
	side := func(c *bridge.FrameConn, send []byte, out chan<- result) {
		werr := make(chan error, 1)
		go func() {
			_, err := c.Write(send)
			if err == nil {
				err = c.CloseWrite()
			}
			werr <- err
		}()
		got, err := io.ReadAll(c)
		if e := <-werr; err == nil {
			err = e
		}
		out <- result{got, err}
	}
	ra, rb := make(chan result, 1), make(chan result, 1)
	go side(a, up, ra)
	go side(b, down, rb)
	for _, ch := range []chan result{ra, rb} {
		select {
		case r := <-ch:
			if r.err != nil {
				t.Fatalf("link: %v", r.err)
			}
			if ch == ra {
				gotDown = r.got
			} else {
				gotUp = r.got
			}
		case <-time.After(testutil.Wait):
			t.Fatal("link did not end")
		}
	}
	return gotUp, gotDown
}

// A framed link carries its payload both ways, in frames of any size, ends
// with both end frames, and hands the connection back on both ends; the
// next link on the same connection carries its own bytes, none of the
// first's.
func TestFramedLinksReuseTheirConnection(t *testing.T) {
	t.Parallel()
	ca, cb := framedPair(t)
	big := bytes.Repeat([]byte("0123456789abcdef"), (3*bridge.MaxFrame+100)/16)
	for i, payload := range [][2][]byte{
		{[]byte("x"), []byte("y")},
		{big, []byte("ok")},
		{nil, big},
		{[]byte("last"), nil},
	} {
		a, b := bridge.NewFrameConn(ca), bridge.NewFrameConn(cb)
		var reusedA, reusedB net.Conn
		a.Reuse = func(c net.Conn) { reusedA = c }
		b.Reuse = func(c net.Conn) { reusedB = c }
		up, down := link(t, a, b, payload[0], payload[1])
		if !bytes.Equal(up, payload[0]) || !bytes.Equal(down, payload[1]) {
			t.Fatalf("link %d carried %d/%d bytes, want %d/%d intact", i, len(up), len(down), len(payload[0]), len(payload[1]))
		}
		if !a.Clean() || !b.Clean() {
			t.Fatalf("link %d: clean %v/%v after both ends", i, a.Clean(), b.Clean())
		}
		_ = a.Close()
		_ = b.Close()
		if reusedA != ca || reusedB != cb {
			t.Fatalf("link %d: the connection was not handed back on both ends", i)
		}
		if _, err := a.Write([]byte("late")); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("write after the link's close: %v, want net.ErrClosed", err)
		}
		if err := a.SetReadDeadline(time.Unix(1, 0)); err == nil {
			t.Fatal("a closed link set a deadline on a connection it no longer owns")
		}
	}
}

// An agent that holds enough idle connections retires this one with its
// end frame: neither end reuses it.
func TestFramedLinkRetired(t *testing.T) {
	t.Parallel()
	ca, cb := framedPair(t)
	a, b := bridge.NewFrameConn(ca), bridge.NewFrameConn(cb)
	a.Retire = func() bool { return true }
	reused := 0
	a.Reuse = func(net.Conn) { reused++ }
	b.Reuse = func(net.Conn) { reused++ }
	link(t, a, b, []byte("up"), []byte("down"))
	if a.Clean() || b.Clean() {
		t.Fatal("a retired connection reads as clean")
	}
	_ = a.Close()
	_ = b.Close()
	if reused != 0 {
		t.Fatalf("a retired connection was reused %d times", reused)
	}
	if !readsEnd(cb, testutil.Wait) {
		t.Fatal("the retired connection stayed open")
	}
}

// A connection that ends without an end frame cut the link: the reader
// hears ErrCut, not an orderly EOF, and the connection is not reused.
func TestFramedLinkCut(t *testing.T) {
	t.Parallel()
	ca, cb := framedPair(t)
	b := bridge.NewFrameConn(cb)
	b.Reuse = func(net.Conn) { t.Error("a cut link's connection was reused") }
	a := bridge.NewFrameConn(ca)
	if _, err := a.Write([]byte("partial")); err != nil {
		t.Fatal(err)
	}
	_ = ca.Close() // no end frame
	got := make([]byte, 64)
	n, err := io.ReadFull(b, got)
	if string(got[:n]) != "partial" || !errors.Is(err, bridge.ErrCut) {
		t.Fatalf("read %q, %v; want \"partial\" then ErrCut", got[:n], err)
	}
	_ = b.Close()
}

// Once a read drained a frame, Buffered tells whether more waits above
// the socket, so a copy awaits the socket without holding a buffer only
// when nothing does: after a frame in a record of its own, nothing; after
// a frame that shares its record with the next one, the next one.
func TestFramedLinkBuffered(t *testing.T) {
	t.Parallel()
	ca, cb := framedPair(t)
	b := bridge.NewFrameConn(cb)
	buf := make([]byte, 1024)
	if _, err := bridge.NewFrameConn(ca).Write([]byte("one")); err != nil {
		t.Fatal(err)
	}
	if n, err := b.Read(buf); err != nil || string(buf[:n]) != "one" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
	if b.Buffered() {
		t.Fatal("Buffered after a frame in a record of its own")
	}
	// Two frames in one record: a peer may pack them.
	if _, err := ca.Write(bridge.AppendFrames(bridge.AppendFrames(nil, []byte("two")), []byte("three"))); err != nil {
		t.Fatal(err)
	}
	if n, err := b.Read(buf); err != nil || string(buf[:n]) != "two" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
	if !b.Buffered() {
		t.Fatal("not Buffered while the next frame waits in TLS")
	}
	if n, err := b.Read(buf); err != nil || string(buf[:n]) != "three" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
	if b.Buffered() {
		t.Fatal("Buffered once the record is drained")
	}
}
