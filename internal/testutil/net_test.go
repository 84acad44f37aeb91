package testutil

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

func TestServeTCPEchoAndRoundTrip(t *testing.T) {
	t.Parallel()
	addr := ServeTCP(t, Echo)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	RoundTrip(t, c, "hello")
	if err := EchoOnce(c, []byte("again"), Wait); err != nil {
		t.Fatal(err)
	}
	if err := EchoStream(addr, []byte(strings.Repeat("x", 100_000))); err != nil {
		t.Fatal(err)
	}
}

func TestServeTCPCleanupClosesOpenConns(t *testing.T) {
	t.Parallel()
	var c net.Conn
	t.Run("inner", func(t *testing.T) {
		addr := ServeTCP(t, Echo)
		var err error
		if c, err = net.Dial("tcp", addr); err != nil {
			t.Fatal(err)
		}
		RoundTrip(t, c, "x")
	})
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(Wait))
	if n, err := c.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Fatalf("connection still open after the server's test ended: %d bytes, %v", n, err)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestEchoOnceReportsMismatch(t *testing.T) {
	t.Parallel()
	addr := ServeTCP(t, func(c net.Conn) { _, _ = c.Write([]byte("nope!")) })
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := EchoOnce(c, []byte("hello"), Wait); err == nil {
		t.Fatal("EchoOnce accepted a different reply")
	}
	if err := EchoStream(addr, []byte("hello")); err == nil {
		t.Fatal("EchoStream accepted a different reply")
	}
}

func TestClosedAddrRefuses(t *testing.T) {
	t.Parallel()
	if c, err := net.DialTimeout("tcp", ClosedAddr(t), Wait); err == nil {
		_ = c.Close()
		t.Fatal("dial to ClosedAddr succeeded")
	}
}

func TestServeUDPEcho(t *testing.T) {
	t.Parallel()
	c, err := net.Dial("udp", ServeUDPEcho(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(Wait))
	if _, err := c.Write([]byte("dgram")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	if n, err := c.Read(buf); err != nil || string(buf[:n]) != "dgram" {
		t.Fatalf("udp echo: %q, %v", buf[:n], err)
	}
}

func TestTCPPair(t *testing.T) {
	t.Parallel()
	a, b := TCPPair(t)
	_ = b.SetDeadline(time.Now().Add(Wait))
	if _, err := a.Write([]byte("ab")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2)
	if _, err := b.Read(buf); err != nil || string(buf) != "ab" {
		t.Fatalf("pair: %q, %v", buf, err)
	}
}

func TestGoStopsOnCleanupAndStop(t *testing.T) {
	t.Parallel()
	stopped := make(chan struct{})
	t.Run("inner", func(t *testing.T) {
		Go(t, func(ctx context.Context) { <-ctx.Done(); close(stopped) })
	})
	select {
	case <-stopped:
	default:
		t.Fatal("Go's goroutine still running after its test ended")
	}
	ran := false
	stop := Go(t, func(ctx context.Context) { <-ctx.Done(); ran = true })
	stop()
	stop()
	if !ran {
		t.Fatal("stop returned before the goroutine did")
	}
	if err := Context(t).Err(); err != nil {
		t.Fatalf("fresh Context already done: %v", err)
	}
}

func TestConcurrentlyRunsAll(t *testing.T) {
	t.Parallel()
	seen := make([]bool, 8)
	Concurrently(t, len(seen), func(i int) error { seen[i] = true; return nil })
	if fmt.Sprint(seen) != fmt.Sprint([]bool{true, true, true, true, true, true, true, true}) {
		t.Fatalf("seen %v", seen)
	}
	var b SyncBuffer
	Concurrently(t, 4, func(i int) error { _, err := fmt.Fprint(&b, i); return err })
	if len(b.String()) != 4 {
		t.Fatalf("SyncBuffer holds %q", b.String())
	}
}
