package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/burrowproject/burrow/bridge"
	"github.com/burrowproject/burrow/conf"
	"github.com/burrowproject/burrow/internal/tlsx"
	"github.com/burrowproject/burrow/server/events"
	"github.com/burrowproject/burrow/server/history"
	"github.com/burrowproject/burrow/server/inspect"
	"github.com/burrowproject/burrow/server/instances"
	"github.com/burrowproject/burrow/server/pluginhost"
	"github.com/burrowproject/burrow/server/runtime"
	"github.com/burrowproject/burrow/server/store"
	"github.com/burrowproject/burrow/web"
)

// This file is the master's composition root: newMaster builds every part
// of the daemon as a value (the data directory's certificate and state
// store, the events bus, the shared bridge, the plugin host, the runtime,
// the traffic history, the inspector's rings, the metrics, the instance
// manager, the web API and its HTTP server) and wires them together; Run
// starts them in order and stops them in reverse. No package below main
// knows another's place in this graph.

// stopTimeout bounds stopping every instance at shutdown.
const stopTimeout = 15 * time.Second

// masterOptions replace parts of the graph in tests.
type masterOptions struct {
	runtime  instances.Runtime // replaces the runtime built from the URL
	listener net.Listener      // served instead of listening on the URL's address
	config   *configSource     // the config file the master runs from (-c), if any
}

// master is the built graph.
type master struct {
	inst    *conf.Instance
	log     *slog.Logger
	bus     *events.Bus
	manager *instances.Manager
	bridge  *bridgeService   // nil without bridge=
	plugins *pluginhost.Host // nil with handlers=inprocess (or no usable plugin directory)
	api     *apiService
	banner  banner
	cert    *tls.Certificate // the data directory's, once loaded (dataCert)
	config  *configSource    // nil without -c
	rt      instances.Runtime
}

// runMaster runs the daemon until ctx ends.
func runMaster(ctx context.Context, inst *conf.Instance, log *slog.Logger, cfg *configSource) error {
	m, err := newMaster(inst, log, masterOptions{config: cfg})
	if err != nil {
		return err
	}
	return m.Run(ctx)
}

// newMaster builds the master described by inst. On error nothing is left
// open.
func newMaster(inst *conf.Instance, log *slog.Logger, o masterOptions) (_ *master, err error) {
	if inst == nil || inst.Scheme != conf.SchemeMaster {
		return nil, errors.New("master: not a master:// URL")
	}
	m := &master{inst: inst, log: log}
	defer func() {
		if err != nil {
			m.close(o.listener)
		}
	}()
	// The API's certificate first: a bad one stops the start before
	// anything listens.
	tc, fp, err := apiTLS(inst.Params, m.dataCert, log)
	if err != nil {
		return nil, fmt.Errorf("master: %w", err)
	}
	metrics := web.NewMetrics()
	rings := inspect.New(inspect.Config{})
	rt := o.runtime
	var agents web.AgentLister
	if rt == nil {
		built, err := m.buildRuntime(metrics, rings)
		if err != nil {
			return nil, err
		}
		rt = runtimeAdapter{built}
		if m.bridge != nil {
			agents = m.bridge.srv
		}
	}
	st, err := store.Open(inst.Params.Data)
	if err != nil {
		return nil, fmt.Errorf("master: %w", err)
	}
	m.bus = events.New(log, 0)
	m.manager, err = instances.New(instances.Config{Store: st, Bus: m.bus, Runtime: rt, Log: log, Master: inst,
		History: history.New(), Forget: []instances.Forgetter{rings}})
	if err != nil {
		return nil, fmt.Errorf("master: %w", err)
	}
	m.rt, m.config = rt, o.config
	if m.config != nil {
		// Before the instances start: Start then starts the file's too.
		if err := m.config.reconcile(context.Background(), m.config.first, m, rt); err != nil {
			return nil, fmt.Errorf("master: %w", err)
		}
	}
	ln := o.listener
	if ln == nil {
		if ln, err = net.Listen("tcp", inst.Listen); err != nil {
			return nil, fmt.Errorf("master: listen: %w", err)
		}
	}
	o.listener = ln
	var schemes web.SchemeLister
	if ra, ok := rt.(runtimeAdapter); ok {
		schemes = schemeLister{ra.rt}
	}
	engine, err := web.New(web.Options{
		Manager: m.manager, Master: inst, Version: version, Started: time.Now(),
		Agents: agents, Bridge: m.banner.bridge, Schemes: schemes, Metrics: metrics, Inspector: rings, Log: log,
	})
	if err != nil {
		return nil, fmt.Errorf("master: %w", err)
	}
	m.api = newAPIService(ln, engine, tc, log)
	m.banner = banner{addr: ln.Addr().String(), root: web.Root(inst), tls: inst.Params.TLS, fp: fp, data: inst.Params.Data,
		key: m.manager.APIKey(), created: m.manager.KeyCreated(), bridge: m.banner.bridge}
	return m, nil
}

