package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	mrand "math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/burrowproject/burrow/test/e2e/framework"
)

const bigTransfer = 64 << 20

// 64 MiB through one TCP connection to an echo: what comes back hashes the
// same as what was sent.
func TestTCPEcho64MiBOneConnection(t *testing.T) {
	t.Parallel()
	f := framework.New(t)
	p := newPair(f, f.TCPEcho())
	f.ExpectTCPEcho(p.user()).Stream(bigTransfer).Timeout(40 * time.Second).Ensure()
}

// 64 MiB uploaded through one TCP connection to a sink, then a half-close:
// the sink sees exactly the bytes sent and the end of the stream, and the
// user sees the sink's close come back.
func TestTCPUpload64MiBToSink(t *testing.T) {
	t.Parallel()
	f := framework.New(t)
	sink := f.TCPSink()
	p := newPair(f, sink.Addr)

	c, err := net.DialTimeout("tcp", p.user(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(40 * time.Second))
	sent := sha256.New()
	src := io.LimitReader(mrand.NewChaCha8([32]byte{1, 2, 3}), bigTransfer)
	if n, err := io.Copy(c, io.TeeReader(src, sent)); err != nil {
		t.Fatalf("upload stopped after %d bytes: %v", n, err)
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	conns, err := sink.WaitClosed(1, 30*time.Second)
	if err != nil {
		t.Fatalf("%v; sink saw %+v", err, conns)
	}
	want := hex.EncodeToString(sent.Sum(nil))
	if len(conns) != 1 || conns[0].Bytes != bigTransfer || conns[0].SHA256 != want || conns[0].Err != nil {
		t.Fatalf("sink got %+v, want one connection of %d bytes, sha256 %s, ended by EOF", conns, bigTransfer, want)
	}
	// The sink closes after EOF; that close must reach the user.
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("after the sink closed, user read got %d bytes, err %v; want EOF", n, err)
	}
}

// 200 concurrent connections, 64 KiB of random bytes each, all echoed
// intact.
func TestTCP200ConcurrentConnections(t *testing.T) {
	t.Parallel()
	f := framework.New(t)
	p := newPair(f, f.TCPEcho())

	const conns, size = 200, 64 << 10
	errs := make(chan error, conns)
	var wg sync.WaitGroup
	for range conns {
		wg.Go(func() {
			errs <- f.ExpectTCPEcho(p.user()).Payload(framework.RandomBytes(size)).Timeout(30 * time.Second).Do()
		})
	}
	wg.Wait()
	close(errs)
	var failed []error
	for err := range errs {
		if err != nil {
			failed = append(failed, err)
		}
	}
	if len(failed) > 0 {
		t.Fatalf("%d of %d connections failed; first: %v", len(failed), conns, errors.Join(failed[:min(3, len(failed))]...))
	}
}

// UDP datagrams of several sizes up to 8 KiB from several peers at once come
// back intact, each to its own peer.
func TestUDPEchoSeveralPeers(t *testing.T) {
	t.Parallel()
	f := framework.New(t)
	p := newPair(f, f.UDPEcho())

	const peers = 4
	errs := make(chan error, peers)
	var wg sync.WaitGroup
	for range peers {
		wg.Go(func() {
			errs <- f.ExpectUDPEcho(p.user()).Sizes(1, 64, 512, 1400, 4096, 8192, 100).Timeout(10 * time.Second).Do()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("peer: %v", err)
		}
	}
}
