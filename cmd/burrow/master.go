package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/burrowproject/burrow/bridge"
	"github.com/burrowproject/burrow/conf"
	"github.com/burrowproject/burrow/internal/tlsx"
	"github.com/burrowproject/burrow/server/instances"
	"github.com/burrowproject/burrow/server/master"
	"github.com/burrowproject/burrow/server/pluginhost"
	"github.com/burrowproject/burrow/server/runtime"
	"github.com/burrowproject/burrow/web"
)

// runMaster runs the daemon: the shared bridge agents dial (bridge=), the
// runtime that runs every instance, and the admin API. The master's tls=
// is the API's; the bridge's is bridgetls=.
func runMaster(ctx context.Context, inst *conf.Instance, log *slog.Logger) error {
	metrics := web.NewMetrics()
	// The certificate kept in the data directory: the shared bridge serves
	// it (unless bridgetls=2 names files) and so do server:// instances, so
	// the fingerprint agents pin survives restarts.
	cert, created, err := tlsx.Persistent(inst.Params.Data)
	if err != nil {
		return fmt.Errorf("master: %w", err)
	}
	if created {
		log.Info("bridge certificate created", "dir", inst.Params.Data, "fp", tlsx.Fingerprint(cert.Certificate[0]))
	}
	opts := runtime.Options{
		Version: version, Logger: log, OnLinkError: metrics.LinkError, BridgeCert: &cert,
		OnBridgeRefuse: metrics.BridgeRefused, OnUDPDrop: metrics.UDPDropped, OnLogSuppressed: metrics.LogSuppressed,
	}
	var (
		agents master.AgentLister
		info   *master.BridgeInfo
	)
	if addr := inst.Params.Bridge; addr != "" {
		p := inst.Params
		crt, key := "", ""
		if p.BridgeTLS == conf.TLSFiles {
			crt, key = p.BridgeCrt, p.BridgeKey
		}
		tc, fp, err := runtime.BridgeTLS(crt, key, &cert, log)
		if err != nil {
			return err
		}
		if p.BridgeTLS == conf.TLSOff {
			log.Warn("bridgetls=0: the shared bridge also accepts plain agents, whose key travels in clear text")
		}
		shared := runtime.NewSharedBridgeConfig(runtime.BridgeConfig(p, tc, p.BridgeTLS == conf.TLSOff, log, metrics.BridgeRefused))
		shared.Host.OnLinkError(metrics.LinkError)
		shared.Host.OnLogSuppressed(metrics.LogSuppressed)
		bl, err := runtime.ListenBridge(shared.Server, bridge.CarrierType(p.BridgeType), addr)
		if err != nil {
			return fmt.Errorf("shared bridge: %w", err)
		}
		bl.Start()
		bound := bl.Addr()
		defer func() { // after master.Run has stopped every instance
			bl.Stop()
			_ = shared.Server.Close()
		}()
		opts.Shared = shared
		agents = agentLister{shared.Server}
		info = master.NewBridgeInfo(bound, fp, p.BridgeTLS != conf.TLSFiles, carrierQuery(p)...)
	}
	var rt *runtime.Runtime
	if inst.Params.Handlers != "inprocess" {
		ph, err := startPlugins(inst, log, func(id, state, reason string) { rt.PluginState(id, state, reason) })
		if err != nil {
			log.Warn("handlers run in-process: no usable plugin directory", "err", err)
		} else {
			defer ph.Close()
			opts.Plugins = ph
			log.Info("handlers run as plugin processes", "schemes", ph.Schemes())
		}
	}
	rt = runtime.New(opts)
	return master.Run(ctx, inst, master.Deps{
		Runtime: runtimeAdapter{rt}, Schemes: schemeLister{rt},
		Agents: agents, Bridge: info, Metrics: metrics, Log: log, Version: version,
	})
}

// startPlugins opens the plugin directory: plugins= in the master URL, or
// "plugins" next to the burrow binary (bin/plugins after make build).
func startPlugins(inst *conf.Instance, log *slog.Logger, onState func(id, state, reason string)) (*pluginhost.Host, error) {
	dir := inst.Params.Plugins
	if dir == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("find plugin directory: %w", err)
		}
		dir = filepath.Join(filepath.Dir(exe), "plugins")
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

// carrierQuery is what an agent of the shared bridge adds to its URL for
// the bridge's carrier (bridgetype=, wspath=).
func carrierQuery(p conf.Params) []string {
	if p.BridgeType == int(bridge.CarrierTCP) {
		return nil
	}
	q := []string{fmt.Sprintf("type=%d", p.BridgeType)}
	if p.WSPath != "" {
		q = append(q, "wspath="+p.WSPath)
	}
	return q
}

// agentLister presents the bridge's agents to the API.
type agentLister struct{ srv *bridge.Server }

func (l agentLister) Agents() []master.AgentInfo {
	list := l.srv.Agents()
	out := make([]master.AgentInfo, 0, len(list))
	for _, a := range list {
		out = append(out, master.AgentInfo{
			ID: a.ID, Pool: a.KeyID, Name: a.Name, Addr: a.RemoteAddr, Version: a.Version,
			Connected: a.Since, Streams: a.OpenStreams, BytesIn: a.BytesIn, BytesOut: a.BytesOut,
		})
	}
	return out
}

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
