package netx

import (
	"context"
	"errors"
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
