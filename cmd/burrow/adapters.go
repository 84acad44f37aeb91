package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/burrowproject/burrow/conf"
	"github.com/burrowproject/burrow/server/instances"
	"github.com/burrowproject/burrow/server/pluginhost"
	"github.com/burrowproject/burrow/server/runtime"
	"github.com/burrowproject/burrow/web"
)

// The adapters between the master's parts, which know nothing of each
// other: the runtime as the instance manager's Runtime, its handlers as the
// API's schemes.

// startPlugins opens the plugin directory: plugins= in the master URL, or
// the first of pluginDirs that exists beside the burrow binary.
func startPlugins(inst *conf.Instance, log *slog.Logger, onState func(id, state, reason string)) (*pluginhost.Host, error) {
	if err := probeFDLink(); err != nil {
		return nil, err
	}
	dir := inst.Params.Plugins
	if dir == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("find plugin directory: %w", err)
		}
		if dir, err = findPluginDir(exe); err != nil {
			return nil, err
		}
	}
	return pluginhost.New(pluginhost.Config{Dir: dir, Logger: log, OnState: onState, LogLevel: string(inst.Params.Log)})
}

// runtimeAdapter presents the runtime as the instance manager's Runtime.
type runtimeAdapter struct{ rt *runtime.Runtime }

func (a runtimeAdapter) Validate(inst *conf.Instance) error {
	err := a.rt.Validate(inst)
	if errors.Is(err, runtime.ErrUnknownScheme) {
		return fmt.Errorf("%w: %w", instances.ErrUnknownScheme, err)
	}
	return err
}

func (a runtimeAdapter) Start(ctx context.Context, id string, inst *conf.Instance, log *slog.Logger) (instances.Running, error) {
	r, err := a.rt.Start(ctx, id, inst, log)
	if err != nil {
		return nil, err
	}
	return running{r}, nil
}

// running presents a runtime instance as the manager's Running.
type running struct{ *runtime.Running }

func (r running) Stats() instances.Stats { return instances.Stats(r.Running.Stats()) }

// schemeLister presents the runtime's handlers to the API (GET /schemes).
type schemeLister struct{ rt *runtime.Runtime }

func (l schemeLister) Schemes(ctx context.Context) []web.SchemeInfo {
	list := l.rt.Handlers(ctx)
	out := make([]web.SchemeInfo, 0, len(list))
	for _, h := range list {
		si := web.SchemeInfo{Scheme: h.Scheme, Plugin: h.Plugin, Version: h.Desc.Version}
		if h.Err != nil {
			si.Error = h.Err.Error()
		}
		for _, p := range h.Desc.Params {
			si.Params = append(si.Params, web.ParamInfo{Name: p.Name, Type: p.Type, Default: p.Default, Help: p.Help})
		}
		out = append(out, si)
	}
	return out
}
