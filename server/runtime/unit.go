package runtime

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/burrowproject/burrow/bridge"
	"github.com/burrowproject/burrow/conf"
	"github.com/burrowproject/burrow/internal/allowlist"
	"github.com/burrowproject/burrow/internal/block"
	"github.com/burrowproject/burrow/plugins/sdk"
	"github.com/burrowproject/burrow/server/flow"
	"github.com/burrowproject/burrow/server/host"
)

// unit is one handler instance on a host.
type unit struct {
	id      string
	handler sdk.Handler
	host    *host.Host
	shared  bool        // shares its listener: stop under mu
	mu      *sync.Mutex // the runtime's sharedMu
	health  *sync.Map   // the runtime's health reports: forgotten at stop
}

// startUnit binds the sockets the handler needs and starts it.
func (rt *Runtime) startUnit(ctx context.Context, h *host.Host, id, scheme string, inst *conf.Instance, key string, meter *flow.Meter, log *slog.Logger) (*unit, error) {
	handler := rt.handlers[scheme]
	if handler == nil {
		return nil, fmt.Errorf("no handler for scheme %q", scheme)
	}
	ctx, cancel := context.WithTimeout(ctx, rt.opts.CallTimeout)
	defer cancel()
	desc, err := handler.Describe(ctx)
	if err != nil {
		return nil, fmt.Errorf("describe %s handler: %w", scheme, err)
	}
	if inst.Scheme != scheme { // a server's tcp and udp units: only what they take
		inst = inst.Clone()
		for name := range inst.Query {
			if !conf.Applies(scheme, name) {
				delete(inst.Query, name)
			}
		}
	}
	spec := specOf(id, inst)
	spec.Scheme = scheme
	shared := slices.Contains(desc.Capabilities, sdk.CapSharedListener)
	if shared {
		rt.sharedMu.Lock()
		defer rt.sharedMu.Unlock()
	}
	var patterns *allowlist.Allow
	if !conf.IsBuiltinScheme(scheme) {
		if patterns, err = allowlist.ParseAllow(inst.Targets); err != nil {
			return nil, fmt.Errorf("targets: %w", err)
		}
	}
	err = h.Add(host.Instance{
		Records: rt.recordsFor(inst),
		Spec:    spec, AgentKey: key, Meter: meter,
		TCP:       slices.Contains(desc.Capabilities, sdk.CapNeedsListener),
		SharedTCP: shared, Patterns: patterns,
		UDP:   slices.Contains(desc.Capabilities, sdk.CapUDP),
		Proxy: inst.Params.Proxy, Idle: inst.Params.Read,
		Block:   blockOf(scheme, inst),
		LinkLog: linkLog(inst.Params.LinkLog),
	}, log)
	if err != nil {
		return nil, err
	}
	// What a plugin host said about an earlier run of this unit is stale
	// once it starts again: a Start that succeeds means it serves.
	rt.health.Delete(id)
	if err := handler.Start(ctx, spec, h); err != nil {
		h.Remove(id, 0)
		return nil, fmt.Errorf("start %s handler: %w", scheme, err)
	}
	return &unit{id: id, handler: handler, host: h, shared: shared, mu: &rt.sharedMu, health: &rt.health}, nil
}

// linkLog maps linklog= (0 = no warnings) to host.Instance.LinkLog (0 =
// the default, <0 = none).
func linkLog(n int) int {
	if n == 0 {
		return -1
	}
	return n
}

// stopCallTimeout bounds a handler's Stop when the caller gives no deadline.
const stopCallTimeout = 10 * time.Second

// stopUnits stops each handler, then lets its connections in flight finish
// until ctx's deadline (at once without one) before closing them.
func stopUnits(ctx context.Context, units []*unit) {
	var grace time.Duration
	if d, ok := ctx.Deadline(); ok {
		grace = time.Until(d)
	} else { // a plugin's Stop must not hang the caller either
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, stopCallTimeout)
		defer cancel()
	}
	for _, u := range units {
		if u.shared {
			u.mu.Lock()
		}
		_ = u.handler.Stop(ctx, u.id)
		u.host.Remove(u.id, grace)
		u.health.Delete(u.id)
		if u.shared {
			u.mu.Unlock()
		}
	}
}

// specOf is the handler's view of an instance.
func specOf(id string, inst *conf.Instance) sdk.InstanceSpec {
	// Every parameter but agent=, the pool key, which only the host uses:
	// handlers need auth= (credentials they check) and key= (a TLS key file).
	params := make(map[string]string, len(inst.Query))
	for k, v := range inst.Query {
		if len(v) > 0 && k != "agent" {
			params[k] = v[0]
		}
	}
	return sdk.InstanceSpec{
		ID: id, URL: inst.Redacted(), Scheme: inst.Scheme, Listen: inst.Listen,
		Targets: inst.Targets, Agent: bridge.KeyID(inst.Params.Agent), Params: params,
	}
}

// blockOf is the block= set of a tcp unit: the check reads the user's
// first bytes, so it applies where the host copies them untouched.
func blockOf(scheme string, inst *conf.Instance) block.Set {
	if scheme != conf.SchemeTCP {
		return 0
	}
	return block.Parse(inst.Params.Block)
}
