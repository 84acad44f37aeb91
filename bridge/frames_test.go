package bridge_test

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
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
		werr := sendAndEnd(c, send)
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

// sendAndEnd writes send to c and ends c's side, in a goroutine of its
// own; the channel gets the first error (nil: both done).
func sendAndEnd(c *bridge.FrameConn, send []byte) <-chan error {
	werr := make(chan error, 1)
	go func() {
		_, err := c.Write(send)
		if err == nil {
			err = c.CloseWrite()
		}
		werr <- err
	}()
	return werr
}

// A framed link carries its payload both ways, ends with both end frames,
// and hands the connection back on both ends; the next link on the same
// connection carries its own bytes, none of the first's. (Its records
// stay below the size that retires a connection: see
// TestFramedLinkThatGrewTLSBufferRetires.)
func TestFramedLinksReuseTheirConnection(t *testing.T) {
	t.Parallel()
	ca, cb := framedPair(t)
	some := bytes.Repeat([]byte("0123456789abcdef"), 3000/16)
	for i, payload := range [][2][]byte{
		{[]byte("x"), []byte("y")},
		{some, []byte("ok")},
		{nil, some},
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
		if reusedA != ca || reusedB != cb || !a.HandedBack() || !b.HandedBack() {
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
	reused := countReuse(a, b)
	link(t, a, b, []byte("up"), []byte("down"))
	expectRetired(t, a, b, cb, reused)
}

// countReuse counts the connections a's and b's Reuse are handed.
func countReuse(a, b *bridge.FrameConn) *int {
	n := new(int)
	a.Reuse = func(net.Conn) { *n++ }
	b.Reuse = func(net.Conn) { *n++ }
	return n
}

// expectRetired fails unless the link of a and b, whose connection's
// bridge end is cb, retired it: neither end reads as clean, neither hands
// it back (reused stays 0) once closed, and it closes.
func expectRetired(t *testing.T, a, b *bridge.FrameConn, cb net.Conn, reused *int) {
	t.Helper()
	if a.Clean() || b.Clean() {
		t.Fatal("a retired connection reads as clean")
	}
	_ = a.Close()
	_ = b.Close()
	if *reused != 0 || a.HandedBack() || b.HandedBack() {
		t.Fatalf("a retired connection was reused %d times", *reused)
	}
	if !readsEnd(cb, testutil.Wait) {
		t.Fatal("the retired connection stayed open")
	}
}

// A link whose end read records of 4 KiB or more before it ended its side
// retires the connection (crypto/tls keeps a read buffer that large for
// the connection's life): neither end reuses it, and it closes. Frames of
// any size carry their bytes intact.
func TestFramedLinkThatGrewTLSBufferRetires(t *testing.T) {
	t.Parallel()
	ca, cb := framedPair(t)
	a, b := bridge.NewFrameConn(ca), bridge.NewFrameConn(cb)
	reused := countReuse(a, b)
	big := bytes.Repeat([]byte("0123456789abcdef"), (3*bridge.MaxFrame+100)/16)
	werr := sendAndEnd(a, big)
	_ = b.SetReadDeadline(time.Now().Add(testutil.Wait))
	got, err := io.ReadAll(b) // all of it before b ends its side
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("read %d of %d bytes: %v", len(got), len(big), err)
	}
	if _, err := b.Write([]byte("ok")); err != nil {
		t.Fatal(err)
	}
	if err := b.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	_ = a.SetReadDeadline(time.Now().Add(testutil.Wait))
	if back, err := io.ReadAll(a); err != nil || string(back) != "ok" {
		t.Fatalf("read back %q: %v", back, err)
	}
	if err := <-werr; err != nil {
		t.Fatal(err)
	}
	expectRetired(t, a, b, cb, reused)
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

// tlsPoolTunnel is a pool session over bridge TLS offering hello versions
// up to max (0: the newest), closed when the test ends.
func tlsPoolTunnel(t *testing.T, max uint8) (*bridge.Server, *bridge.Tunnel) {
	t.Helper()
	sc, fp, err := tlsx.ServerConfig(1, "", "")
	if err != nil {
		t.Fatal(err)
	}
	srv, addr := startBridge(t, bridge.Config{Keys: bridge.NewKeySet("k"), TLS: sc})
	return srv, dialPool(t, bridge.DialConfig{Addr: addr, Key: "k", MaxVersion: max,
		TLS: tlsx.ClientConfig(tlsx.ClientOptions{ServerName: "127.0.0.1", Fingerprint: fp})})
}

// echoOnce plays the agent's part of one link on work connection c: it
// reads the header, answers ok and echoes the user's bytes until their
// end, framed when framed is set.
func echoOnce(t *testing.T, c net.Conn, framed bool) (bridge.LinkHeader, *bridge.FrameConn) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(testutil.Wait))
	defer c.SetReadDeadline(time.Time{})
	h, err := bridge.ReadLinkHeader(c)
	if err != nil {
		t.Fatalf("read link header: %v", err)
	}
	if _, err := c.Write(bridge.AppendVerdict(nil, bridge.Verdict{OK: true})); err != nil {
		t.Fatal(err)
	}
	var body io.ReadWriter = c
	var fc *bridge.FrameConn
	if framed {
		fc = bridge.NewFrameConn(c)
		body = fc
	}
	got := make([]byte, 5)
	if _, err := io.ReadFull(body, got); err != nil || string(got) != "hello" {
		t.Fatalf("read the user's bytes: %q, %v; want \"hello\" (framed %v)", got, err, framed)
	}
	if _, err := body.Write(got); err != nil {
		t.Fatal(err)
	}
	return h, fc
}

