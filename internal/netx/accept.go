package netx

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"
)

// AcceptLoop accepts on ln and calls handle for each connection until ctx
// ends (it then closes ln) or ln is closed. Temporary failures such as
// running out of file descriptors are logged and retried with a growing
// pause, so a burst of connections cannot kill a listener.
func AcceptLoop(ctx context.Context, ln net.Listener, log *slog.Logger, handle func(net.Conn)) {
	stop := context.AfterFunc(ctx, func() { _ = ln.Close() })
	defer stop()
	accept(ctx, ln, log, handle)
}

// DeadlineListener is a listener whose pending Accept a deadline can
// interrupt; *net.TCPListener and *net.UnixListener are.
type DeadlineListener interface {
	net.Listener
	SetDeadline(t time.Time) error
}

// AcceptLoopKeep is AcceptLoop for a listener that outlives the loop: when
// ctx ends it interrupts a pending Accept with a past deadline instead of
// closing ln, and returns. The next loop on ln clears the deadline first,
// so one listener can be served by one loop after another, never by two at
// once (the caller orders them).
func AcceptLoopKeep(ctx context.Context, ln DeadlineListener, log *slog.Logger, handle func(net.Conn)) error {
	if err := ln.SetDeadline(time.Time{}); err != nil {
		return fmt.Errorf("clear accept deadline on %s: %w", ln.Addr(), err)
	}
	stop := context.AfterFunc(ctx, func() { _ = ln.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	accept(ctx, ln, log, handle)
	return nil
}

func accept(ctx context.Context, ln net.Listener, log *slog.Logger, handle func(net.Conn)) {
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			log.Warn("accept failed", "addr", ln.Addr().String(), "err", err, "retry_in", delay)
			t := time.NewTimer(delay)
			select {
			case <-t.C:
				continue
			case <-ctx.Done():
				t.Stop()
				return
			}
		}
		delay = 0
		handle(c)
	}
}