// buildRuntime builds the runtime and what it runs on: the data
// directory's certificate, the shared bridge (bridge=) and the plugin host.
func (m *master) buildRuntime(metrics *web.Metrics, rings *inspect.Set) (*runtime.Runtime, error) {
	inst, log := m.inst, m.log
	cert, err := m.dataCert()
	if err != nil {
		return nil, err
	}
	opts := runtime.Options{
		Version: version, Logger: log, OnLinkError: metrics.LinkError, BridgeCert: cert,
		OnBridgeRefuse: metrics.BridgeRefused, OnCount: metrics.HandlerCount, OnLogSuppressed: metrics.LogSuppressed,
	}
	if addr := inst.Params.Bridge; addr != "" {
		p := inst.Params
		crt, key := "", ""
		if p.BridgeTLS == conf.TLSFiles {
			crt, key = p.BridgeCrt, p.BridgeKey
		}
		tc, fp, err := runtime.BridgeTLS(crt, key, cert, log)
		if err != nil {
			return nil, err
		}
		if p.BridgeTLS == conf.TLSOff {
			log.Warn("bridgetls=0: the shared bridge also accepts plain agents, whose key travels in clear text")
		}
		shared := runtime.NewSharedBridgeConfig(runtime.BridgeConfig(p, tc, p.BridgeTLS == conf.TLSOff, log, metrics.BridgeRefused))
		shared.Host.OnLinkError(metrics.LinkError)
		shared.Host.OnLogSuppressed(metrics.LogSuppressed)
		shared.Host.OnCount(metrics.HandlerCount)
		bl, err := runtime.ListenBridge(shared.Server, bridge.CarrierType(p.BridgeType), addr)
		if err != nil {
			return nil, fmt.Errorf("shared bridge: %w", err)
		}
		m.bridge = &bridgeService{srv: shared.Server, ln: bl}
		opts.Shared = shared
		m.banner.bridge = newBridgeInfo(bl.Addr(), fp, p.BridgeTLS != conf.TLSFiles, carrierQuery(p)...)
	}
	var rt *runtime.Runtime
	if inst.Params.Handlers != "inprocess" {
		ph, err := startPlugins(inst, log, func(id, state, reason string) { rt.PluginState(id, state, reason) })
		if err != nil {
			log.Warn("handlers run in-process: no usable plugin directory", "err", err)
		} else {
			m.plugins = ph
			opts.Plugins = ph
			log.Info("handlers run as plugin processes", "schemes", ph.Schemes())
		}
	}
	opts.Records = rings
	rt = runtime.New(opts)
	return rt, nil
}

// dataCert returns the certificate kept in the data directory, made on
// first use: the shared bridge serves it (unless bridgetls=2 names files),
// so do server:// instances and, with tls=1, the admin API, so the
// fingerprint agents and API clients pin survives restarts.
func (m *master) dataCert() (*tls.Certificate, error) {
	if m.cert != nil {
		return m.cert, nil
	}
	dir := m.inst.Params.Data
	cert, created, err := tlsx.Persistent(dir)
	if err != nil {
		return nil, fmt.Errorf("master: %w", err)
	}
	if created {
		m.log.Info("certificate created", "dir", dir, "files", tlsx.PersistentCert+", "+tlsx.PersistentKey, "fp", tlsx.Fingerprint(cert.Certificate[0]))
	}
	m.cert = &cert
	return m.cert, nil
}

// Run serves the master until ctx is cancelled or the API server fails,
// then shuts down gracefully: every SSE stream gets a shutdown event, the
// HTTP server drains, every instance is stopped and the state is saved,
// the plugins exit, the bridge closes. It returns nil after a clean
// shutdown.
func (m *master) Run(ctx context.Context) error {
	if m.bridge != nil {
		m.bridge.Start()
	}
	if err := m.manager.Start(ctx); err != nil {
		m.log.Warn("Auto-start interrupted", "err", err)
	}
	m.banner.print(m.log)
	m.api.Start()
	stopWatch := m.watchConfig(ctx)
	var runErr error
	serving := true
	select {
	case <-ctx.Done():
	case err := <-m.api.Failed():
		runErr, serving = fmt.Errorf("master: serve: %w", err), false
	}
	m.log.Info("Master shutting down")
	stopWatch()
	m.bus.Shutdown() // every SSE stream gets its shutdown event and ends
	if err := m.api.Stop(serving); err != nil {
		runErr = err
	}
	m.api = nil
	if err := m.close(nil); err != nil {
		runErr = errors.Join(runErr, err)
	}
	m.log.Info("Master stopped")
	return runErr
}

// watchConfig reloads the config file on SIGHUP and on change until the
// returned function is called (which waits for the watcher to end).
func (m *master) watchConfig(ctx context.Context) (stop func()) {
	if m.config == nil {
		return func() {}
	}
	wctx, cancel := context.WithCancel(ctx)
	wait := m.config.watch(wctx, m.log, func(ctx context.Context) { m.config.reload(ctx, m, m.rt) })
	return func() { cancel(); wait() }
}

// close stops what was built, in reverse order: the instances (saving the
// state), the plugins, the bridge; ln is an API listener not yet served.
func (m *master) close(ln net.Listener) error {
	var err error
	if m.api != nil {
		_ = m.api.ln.Close()
	} else if ln != nil {
		_ = ln.Close()
	}
	if m.manager != nil {
		cctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
		if cerr := m.manager.Close(cctx); cerr != nil {
			err = fmt.Errorf("master: stop instances: %w", cerr)
		}
		cancel()
	}
	if m.plugins != nil {
		m.plugins.Close()
	}
	if m.bridge != nil {
		m.bridge.Stop()
	}
	return err
}

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
