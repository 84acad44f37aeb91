// Package udp is the UDP forwarding handler. Datagrams arriving on an
// instance's socket are grouped by sender into sessions; each session has a
// datagram link through the instance's agent, and replies on the link go
// back to that sender. A session idle for the instance's idle period ends
// and frees everything it held.
//
// A stranger picks the source addresses, so sessions are bounded: at most
// persource= per source IP and sessions= per instance; datagrams from a
// sender beyond them are dropped and counted. The socket's read loop never
// waits: a new session's link opens in the session's own goroutine while
// up to QueueLen datagrams wait for it, each in a pooled buffer of its own
// size class (see internal/dgram), and up to OpenQueueLen wait for an open
// link; an idle session holds no buffer.
package udp

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/burrowproject/burrow/conf"
	"github.com/burrowproject/burrow/internal/dgram"
	"github.com/burrowproject/burrow/plugins/sdk"
)

// Version is the handler's version.
const Version = "1.1.0"

// Defaults of the handler's parameters.
const (
	DefaultIdle      = 60 * time.Second // idle=
	DefaultSessions  = 8192             // sessions=: per instance
	DefaultPerSource = 256              // persource=: per source IP
)

// Queue bounds: beyond them datagrams are dropped and counted, as a
// congested UDP path would drop them. QueueLen datagrams may wait for a
// session's link while it opens (it may never open); once it is open,
// OpenQueueLen may wait for it, so a link held up for a moment (the plugin,
// the host or the agent not scheduled for some milliseconds on a loaded
// machine: 10,000 datagrams/s fill 16 places in 1.6 ms) loses nothing. A
// queue grows with what waits, not with the session, and all the queues
// of an instance hold at most QueueBytes of buffers.
const (
	QueueLen     = 16
	OpenQueueLen = 1024
	QueueBytes   = 16 << 20
)

// DroppedCounter prefixes the reason of a dropped datagram in the name it
// is counted under on the host (sdk.Counter): "udp_dropped:queue_full".
const DroppedCounter = "udp_dropped:"

// Drop reasons.
const (
	DropSourceLimit  = "source_limit"  // the sender's IP has persource= sessions
	DropSessionLimit = "session_limit" // the instance has sessions= sessions
	DropQueueFull    = "queue_full"    // the session's queue was full
	DropNoLink       = "no_link"       // queued for a link that could not be opened
)

// Handler forwards UDP datagrams. Build it with New.
type Handler struct {
	runs sdk.Runs
	pool *dgram.Pool
}

// New returns a UDP handler.
func New() *Handler { return &Handler{pool: dgram.Shared} }

// Describe implements sdk.Handler.
func (*Handler) Describe(context.Context) (sdk.Descriptor, error) {
	return sdk.Descriptor{
		Name: "udp", Version: Version, SDKVersion: sdk.Version, Schemes: []string{"udp"},
		Capabilities: []string{sdk.CapDial, sdk.CapUDP},
		Params: []sdk.Param{
			{Name: "idle", Type: "duration", Default: DefaultIdle.String(), Help: "end a UDP session after this long without traffic"},
			{Name: "sessions", Type: "int", Default: strconv.Itoa(DefaultSessions), Help: "most UDP sessions at once; datagrams of senders beyond it are dropped"},
			{Name: "persource", Type: "int", Default: strconv.Itoa(DefaultPerSource), Help: "most UDP sessions at once from one source IP"},
		},
	}, nil
}

// limits are an instance's parameters.
type limits struct {
	idle      time.Duration
	sessions  int
	perSource int
}

// Validate implements sdk.Handler.
func (*Handler) Validate(_ context.Context, spec sdk.InstanceSpec) error {
	if spec.Listen == "" {
		return errors.New("udp: a listen address is required")
	}
	_, err := limitsOf(spec)
	return err
}

// limitsOf returns the instance's idle=, sessions= and persource= with
// conf's rules.
func limitsOf(spec sdk.InstanceSpec) (limits, error) {
	p, err := conf.ParseParams(conf.SchemeUDP, spec.Params)
	if err != nil {
		return limits{}, fmt.Errorf("udp: %w", err)
	}
	return limits{idle: p.Idle, sessions: p.Sessions, perSource: p.PerSource}, nil
}

// Start implements sdk.Handler.
func (h *Handler) Start(ctx context.Context, spec sdk.InstanceSpec, host sdk.Host) error {
	lim, err := limitsOf(spec)
	if err != nil {
		return err
	}
	pc, err := host.PacketConn(ctx, spec.ID)
	if err != nil {
		return fmt.Errorf("udp instance %s: %w", spec.ID, err)
	}
	f := newForwarder(h, spec.ID, pc, host, lim)
	return h.runs.Go(spec.ID, f.run)
}

// Stop implements sdk.Handler.
func (h *Handler) Stop(ctx context.Context, id string) error { return h.runs.Stop(ctx, id) }

var _ sdk.Handler = (*Handler)(nil)