// In a session of hello version 5 over TLS a link's work connection goes
// back to the pool once both ends ended the link, and the next link rides
// the same connection.
func TestPooledTLSLinkReusesItsConnection(t *testing.T) {
	t.Parallel()
	srv, tun := tlsPoolTunnel(t, 0)
	if tun.Version != bridge.HelloVersionReuse {
		t.Fatalf("session of hello version %d, want %d", tun.Version, bridge.HelloVersionReuse)
	}
	work := idleWork(t, srv, tun)
	for i := range 3 {
		target := fmt.Sprintf("t:%d", i+1)
		l, err := srv.OpenLink(testutil.Context(t), "k", bridge.LinkHeader{Network: bridge.NetworkTCP, Target: target}, []byte("hello"))
		if err != nil || !l.Pooled() {
			t.Fatalf("link %d: pooled %v, %v", i, l != nil && l.Pooled(), err)
		}
		h, fc := echoOnce(t, work, true)
		if h.Target != target {
			t.Fatalf("link %d rode another connection: header for %q", i, h.Target)
		}
		got := make([]byte, 5)
		if _, err := io.ReadFull(l, got); err != nil || string(got) != "hello" {
			t.Fatalf("link %d echoed %q, %v", i, got, err)
		}
		if err := l.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		if n, err := fc.Read(got); n != 0 || err != io.EOF {
			t.Fatalf("agent read %d, %v after the user's end, want EOF", n, err)
		}
		if err := fc.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		if n, err := l.Read(got); n != 0 || err != io.EOF {
			t.Fatalf("user read %d, %v after the agent's end, want EOF", n, err)
		}
		_ = l.Close()
		testutil.Eventually(t, testutil.Wait, 5*time.Millisecond, func() bool { return srv.PoolIdle("k") == 1 }, "the work connection idle again")
	}
}

// An agent of hello version 4 (the previous release) over TLS: its links
// are not framed and their connections are not reused.
func TestPooledTLSLinkOfVersion4NotFramed(t *testing.T) {
	t.Parallel()
	srv, tun := tlsPoolTunnel(t, bridge.HelloVersionAck)
	if tun.Version != bridge.HelloVersionAck {
		t.Fatalf("session of hello version %d, want %d", tun.Version, bridge.HelloVersionAck)
	}
	work := idleWork(t, srv, tun)
	l, err := srv.OpenLink(testutil.Context(t), "k", bridge.LinkHeader{Network: bridge.NetworkTCP, Target: "t:1"}, []byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	echoOnce(t, work, false)
	got := make([]byte, 5)
	if _, err := io.ReadFull(l, got); err != nil || string(got) != "hello" {
		t.Fatalf("echoed %q, %v", got, err)
	}
	_ = l.Close() // before the agent's end: its connection is reset, as before version 5
	if !readsEnd(work, testutil.Wait) {
		t.Fatal("the work connection of a closed unframed link stayed open")
	}
	if n := srv.PoolIdle("k"); n != 0 {
		t.Fatalf("%d idle work connections after an unframed link, want 0", n)
	}
}
