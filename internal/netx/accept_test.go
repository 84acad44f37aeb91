package netx_test

import (
	"context"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/burrowproject/burrow/internal/netx"
	"github.com/burrowproject/burrow/internal/testutil"
)

// A loop that keeps its listener stops without closing it: a connection
// made between two loops waits in the backlog and the next loop serves it.
func TestAcceptLoopKeepHandsTheListenerOn(t *testing.T) {
	t.Parallel()
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	serve := func(ctx context.Context, got chan<- net.Conn) chan struct{} {
		done := make(chan struct{})
		go func() {
			defer close(done)
			if err := netx.AcceptLoopKeep(ctx, ln, slog.New(slog.DiscardHandler), func(c net.Conn) { got <- c }); err != nil {
				t.Error(err)
			}
		}()
		return done
	}
	dialOne := func() net.Conn {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	expect := func(got <-chan net.Conn, what string) {
		select {
		case c := <-got:
			_ = c.Close()
		case <-time.After(testutil.Wait):
			t.Fatalf("%s: no connection accepted", what)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan net.Conn, 1)
	done := serve(ctx, first)
	dialOne()
	expect(first, "first loop")
	cancel()
	select {
	case <-done:
	case <-time.After(testutil.Wait):
		t.Fatal("AcceptLoopKeep did not stop on cancel")
	}

	dialOne() // waits in the backlog: the listener is still open
	second := make(chan net.Conn, 1)
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	done2 := serve(ctx2, second)
	expect(second, "second loop (connection from the backlog)")
	cancel2()
	<-done2
}
