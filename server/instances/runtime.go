package instances

import (
	"context"
	"errors"
	"log/slog"

	"github.com/burrowproject/burrow/conf"
)

// Runtime runs instances. The master owns persistence and status; the
// runtime owns sockets. Implementations must be safe for concurrent use.
type Runtime interface {
	// Validate checks a parsed URL for things conf cannot know (a scheme
	// known to a plugin, etc). The error text goes to the API caller (400);
	// wrap ErrUnknownScheme when the scheme itself is not runnable.
	Validate(inst *conf.Instance) error
	// Start runs an instance until Stop or failure. It returns once the
	// instance serves (or failed to start). ctx is cancelled when the master
	// shuts down (Stop is called as well). log is the instance's logger:
	// its records become SSE log events and go to the master's log.
	Start(ctx context.Context, id string, inst *conf.Instance, log *slog.Logger) (Running, error)
}

// Running is one started instance.
type Running interface {
	Stats() Stats                   // live counters and gauges, cheap to call
	Done() <-chan struct{}          // closed when the instance ended by itself
	Err() error                     // why it ended (after Done); nil for a clean end
	Stop(ctx context.Context) error // stop it; ctx bounds the wait
}

// Stats are the runtime figures of a running instance. The counters are
// cumulative since Start; the gauges are current values.
type Stats struct {
	Mode, Ping, Pool, TCPs, UDPs int
	TCPRx, TCPTx, UDPRx, UDPTx   int64
}

// ErrUnknownScheme is wrapped by Runtime.Validate errors for a scheme that
// no built-in handler or plugin serves; the API answers "Invalid URL scheme".
var ErrUnknownScheme = errors.New("unknown scheme")

// Healther is optionally implemented by a Running whose instance can be
// unhealthy while it keeps running and retrying by itself (a client that
// lost its bridge, a server whose handshake was refused). Health returns nil
// while the instance serves, else the reason. The manager checks it with
// every Stats reading (at least every report interval): the status becomes
// "error" with the reason, and "running" again once Health returns nil.
type Healther interface {
	Health() error
}
