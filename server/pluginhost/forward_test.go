package pluginhost

import (
	"context"
	"strings"
	"testing"

	"github.com/burrowproject/burrow/plugins/sdk"
	"github.com/burrowproject/burrow/plugins/tcp"
)

// forwardAsked is a tcp handler whose Start asks the host to forward with
// a request of its own making.
type forwardAsked struct {
	*tcp.Handler
	req func(spec sdk.InstanceSpec) sdk.LinkRequest
}

func (f forwardAsked) Start(ctx context.Context, spec sdk.InstanceSpec, host sdk.Host) error {
	return host.(sdk.Forwarder).Forward(ctx, f.req(spec), sdk.HandoffOptions{})
}

// A forward request crosses the fd link (op F); the host's refusal comes
// back to the plugin verbatim, and so to whoever started the instance.
func TestForwardRefusalCrossesFdLink(t *testing.T) {
	e := newEnv(t)
	for _, c := range []struct {
		name string
		req  func(spec sdk.InstanceSpec) sdk.LinkRequest
		want string
	}{
		{"foreign target", func(s sdk.InstanceSpec) sdk.LinkRequest {
			return sdk.LinkRequest{Instance: s.ID, Network: "tcp", Target: "10.9.9.9:22"}
		}, "target not allowed"},
		{"other instance", func(sdk.InstanceSpec) sdk.LinkRequest {
			return sdk.LinkRequest{Instance: "not-mine", Network: "tcp"}
		}, "unknown instance"},
		{"udp of a tcp instance", func(s sdk.InstanceSpec) sdk.LinkRequest {
			return sdk.LinkRequest{Instance: s.ID, Network: "udp"}
		}, "no udp socket to forward"},
	} {
		h := mustHandler(t, shimHostFor(t, "tcp", forwardAsked{Handler: tcp.New(), req: c.req}), "tcp")
		spec, _ := e.add("fwd-"+strings.ReplaceAll(c.name, " ", "-"), "tcp")
		err := h.Start(t.Context(), spec, e.host)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Start err %v, want %q", c.name, err, c.want)
		}
		e.host.Remove(spec.ID, 0)
	}
}
