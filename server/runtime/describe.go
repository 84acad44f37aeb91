package runtime

import (
	"context"
	"maps"
	"slices"

	"github.com/burrowproject/burrow/plugins/sdk"
)

// HandlerInfo is what one handler scheme is: its descriptor, or why it
// could not be asked.
type HandlerInfo struct {
	Scheme string
	Plugin bool // served by a plugin process
	Desc   sdk.Descriptor
	Err    error
}

// Handlers describes every handler scheme the runtime serves, sorted by
// scheme. Asking a plugin launches its process if it does not run yet;
// ctx bounds that.
func (rt *Runtime) Handlers(ctx context.Context) []HandlerInfo {
	var plugins []string
	if rt.opts.Plugins != nil {
		plugins = rt.opts.Plugins.Schemes()
	}
	out := make([]HandlerInfo, 0, len(rt.handlers))
	for _, scheme := range slices.Sorted(maps.Keys(rt.handlers)) {
		d, err := rt.handlers[scheme].Describe(ctx)
		out = append(out, HandlerInfo{Scheme: scheme, Plugin: slices.Contains(plugins, scheme), Desc: d, Err: err})
	}
	return out
}
