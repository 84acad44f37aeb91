package testutil

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Wait bounds the network helpers here: deadlines on connections, the
// context of Context and the wait for a Go goroutine to stop.
const Wait = 5 * time.Second

// Context returns a context that ends after Wait or when the test ends.
func Context(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	t.Cleanup(cancel)
	return ctx
}

// Go runs fn in a goroutine with a context that is cancelled when the test
// ends (or when stop is called). The cleanup waits for fn to return and
// fails the test if it has not within Wait. stop cancels and waits the
// same way; it may be called any number of times.
//
// Cleanups run last-in first-out: to close something after fn returns,
// register that cleanup before calling Go.
func Go(t testing.TB, fn func(ctx context.Context)) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(ctx)
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case <-done:
			case <-time.After(Wait):
				t.Errorf("testutil: goroutine did not stop within %v of its context ending", Wait)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// ServeTCP runs a loopback TCP server calling handle for each connection
// (and closing the connection when handle returns) until the test ends. The
// cleanup closes the listener and every open connection, and waits for the
// accept loop and every handle to return.
func ServeTCP(t testing.TB, handle func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testutil: listen: %v", err)
	}
	ServeListener(t, ln, handle)
	return ln.Addr().String()
}

// ServeListener is ServeTCP on a listener the caller made; it takes
// ownership of ln.
func ServeListener(t testing.TB, ln net.Listener, handle func(net.Conn)) {
	t.Helper()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns = map[net.Conn]struct{}{}
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = struct{}{}
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { mu.Lock(); delete(conns, c); mu.Unlock(); _ = c.Close() }()
				handle(c)
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
}

// Echo copies everything c sends back to it: a handler for ServeTCP.
func Echo(c net.Conn) { _, _ = io.Copy(c, c) }

// Discard reads and drops everything c sends: a handler for ServeTCP.
func Discard(c net.Conn) { _, _ = io.Copy(io.Discard, c) }

// ServeUDPEcho runs a loopback UDP server that sends every datagram back to
// its sender until the test ends, and returns its address.
func ServeUDPEcho(t testing.TB) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testutil: listen udp: %v", err)
	}
	EchoPackets(t, pc)
	return pc.LocalAddr().String()
}

// EchoPackets is ServeUDPEcho on a socket the caller made; it takes
// ownership of pc.
func EchoPackets(t testing.TB, pc net.PacketConn) {
	AnswerPackets(t, pc, func(p []byte, _ net.Addr) []byte { return p })
}

// AnswerPackets answers every datagram on pc with what answer returns for
// it and its sender, until the test ends; it takes ownership of pc. p is
// the read buffer's: valid until the answer is sent, and the answer may
// be p or append to it.
func AnswerPackets(t testing.TB, pc net.PacketConn, answer func(p []byte, from net.Addr) []byte) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65535)
		for {
			n, from, err := pc.ReadFrom(buf)
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if err != nil {
				continue // a transient error (e.g. ICMP-induced); the loop ends on close
			}
			_, _ = pc.WriteTo(answer(buf[:n], from), from)
		}
	}()
	t.Cleanup(func() { _ = pc.Close(); <-done })
}

// ClosedAddr returns a loopback TCP address nothing listens on (a moment
// ago something did: connecting to it is refused).
func ClosedAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testutil: listen: %v", err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// TCPPair returns the two ends of a loopback TCP connection, both closed
// when the test ends.
func TCPPair(t testing.TB) (dialed, accepted *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testutil: listen: %v", err)
	}
	defer ln.Close()
	ch := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		ch <- c
	}()
	a, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("testutil: dial: %v", err)
	}
	b := <-ch
	if b == nil {
		_ = a.Close()
		t.Fatal("testutil: accept failed")
	}
	t.Cleanup(func() { _ = a.Close(); _ = b.Close() })
	return a.(*net.TCPConn), b.(*net.TCPConn)
}

// EchoOnce writes msg to c and reads len(msg) bytes back, which must equal
// msg, all within d. It leaves c without a deadline. For use off the test
// goroutine; RoundTrip is the same for the test goroutine.
func EchoOnce(c net.Conn, msg []byte, d time.Duration) error {
	_ = c.SetDeadline(time.Now().Add(d))
	defer c.SetDeadline(time.Time{})
	if _, err := c.Write(msg); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil {
		return fmt.Errorf("read echo: %w", err)
	}
	if !bytes.Equal(buf, msg) {
		return fmt.Errorf("echo = %q, want %q", buf, msg)
	}
	return nil
}

// RoundTrip writes msg to c and fails the test unless the same bytes come
// back within Wait.
func RoundTrip(t testing.TB, c net.Conn, msg string) {
	t.Helper()
	if err := EchoOnce(c, []byte(msg), Wait); err != nil {
		t.Fatal(err)
	}
}

// EchoStream dials addr over TCP, sends msg and half-closes, and reports an
// error unless exactly msg comes back before the far end closes, all within
// Wait. It is safe off the test goroutine.
func EchoStream(addr string, msg []byte) error {
	c, err := net.DialTimeout("tcp", addr, Wait)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(Wait))
	wrote := make(chan error, 1)
	go func() {
		_, err := c.Write(msg)
		if err == nil {
			err = c.(*net.TCPConn).CloseWrite()
		}
		wrote <- err
	}()
	got, err := io.ReadAll(c)
	_ = c.Close() // unblocks the writer if the far end stopped reading
	werr := <-wrote
	switch {
	case err != nil:
		return fmt.Errorf("echo via %s: %d of %d bytes, %w", addr, len(got), len(msg), err)
	case !bytes.Equal(got, msg):
		return fmt.Errorf("echo via %s differs: %d bytes back of %d sent", addr, len(got), len(msg))
	case werr != nil:
		return fmt.Errorf("echo via %s: write: %w", addr, werr)
	}
	return nil
}

// Refused checks that a TCP connection to addr is refused: reset at connect
// or at its first exchange (nil). A connection that is answered, ends
// cleanly or hangs (accepted into a backlog nobody serves) is an error
// that says which. Each step is bounded by 5s.
func Refused(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) {
		return nil
	}
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	_, werr := c.Write([]byte("anyone there?"))
	n, rerr := c.Read(make([]byte, 64))
	for _, err := range []error{werr, rerr} {
		if errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
			return nil
		}
	}
	switch {
	case rerr == nil:
		return fmt.Errorf("connection to %s answered %d bytes, want a reset", addr, n)
	case errors.Is(rerr, io.EOF):
		return fmt.Errorf("connection to %s ended cleanly, want a reset", addr)
	}
	return fmt.Errorf("connection to %s: %v, want a reset", addr, rerr)
}
