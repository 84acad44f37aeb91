package client

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/burrowproject/burrow/bridge"
	"github.com/burrowproject/burrow/internal/allowlist"
	"github.com/burrowproject/burrow/internal/netx"
	"github.com/burrowproject/burrow/internal/testutil"
)

// allowOnly is an allow= list of exactly target.
func allowOnly(t *testing.T, target string) *allowlist.Allow {
	t.Helper()
	a, err := allowlist.ParseAllow([]string{target})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// readUntilErr reads r until it fails (at most 10 000 reads, each within
// 10s) and returns the error and the bytes read.
func readUntilErr(t *testing.T, l net.Conn) (int, error) {
	t.Helper()
	buf := make([]byte, 64<<10)
	total := 0
	for range 10_000 {
		_ = l.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, err := l.Read(buf)
		total += n
		if err != nil {
			return total, err
		}
	}
	t.Fatal("link never ended")
	return total, nil
}

// linkTo runs a bridge and an agent allowed to dial backend, and opens a
// link to it, closed when the test ends.
func linkTo(t *testing.T, backend string) *bridge.Link {
	t.Helper()
	srv, addr := startBridge(t, "k")
	startAgent(t, Config{Bridge: addr, Key: "k", Allow: allowOnly(t, backend)})
	online(t, srv, "k")
	l, err := srv.Open(testutil.Context(t), "k", bridge.LinkHeader{Network: bridge.NetworkTCP, Target: backend})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// download is a backend that sends size bytes, then ends the way end says.
func download(size int, end func(net.Conn)) func(net.Conn) {
	return func(c net.Conn) {
		_ = c.SetWriteDeadline(time.Now().Add(10 * time.Second))
		buf := make([]byte, 32<<10)
		for sent := 0; sent < size; sent += len(buf) {
			if _, err := c.Write(buf); err != nil {
				return
			}
		}
		end(c)
	}
}

// A backend that resets mid-download: the agent reports it on the control
// stream and the bridge's link fails with ErrLinkReset, never EOF; the
// agent's stream is released once the bridge has acknowledged it.
func TestBackendResetReachesBridgeAsReset(t *testing.T) {
	t.Parallel()
	srv, addr := startBridge(t, "k")
	// More than the socket buffers hold: the reset comes after the agent has
	// been reading, never before its connect has returned.
	backend := testutil.ServeTCP(t, download(16<<20, func(c net.Conn) { _ = netx.Reset(c) }))
	startAgent(t, Config{Bridge: addr, Key: "k", Allow: allowOnly(t, backend)})
	online(t, srv, "k")

	l, err := srv.Open(testutil.Context(t), "k", bridge.LinkHeader{Network: bridge.NetworkTCP, Target: backend})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	n, err := readUntilErr(t, l)
	if !errors.Is(err, bridge.ErrLinkReset) {
		t.Fatalf("link read after %d bytes: %v, want ErrLinkReset", n, err)
	}
	testutil.Eventually(t, testutil.Wait, 10*time.Millisecond, func() bool {
		ag := srv.Agents()
		return len(ag) == 1 && ag[0].OpenStreams == 0
	}, "the agent closed the reset link's stream")
}

// An orderly end stays one: the bridge reads every byte, then EOF.
func TestBackendOrderlyEndIsEOF(t *testing.T) {
	t.Parallel()
	const size = 1 << 20
	l := linkTo(t, testutil.ServeTCP(t, download(size, func(c net.Conn) { _ = c.Close() })))
	n, err := readUntilErr(t, l)
	if err != io.EOF || n != size {
		t.Fatalf("link read %d bytes, then %v; want %d, then EOF", n, err, size)
	}
}

// The other way: a link the bridge resets (the user's side failed) makes
// the agent reset its backend connection.
func TestBridgeResetResetsBackend(t *testing.T) {
	t.Parallel()
	got := make(chan error, 1)
	l := linkTo(t, testutil.ServeTCP(t, func(c net.Conn) {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err := io.Copy(io.Discard, c)
		got <- err
	}))
	if _, err := l.Write([]byte("upload under way")); err != nil {
		t.Fatal(err)
	}
	_ = l.Reset()
	select {
	case err := <-got:
		if !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("backend read after the bridge reset the link: %v, want ECONNRESET", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("backend connection still open 10s after the bridge reset the link")
	}
}

// A tunnel that dies under a link (the agent is gone) is a loss, not an
// end: the link fails (ErrTunnelLost) instead of returning EOF.
func TestTunnelLossIsNotEOF(t *testing.T) {
	t.Parallel()
	srv, addr := startBridge(t, "k")
	backend := testutil.ServeTCP(t, download(64<<20, func(c net.Conn) { _ = c.Close() }))
	_, fp := bridgeCert()
	a, err := New(Config{Bridge: addr, Key: "k", Allow: allowOnly(t, backend), DialTimeout: 2 * time.Second, Fingerprint: fp})
	if err != nil {
		t.Fatal(err)
	}
	stop := testutil.Go(t, func(ctx context.Context) { _ = a.Run(ctx) })
	online(t, srv, "k")

	l, err := srv.Open(testutil.Context(t), "k", bridge.LinkHeader{Network: bridge.NetworkTCP, Target: backend})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := io.ReadFull(l, make([]byte, 1<<20)); err != nil { // the download is under way
		t.Fatal(err)
	}
	stop() // the agent goes away, its tunnel with it
	// ErrTunnelLost, or the socket's own error when a write under the
	// read (a window update) fails first: anything but EOF.
	n, err := readUntilErr(t, l)
	if err == io.EOF || err == nil {
		t.Fatalf("link read %d more bytes, then %v; want ErrTunnelLost", n, err)
	}
}

// An abort that overtakes its link (read on the control stream before the
// link's stream is served) is kept and applied when the link registers;
// aborts for links that never come are bounded.
func TestEarlyAbortIsKeptAndBounded(t *testing.T) {
	t.Parallel()
	tbl := newLinkTable()
	tbl.abort(7)
	l := &link{abort: make(chan struct{})}
	tbl.add(7, l)
	select {
	case <-l.abort:
	default:
		t.Fatal("an abort that came before its link was lost")
	}
	for id := range uint32(2 * maxEarlyAborts) {
		tbl.abort(1000 + id)
	}
	if n := len(tbl.early); n > maxEarlyAborts {
		t.Fatalf("%d early aborts kept, bound %d", n, maxEarlyAborts)
	}
}
