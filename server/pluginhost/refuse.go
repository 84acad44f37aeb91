package pluginhost

import (
	"context"
	"log/slog"
	"net"
	"os"

	"github.com/burrowproject/burrow/internal/netx"
)

// refuser answers an instance's listener while its plugin is down: every
// connection is accepted and reset at once, so a user hears a refusal
// instead of waiting in the backlog of a socket nobody serves. It accepts
// on a dup of the listener and closes only that dup when it stops, so the
// socket stays bound (and shared listeners stay shared) for the plugin's
// next launch. Connections queued while it stops wait for the plugin.
type refuser struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// startRefuser starts refusing on the listener f (the host's dup); nil
// when f is nil or cannot be listened on.
func startRefuser(f *os.File, log *slog.Logger) *refuser {
	if f == nil {
		return nil
	}
	ln, err := net.FileListener(f)
	if err != nil {
		log.Warn("cannot refuse connections while the plugin is down", "err", err)
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &refuser{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		netx.AcceptLoop(ctx, ln, log, func(c net.Conn) { _ = netx.Reset(c) })
	}()
	return r
}

// stop ends the refusal and waits for it; nil-safe.
func (r *refuser) stop() {
	if r == nil {
		return
	}
	r.cancel()
	<-r.done
}
