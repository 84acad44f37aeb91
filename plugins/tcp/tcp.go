// Package tcp is the TCP forwarding handler: every connection accepted on
// an instance's listener is handed to the host, which links it through the
// instance's agent to a target and copies the bytes itself.
package tcp

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/burrowproject/burrow/internal/netx"
	"github.com/burrowproject/burrow/plugins/sdk"
)

// Version is the handler's version.
const Version = "1.0.0"

// Handler forwards TCP connections. Build it with New.
type Handler struct {
	runs sdk.Runs
}

// New returns a TCP handler.
func New() *Handler { return &Handler{} }

// Describe implements sdk.Handler.
func (*Handler) Describe(context.Context) (sdk.Descriptor, error) {
	return sdk.Descriptor{
		Name: "tcp", Version: Version, SDKVersion: sdk.Version, Schemes: []string{"tcp"},
		Capabilities: []string{sdk.CapHandoff, sdk.CapNeedsListener},
	}, nil
}

// Validate implements sdk.Handler.
func (*Handler) Validate(_ context.Context, spec sdk.InstanceSpec) error {
	if spec.Listen == "" {
		return errors.New("tcp: a listen address is required")
	}
	return nil
}

// Start implements sdk.Handler.
func (h *Handler) Start(ctx context.Context, spec sdk.InstanceSpec, host sdk.Host) error {
	ln, err := host.Listener(ctx, spec.ID)
	if err != nil {
		return fmt.Errorf("tcp instance %s: %w", spec.ID, err)
	}
	log := host.Logger(spec.ID)
	return h.runs.Go(spec.ID, func(ctx context.Context) {
		netx.AcceptLoop(ctx, ln, log, func(c net.Conn) {
			req := sdk.LinkRequest{Instance: spec.ID, Network: "tcp",
				Meta: map[string]string{sdk.MetaClientAddr: c.RemoteAddr().String()}}
			if err := host.Handoff(ctx, c, req, nil, sdk.HandoffOptions{}); err != nil {
				log.Debug("handoff failed", "client", c.RemoteAddr().String(), "err", err)
			}
		})
	})
}

// Stop implements sdk.Handler.
func (h *Handler) Stop(ctx context.Context, id string) error { return h.runs.Stop(ctx, id) }

var _ sdk.Handler = (*Handler)(nil)
