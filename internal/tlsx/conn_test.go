package tlsx_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/burrowproject/burrow/internal/tlsx"
)

// writeCounter counts the writes that reach a connection and reports the
// first one of at least watch bytes on started.
type writeCounter struct {
	net.Conn
	writes  atomic.Int64
	watch   int
	started chan struct{}
	once    sync.Once
}

func (w *writeCounter) Write(p []byte) (int, error) {
	w.writes.Add(1)
	if w.started != nil && len(p) >= w.watch {
		w.once.Do(func() { close(w.started) })
	}
	return w.Conn.Write(p)
}

// tlsPair returns a client and server tlsx.Conn over raw (client's end)
// and peer, handshaken.
func tlsPair(t *testing.T, raw, peer net.Conn) (client, server *tlsx.Conn) {
	t.Helper()
	cert, err := tlsx.SelfSigned("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	scfg, fp := tlsx.ServerConfigFor(cert)
	client = tlsx.Client(raw, tlsx.ClientConfig(tlsx.ClientOptions{ServerName: "127.0.0.1", Fingerprint: fp}))
	server = tlsx.Server(peer, scfg)
	errc := make(chan error, 1)
	go func() { errc <- server.Handshake() }()
	if err := client.Handshake(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	return client, server
}

func tcpPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s := <-accepted
	if s == nil {
		t.Fatal("accept failed")
	}
	return c, s
}

// TestConnOneWritePerWrite: the records of one Write reach the socket in
// one write, and the bytes arrive intact, in writes smaller and larger
// than a batch.
func TestConnOneWritePerWrite(t *testing.T) {
	t.Parallel()
	c, s := tcpPair(t)
	raw := &writeCounter{Conn: c}
	client, server := tlsPair(t, raw, s)
	defer client.Close()
	defer server.Close()

	want := make([]byte, 0, 1<<20)
	for i := range cap(want) {
		want = append(want, byte(i*7))
	}
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(server)
		got <- b
	}()
	before := raw.writes.Load()
	if _, err := client.Write(want[:64<<10]); err != nil {
		t.Fatal(err)
	}
	if n := raw.writes.Load() - before; n != 1 {
		t.Fatalf("a 64 KiB Write (4 records) took %d socket writes, want 1", n)
	}
	for off := 64 << 10; off < len(want); {
		n := min(len(want)-off, 1+off%(300<<10)) // 1 byte up to several batches
		if _, err := client.Write(want[off : off+n]); err != nil {
			t.Fatal(err)
		}
		off += n
	}
	if err := client.Close(); err != nil {
		t.Fatal(err)
	}
	if b := <-got; !bytes.Equal(b, want) {
		t.Fatalf("received %d bytes, not the %d sent", len(b), len(want))
	}
}

// TestConnCloseEndsStalledWrite: a Close while a Write's batch is blocked
// on a peer that does not read closes the socket at once; the Write fails
// because the connection closed, not at close_notify's 5 s deadline.
func TestConnCloseEndsStalledWrite(t *testing.T) {
	t.Parallel()
	a, b := net.Pipe() // unbuffered: a write blocks until the peer reads
	raw := &writeCounter{Conn: a, watch: 16 << 10, started: make(chan struct{})}
	client, server := tlsPair(t, raw, b)
	defer server.Close()

	werr := make(chan error, 1)
	go func() {
		_, err := client.Write(make([]byte, 64<<10))
		werr <- err
	}()
	<-raw.started // the batch is on its way to a peer that never reads
	_ = client.Close()
	err := <-werr
	if err == nil || errors.Is(err, os.ErrDeadlineExceeded) || !errors.Is(err, io.ErrClosedPipe) {
		t.Fatalf("stalled Write ended with %v, want the closed connection's error", err)
	}
	if _, err := client.Write([]byte("x")); err == nil {
		t.Fatal("Write after Close succeeded")
	}
}

// TestConnWriteErrorSticks: once a batch fails to reach the socket, later
// Writes fail too (records after a lost one would not decrypt).
func TestConnWriteErrorSticks(t *testing.T) {
	t.Parallel()
	c, s := tcpPair(t)
	client, server := tlsPair(t, c, s)
	defer server.Close()
	defer client.Close()
	_ = c.Close() // under the TLS
	if _, err := client.Write(make([]byte, 32<<10)); err == nil {
		t.Fatal("Write on a closed socket succeeded")
	}
	if _, err := client.Write([]byte("x")); err == nil {
		t.Fatal("Write after a failed batch succeeded")
	}
}
