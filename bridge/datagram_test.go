package bridge_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"testing"
	"time"

	"github.com/burrowproject/burrow/bridge"
	"github.com/burrowproject/burrow/internal/testutil"
)

// tcpPair returns two ends of a loopback TCP connection, with deadlines.
func tcpPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	a, b := testutil.TCPPair(t)
	_ = a.SetDeadline(time.Now().Add(testutil.Wait))
	_ = b.SetDeadline(time.Now().Add(testutil.Wait))
	return a, b
}

func TestDatagramBoundaries(t *testing.T) {
	t.Parallel()
	a, b := tcpPair(t)
	w, r := bridge.NewDatagramConn(a), bridge.NewDatagramConn(b)
	sizes := []int{0, 1, 1400, bridge.MaxDatagram, 2, 0, 1}
	var sent [][]byte
	for _, n := range sizes {
		p := make([]byte, n)
		for i := range p {
			p[i] = byte(rand.IntN(256))
		}
		sent = append(sent, p)
	}
	errc := make(chan error, 1)
	go func() {
		for _, p := range sent {
			n, err := w.Write(p)
			if err != nil || n != len(p) {
				errc <- errors.Join(err, io.ErrShortWrite)
				return
			}
		}
		errc <- nil
	}()
	buf := make([]byte, bridge.MaxDatagram)
	for i, want := range sent {
		n, err := r.Read(buf)
		if err != nil {
			t.Fatalf("datagram %d: %v", i, err)
		}
		if !bytes.Equal(buf[:n], want) {
			t.Fatalf("datagram %d: got %d bytes, want %d (or content differs)", i, n, len(want))
		}
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

func TestDatagramTruncatedIntoSmallBuffer(t *testing.T) {
	t.Parallel()
	a, b := tcpPair(t)
	w, r := bridge.NewDatagramConn(a), bridge.NewDatagramConn(b)
	go func() {
		_, _ = w.Write(bytes.Repeat([]byte("x"), 1000))
		_, _ = w.Write([]byte("next"))
	}()
	small := make([]byte, 10)
	n, err := r.Read(small)
	if err != nil || n != 10 || string(small) != "xxxxxxxxxx" {
		t.Fatalf("truncated read: %d %q %v", n, small[:n], err)
	}
	// The rest of the long datagram is skipped, not returned.
	buf := make([]byte, 100)
	n, err = r.Read(buf)
	if err != nil || string(buf[:n]) != "next" {
		t.Fatalf("datagram after a truncated one: %q, %v", buf[:n], err)
	}
	// A zero-length buffer takes a datagram and returns 0.
	go func() { _, _ = w.Write([]byte("gone")); _, _ = w.Write([]byte("kept")) }()
	if n, err := r.Read(nil); n != 0 || err != nil {
		t.Fatalf("Read(nil) = %d, %v", n, err)
	}
	n, err = r.Read(buf)
	if err != nil || string(buf[:n]) != "kept" {
		t.Fatalf("after Read(nil): %q, %v", buf[:n], err)
	}
}

func TestDatagramTruncatedStream(t *testing.T) {
	t.Parallel()
	cases := map[string][]byte{
		"half a length":      {0},
		"short payload":      append(binary.BigEndian.AppendUint16(nil, 100), make([]byte, 10)...),
		"short when skipped": append(binary.BigEndian.AppendUint16(nil, 500), make([]byte, 300)...),
	}
	for name, raw := range cases {
		a, b := tcpPair(t)
		if _, err := a.Write(raw); err != nil {
			t.Fatal(err)
		}
		_ = a.Close()
		r := bridge.NewDatagramConn(b)
		_, err := r.Read(make([]byte, 200))
		if err == nil || errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("%s: err = %v, want an unexpected-EOF error", name, err)
		}
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("%s: err = %v, want it to wrap io.ErrUnexpectedEOF", name, err)
		}
	}
	// A clean end between datagrams is a plain EOF.
	a, b := tcpPair(t)
	_ = a.Close()
	if _, err := bridge.NewDatagramConn(b).Read(make([]byte, 10)); err != io.EOF {
		t.Fatalf("clean end: %v, want io.EOF", err)
	}
}

func TestDatagramOversizeWriteRefused(t *testing.T) {
	t.Parallel()
	a, b := tcpPair(t)
	w := bridge.NewDatagramConn(a)
	n, err := w.Write(make([]byte, bridge.MaxDatagram+1))
	if err == nil || n != 0 {
		t.Fatalf("oversize write: %d, %v", n, err)
	}
	// Nothing reached the stream.
	_ = a.Close()
	if got, _ := io.ReadAll(b); len(got) != 0 {
		t.Fatalf("oversize write sent %d bytes", len(got))
	}
}
