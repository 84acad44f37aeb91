// Package tcp is the TCP forwarding handler: it hands an instance's
// listener to the host (sdk.Forwarder), which accepts every connection,
// links it through the instance's agent to a target and copies the bytes
// itself.
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

// Start implements sdk.Handler. A tcp connection needs nothing from the
// handler, so where the host can (sdk.Forwarder) the handler forwards the
// instance's whole listener: the host accepts and links every connection
// itself, and the handler (out of process: the plugin process) stays off
// the connection path. Otherwise it accepts and hands off each connection.
func (h *Handler) Start(ctx context.Context, spec sdk.InstanceSpec, host sdk.Host) error {
	req := sdk.LinkRequest{Instance: spec.ID, Network: "tcp"}
	if fw, ok := host.(sdk.Forwarder); ok {
		if err := h.runs.Add(spec.ID); err != nil {
			return err
		}
		if err := fw.Forward(ctx, req, sdk.HandoffOptions{}); err != nil {
			_ = h.runs.Stop(ctx, spec.ID)
			return fmt.Errorf("tcp instance %s: %w", spec.ID, err)
		}
		return nil
	}
	ln, err := host.Listener(ctx, spec.ID)
	if err != nil {
		return fmt.Errorf("tcp instance %s: %w", spec.ID, err)
	}
	log := host.Logger(spec.ID)
	return h.runs.Go(spec.ID, func(ctx context.Context) {
		netx.AcceptLoop(ctx, ln, log, func(c net.Conn) {
			r := req
			r.Meta = map[string]string{sdk.MetaClientAddr: c.RemoteAddr().String()}
			if err := host.Handoff(ctx, c, r, nil, sdk.HandoffOptions{}); err != nil {
				log.Debug("handoff failed", "client", r.Meta[sdk.MetaClientAddr], "err", err)
			}
		})
	})
}

// Stop implements sdk.Handler. A forward ends when the host removes the
// instance; an accept loop of the handler's own ends here.
func (h *Handler) Stop(ctx context.Context, id string) error { return h.runs.Stop(ctx, id) }

var _ sdk.Handler = (*Handler)(nil)
