// Package udp is the UDP forwarding handler. Datagrams arriving on an
// instance's socket are grouped by sender into sessions, each with a
// datagram link through the instance's agent (see internal/udpserve: the
// sessions, their bounds and what an idle one holds). A udp session needs
// nothing from the handler, so where the host can (sdk.Forwarder, sdk
// 1.5.0) the handler forwards the instance's socket and the host serves the
// sessions itself: out of process, no datagram crosses the plugin process.
// On a host that cannot, the handler serves them.
package udp

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/burrowproject/burrow/internal/udpserve"
	"github.com/burrowproject/burrow/plugins/sdk"
)

// Version is the handler's version.
const Version = "1.2.0"

// Defaults of the handler's parameters.
const (
	DefaultIdle      = 60 * time.Second // idle=
	DefaultSessions  = 8192             // sessions=: per instance
	DefaultPerSource = 256              // persource=: per source IP
)

// DroppedCounter prefixes the reason of a dropped datagram in the name it
// is counted under on the host (sdk.Counter): "udp_dropped:queue_full".
const DroppedCounter = udpserve.DroppedCounter

// Drop reasons (see internal/udpserve).
const (
	DropSourceLimit  = udpserve.DropSourceLimit
	DropSessionLimit = udpserve.DropSessionLimit
	DropQueueFull    = udpserve.DropQueueFull
	DropNoLink       = udpserve.DropNoLink
)

// Handler forwards UDP datagrams. Build it with New.
type Handler struct {
	runs sdk.Runs
}

// New returns a UDP handler.
func New() *Handler { return &Handler{} }

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

// Validate implements sdk.Handler.
func (*Handler) Validate(_ context.Context, spec sdk.InstanceSpec) error {
	if spec.Listen == "" {
		return errors.New("udp: a listen address is required")
	}
	_, err := udpserve.LimitsOf(spec.Params)
	return err
}

// Start implements sdk.Handler. Where the host can, it forwards the
// instance's socket to the host (see the package doc); a host that refuses
// a udp forward (one from before sdk 1.5.0 forwards tcp only) leaves the
// handler to serve the sessions itself.
func (h *Handler) Start(ctx context.Context, spec sdk.InstanceSpec, host sdk.Host) error {
	lim, err := udpserve.LimitsOf(spec.Params)
	if err != nil {
		return err
	}
	if fw, ok := host.(sdk.Forwarder); ok {
		if err := h.runs.Add(spec.ID); err != nil {
			return err
		}
		ferr := fw.Forward(ctx, sdk.LinkRequest{Instance: spec.ID, Network: "udp"}, sdk.HandoffOptions{})
		if ferr == nil {
			return nil
		}
		_ = h.runs.Stop(ctx, spec.ID)
		host.Logger(spec.ID).Debug("udp socket not forwarded; the handler serves it", "err", ferr)
	}
	pc, err := host.PacketConn(ctx, spec.ID)
	if err != nil {
		return fmt.Errorf("udp instance %s: %w", spec.ID, err)
	}
	return h.runs.Go(spec.ID, func(ctx context.Context) {
		defer pc.Close() // this handler's copy, or an in-process host's socket of an instance that is ending
		srv := udpserve.New(spec.ID, pc, host, lim)
		defer srv.Close()
		srv.Serve(ctx)
	})
}

// Stop implements sdk.Handler.
func (h *Handler) Stop(ctx context.Context, id string) error { return h.runs.Stop(ctx, id) }

var _ sdk.Handler = (*Handler)(nil)
