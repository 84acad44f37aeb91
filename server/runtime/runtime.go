// Package runtime runs instances: it turns a parsed instance URL into the
// parts that serve it. A server (NodePass pair, server end) gets its own
// bridge and the tcp and udp handlers on its target; a client is an agent;
// tcp, udp and handler schemes link through the shared bridge (or, run
// alone, a bridge of their own from bridge=). The master and the
// single-URL command both run instances through a Runtime.
package runtime

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/burrowproject/burrow/bridge"
	"github.com/burrowproject/burrow/client"
	"github.com/burrowproject/burrow/conf"
	"github.com/burrowproject/burrow/internal/allowlist"
	"github.com/burrowproject/burrow/internal/block"
	"github.com/burrowproject/burrow/internal/egress"
	"github.com/burrowproject/burrow/internal/tlsx"
	httph "github.com/burrowproject/burrow/plugins/http"
	"github.com/burrowproject/burrow/plugins/sdk"
	"github.com/burrowproject/burrow/plugins/tcp"
	"github.com/burrowproject/burrow/plugins/udp"
	"github.com/burrowproject/burrow/server/flow"
	"github.com/burrowproject/burrow/server/host"
)

// Options configure a Runtime.
type Options struct {
	Version string       // reported by agents to bridges
	Logger  *slog.Logger // nil = discard
	// Shared is the master's bridge that tcp, udp and handler instances
	// link through; nil when the runtime runs a single URL.
	Shared *SharedBridge
	// Records, when set, keeps what http instances with inspect= record
	// (the master's inspector); without it inspect= is refused.
	Records host.RecordSink
	// OnLinkError, if set, is told the reason of every failed link on the
	// hosts this runtime creates (see host.OnLinkError).
	OnLinkError func(reason string)
	// OnBridgeRefuse, if set, is told the reason of every connection the
	// bridges this runtime builds refuse before it authenticated (see
	// bridge.Config.OnRefuse).
	OnBridgeRefuse func(reason string)
	// OnCount, if set, is told what handlers count about their instances
	// (sdk.Counter: e.g. udp.DroppedCounter+reason), in process or out.
	OnCount func(name string, n uint64)
	// OnLogSuppressed, if set, is told how many failed-link warnings the
	// hosts this runtime creates held back (see host.OnLogSuppressed).
	OnLogSuppressed func(n int)
	// Plugins, if set, runs handlers as go-plugin processes: every scheme
	// it has a binary for is served by that process, built-in or not.
	// Schemes it lacks fall back to the built-ins linked in.
	Plugins PluginSource
	// BridgeCert, when set, is the certificate the master keeps in its
	// data directory: server:// instances serve it (unless tls=2 names
	// files), so the fingerprint agents pin survives restarts. Nil: each
	// bridge makes its own at start.
	BridgeCert *tls.Certificate
	// CallTimeout bounds every call to a handler that is not bounded by
	// the handler itself (Validate; Describe and Start of an instance):
	// a plugin that hangs must not hang the API. 0 = DefaultCallTimeout.
	CallTimeout time.Duration
}

// DefaultCallTimeout is Options.CallTimeout's default.
const DefaultCallTimeout = 30 * time.Second

// PluginSource hands out process-backed handlers (*pluginhost.Host).
type PluginSource interface {
	Schemes() []string
	Handler(scheme string) (sdk.Handler, error)
}

// SharedBridge is a bridge that several instances use, each naming its
// agent pool by key.
type SharedBridge struct {
	Server *bridge.Server
	Keys   *bridge.KeySet
	Host   *host.Host
}

// NewSharedBridge builds a bridge accepting the keys instances add, with a
// host for handler instances on top. It serves TLS agents with tlsConf and
// plain ones only with allowPlain (or without tlsConf).
func NewSharedBridge(tlsConf *tls.Config, allowPlain bool, log *slog.Logger) *SharedBridge {
	return NewSharedBridgeConfig(bridge.Config{TLS: tlsConf, AllowPlain: allowPlain, Logger: log})
}

// NewSharedBridgeConfig is NewSharedBridge with the bridge's configuration
// (see BridgeConfig); its Keys are the set instances add.
func NewSharedBridgeConfig(cfg bridge.Config) *SharedBridge {
	keys := bridge.NewKeySet()
	cfg.Keys = keys
	srv := bridge.NewServer(cfg)
	return &SharedBridge{Server: srv, Keys: keys, Host: host.New(srv, cfg.Logger)}
}

// BridgeConfig is the configuration of a bridge for the parameters p
// (handshakes=, hsperip=, hstimeout=; a master's bridgetype= and
// wspath=), without its Keys.
func BridgeConfig(p conf.Params, tlsConf *tls.Config, allowPlain bool, log *slog.Logger, onRefuse func(reason string)) bridge.Config {
	cfg := bridge.Config{
		TLS: tlsConf, AllowPlain: allowPlain, Logger: log, OnRefuse: onRefuse, HandshakeTimeout: p.HandshakeTimeout,
		MaxHandshakes: p.Handshakes, SourceHandshakes: p.HandshakesPerIP, PoolMax: p.Max,
	}
	carrierConfig(&cfg, p.BridgeType, p, log)
	return cfg
}

// Runtime starts instances. It is safe for concurrent use.
type Runtime struct {
	opts     Options
	log      *slog.Logger
	handlers map[string]sdk.Handler // by scheme: plugin processes first, then built-ins

	// sharedMu orders the start and stop of instances that share a
	// listener, so a new instance never receives a listener that the
	// handler of the last one is just closing.
	sharedMu sync.Mutex
	health   sync.Map // unit id -> error, from the plugin host's state reports
}

// New returns a Runtime with the built-in handlers linked in and, with
// opts.Plugins, every plugin's scheme served by its process.
func New(opts Options) *Runtime {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = DefaultCallTimeout
	}
	rt := &Runtime{opts: opts, log: opts.Logger, handlers: map[string]sdk.Handler{
		conf.SchemeTCP:  tcp.New(),
		conf.SchemeUDP:  udp.New(),
		conf.SchemeHTTP: httph.New(),
	}}
	if opts.Plugins != nil {
		for _, scheme := range opts.Plugins.Schemes() {
			h, err := opts.Plugins.Handler(scheme)
			if err != nil {
				rt.log.Warn("plugin unusable", "scheme", scheme, "err", err)
				continue
			}
			rt.handlers[scheme] = h
		}
	}
	return rt
}

// PluginState records a plugin host's report on a unit: "running" clears
// it, anything else makes the instance unhealthy with reason. Give it to
// pluginhost.Config.OnState.
func (rt *Runtime) PluginState(unitID, state, reason string) {
	if state == "running" {
		rt.health.Delete(unitID)
		return
	}
	rt.health.Store(unitID, fmt.Errorf("handler %s: %s", state, reason))
}

// unitHealth is the plugin host's last word on a unit.
func (rt *Runtime) unitHealth(id string) error {
	if err, ok := rt.health.Load(id); ok {
		return err.(error)
	}
	return nil
}

// Stats are an instance's live figures. Counters are cumulative since Start.
type Stats struct {
	Mode, Ping, Pool, TCPs, UDPs int
	TCPRx, TCPTx, UDPRx, UDPTx   int64
}

// ErrUnknownScheme is wrapped by Validate for a scheme no handler serves.
var ErrUnknownScheme = errors.New("unknown scheme")

// Running is a started instance. Its parts retry by themselves (an agent
// reconnects, a bridge keeps accepting), so it never ends on its own; Done
// is for callers that watch for that and stays open.
type Running struct {
	stats  func() Stats
	health func() error
	stop   func(ctx context.Context) error
	done   chan struct{}
	once   sync.Once
}

// Stats returns the instance's live figures.
func (r *Running) Stats() Stats { return r.stats() }

// Health is nil while the instance serves, else why it cannot (an agent
// that cannot reach or was refused by its bridge).
func (r *Running) Health() error {
	if r.health == nil {
		return nil
	}
	return r.health()
}

// Done is closed if the instance ends by itself.
func (r *Running) Done() <-chan struct{} { return r.done }

// Err says why the instance ended by itself.
func (r *Running) Err() error { return nil }

// Stop stops the instance: it stops accepting, lets connections in flight
// finish until ctx ends, then closes them. Later calls do nothing.
func (r *Running) Stop(ctx context.Context) error {
	var err error
	r.once.Do(func() { err = r.stop(ctx) })
	return err
}

// Validate checks what the URL parser cannot: that the scheme has a handler.
func (rt *Runtime) Validate(inst *conf.Instance) error {
	switch inst.Scheme {
	case conf.SchemeServer, conf.SchemeClient:
		return nil
	case conf.SchemeMaster:
		return fmt.Errorf("a master cannot run as an instance: %w", ErrUnknownScheme)
	}
	h := rt.handlers[inst.Scheme]
	if h == nil {
		return fmt.Errorf("no handler for scheme %q: %w", inst.Scheme, ErrUnknownScheme)
	}
	if err := rt.checkInspect(inst); err != nil {
		return err
	}
	if err := rt.checkBridgeParams(inst); err != nil {
		return err
	}
	// Every call to the handler, a plugin process that may hang, is
	// bounded: the API must answer.
	ctx, cancel := context.WithTimeout(context.Background(), rt.opts.CallTimeout)
	defer cancel()
	if !conf.IsBuiltinScheme(inst.Scheme) {
		if _, err := allowlist.ParseAllow(inst.Targets); err != nil {
			return fmt.Errorf("targets: %w", err)
		}
		desc, err := h.Describe(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("%s handler: no answer to describe within %s: %w", inst.Scheme, rt.opts.CallTimeout, err)
			}
			return fmt.Errorf("describe %s handler: %w", inst.Scheme, err)
		}
		declared := make([]conf.Declared, 0, len(desc.Params))
		for _, p := range desc.Params {
			declared = append(declared, conf.Declared{Name: p.Name, Type: p.Type})
		}
		if err := conf.CheckDeclared(inst, declared); err != nil {
			return err
		}
	}
	if err := h.Validate(ctx, specOf("", inst)); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%s handler: no answer to validate within %s: %w", inst.Scheme, rt.opts.CallTimeout, err)
		}
		return err
	}
	return nil
}

// checkBridgeParams refuses the bridge parameters of a handler instance
// where they would be ignored: run alone it needs bridge= (its own bridge,
// whose TLS tls=, crt= and key= set); in a master it uses the master's
// bridge, so it takes none of them (http's tls= is its HTTPS entry).
func (rt *Runtime) checkBridgeParams(inst *conf.Instance) error {
	if rt.opts.Shared == nil {
		if inst.Params.Bridge == "" {
			return fmt.Errorf("%s instances need bridge= when run alone", inst.Scheme)
		}
		return nil
	}
	names := []string{"bridge", "bridgetls", "bridgecrt", "bridgekey"}
	if inst.Scheme != conf.SchemeHTTP { // http's own are its HTTPS entry's
		names = append(names, "tls", "crt", "key")
	}
	for _, name := range names {
		if inst.Query.Get(name) != "" {
			return fmt.Errorf("parameter %s does not apply to a %s instance of a master: it links through the master's bridge (set the bridge's TLS on the master)", name, inst.Scheme)
		}
	}
	return nil
}

// Start runs inst as instance id until Stop. It returns once the instance
// serves, or why it could not start.
func (rt *Runtime) Start(ctx context.Context, id string, inst *conf.Instance, log *slog.Logger) (*Running, error) {
	if log == nil {
		log = rt.log.With("instance", id)
	}
	if err := rt.Validate(inst); err != nil {
		return nil, err
	}
	switch inst.Scheme {
	case conf.SchemeServer:
		return rt.startServer(ctx, id, inst, log)
	case conf.SchemeClient:
		if clientMode(inst) == clientSingle {
			if problems := conf.SingleEndProblems(inst.Query); inst.Params.Mode == clientAuto && len(problems) > 0 {
				return nil, fmt.Errorf("mode=0 chose single-end forwarding because %s can be bound here, and then: %s", inst.Listen, strings.Join(problems, "; "))
			}
			return rt.startSingle(ctx, id, inst, log)
		}
		return rt.startClient(id, inst, log)
	default:
		return rt.startHandler(ctx, id, inst, log)
	}
}

func (rt *Runtime) newHost(l host.Linker, log *slog.Logger) *host.Host {
	h := host.New(l, log)
	rt.hook(h)
	return h
}

// hook gives h the runtime's link-error and suppressed-log hooks.
func (rt *Runtime) hook(h *host.Host) {
	if rt.opts.OnLinkError != nil {
		h.OnLinkError(rt.opts.OnLinkError)
	}
	if rt.opts.OnLogSuppressed != nil {
		h.OnLogSuppressed(rt.opts.OnLogSuppressed)
	}
	if rt.opts.OnCount != nil {
		h.OnCount(rt.opts.OnCount)
	}
}

// BridgeTLS returns the TLS configuration a bridge serves to agents that
// open TLS first: the crt and key files when given, else cert, else a
// self-signed certificate made now. It logs the fingerprint for agents
// to pin (msg="bridge certificate" fp=...) and returns it.
func BridgeTLS(crt, key string, cert *tls.Certificate, log *slog.Logger) (*tls.Config, string, error) {
	var (
		tc  *tls.Config
		fp  string
		err error
	)
	switch {
	case crt != "" || key != "":
		tc, fp, err = tlsx.ServerConfig(int(conf.TLSFiles), crt, key)
	case cert != nil:
		tc, fp = tlsx.ServerConfigFor(*cert)
	default:
		tc, fp, err = tlsx.ServerConfig(int(conf.TLSSelfSigned), "", "")
	}
	if err != nil {
		return nil, "", fmt.Errorf("bridge tls: %w", err)
	}
	log.Info("bridge certificate", "fp", fp)
	return tc, fp, nil
}

// ownBridgeTLS is the certificate of a handler instance's own bridge (run
// alone with bridge=): bridgecrt/bridgekey at bridgetls=2, else crt/key at
// tls=2, else one made at start.
func ownBridgeTLS(p conf.Params, log *slog.Logger) (*tls.Config, error) {
	crt, key := "", ""
	switch {
	case p.BridgeTLS == conf.TLSFiles:
		crt, key = p.BridgeCrt, p.BridgeKey
	case p.TLS == conf.TLSFiles:
		crt, key = p.Crt, p.KeyFile
	}
	tc, _, err := BridgeTLS(crt, key, nil, log)
	return tc, err
}

// startServer runs a NodePass-style server end: a bridge of its own on the
// instance's listen address, and TCP and UDP forwarding on its first target
// through whichever agent connects with the tunnel key.
func (rt *Runtime) startServer(ctx context.Context, id string, inst *conf.Instance, log *slog.Logger) (*Running, error) {
	if serverMode(inst) == serverForward {
		return rt.startForwardServer(id, inst, log)
	}
	key := inst.TunnelKey()
	srv, closeBridge, err := rt.serveBridge(inst, log, bridge.Config{})
	if err != nil {
		return nil, err
	}
	h := rt.newHost(srv, log)
	user := inst.Clone()
	user.Listen, user.Targets = inst.Targets[0], nil
	meter := flow.NewMeter(inst.Params.Slot, inst.Params.Rate)
	units, err := rt.startForwarders(ctx, h, id, user, key, meter, log)
	if err != nil {
		closeBridge()
		return nil, err
	}
	r := &Running{done: make(chan struct{})}
	r.health = func() error { return unitsHealth(rt, units) }
	r.stats = func() Stats {
		s := statsOf(meter.Snapshot())
		s.Mode = serverReverse
		s.Pool, s.Ping = srv.Sessions(key), srv.Ping(key)
		return s
	}
	r.stop = func(ctx context.Context) error {
		stopUnits(ctx, units)
		closeBridge()
		return nil
	}
	return r, nil
}

// poolMin maps min= to client.Config.PoolMin, where 0 is the default
// and no pool is negative.
func poolMin(min int) int {
	if min == 0 {
		return -1
	}
	return min
}

// startClient runs an agent until Stop.
func (rt *Runtime) startClient(id string, inst *conf.Instance, log *slog.Logger) (*Running, error) {
	allow, err := allowlist.ParseAllow(inst.Params.Allow)
	if err != nil {
		return nil, err
	}
	name, _ := os.Hostname()
	p := inst.Params
	cfg := client.Config{
		Bridge: inst.Listen, Key: inst.TunnelKey(), Name: name, Version: rt.opts.Version,
		Targets: inst.Targets, Strategy: egress.Strategy(p.LBS), DNS: p.DNS, Block: block.Parse(p.Block),
		Allow: allow, Fingerprint: p.FP, ServerName: p.SNI,
		Carrier: bridge.CarrierType(p.Type), CarrierPath: p.WSPath, CarrierHost: p.WSHost, FollowCarrier: inst.Query.Get("type") == "",
		DialTimeout: 10 * time.Second, Idle: p.Read, Logger: log, PoolMin: poolMin(p.Min),
		Slots: p.Slot, RateMbps: p.Rate, Proxy: p.Proxy, NoTCP: p.NoTCP, NoUDP: p.NoUDP,
		// NodePass compatibility: a pair's client end (its own targets)
		// with neither fp= nor ca= takes an unverified certificate, with a
		// warning; an agent that serves the master's instances does not.
		Unverified: len(inst.Targets) > 0 && p.FP == "" && p.CA == "",
	}
	if p.TLSSet && p.TLS == conf.TLSOff {
		cfg.TLS = client.TLSOff
	}
	if p.CA != "" {
		if cfg.RootCAs, err = tlsx.LoadCA(p.CA); err != nil {
			return nil, fmt.Errorf("ca=: %w", err)
		}
	}
	if inst.Params.Dial != "" && inst.Params.Dial != "auto" {
		cfg.SourceIP = inst.Params.Dial
	}
	agent, err := client.New(cfg)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		_ = agent.Run(ctx)
	}()
	r := &Running{done: make(chan struct{})}
	r.health = agent.Health
	r.stats = func() Stats {
		a := agent.Stats()
		s := Stats{Mode: clientDual, Ping: agent.Ping(), TCPs: int(a.Links), TCPRx: a.TCPRx, TCPTx: a.TCPTx, UDPRx: a.UDPRx, UDPTx: a.UDPTx}
		if agent.Connected() {
			s.Pool = 1
		}
		return s
	}
	r.stop = func(context.Context) error {
		cancel()
		<-ended
		return nil
	}
	log.Debug("agent started", "instance", id)
	return r, nil
}

// startHandler runs a tcp, udp or handler-scheme instance through the
// shared bridge, or through a bridge of its own on bridge= when run alone.
func (rt *Runtime) startHandler(ctx context.Context, id string, inst *conf.Instance, log *slog.Logger) (*Running, error) {
	key := inst.Params.Agent
	meter := flow.NewMeter(inst.Params.Slot, inst.Params.Rate)
	shared := rt.opts.Shared
	var closeOwn func()
	if shared == nil {
		tc, err := ownBridgeTLS(inst.Params, log)
		if err != nil {
			return nil, err
		}
		shared = NewSharedBridgeConfig(BridgeConfig(inst.Params, tc, inst.Params.BridgeTLS == conf.TLSOff, log, rt.opts.OnBridgeRefuse))
		rt.hook(shared.Host)
		ln, err := net.Listen("tcp", inst.Params.Bridge)
		if err != nil {
			return nil, fmt.Errorf("listen for agents on %s: %w", inst.Params.Bridge, err)
		}
		serveCtx, cancel := context.WithCancel(context.Background())
		served := make(chan struct{})
		go func() {
			defer close(served)
			_ = shared.Server.Serve(serveCtx, ln)
		}()
		closeOwn = func() { cancel(); <-served; _ = shared.Server.Close() }
	}
	shared.Keys.Add(key)
	u, err := rt.startUnit(ctx, shared.Host, id, inst.Scheme, inst, key, meter, log)
	if err != nil {
		rt.dropKey(shared, key)
		if closeOwn != nil {
			closeOwn()
		}
		return nil, err
	}
	r := &Running{done: make(chan struct{})}
	r.health = func() error { return rt.unitHealth(id) }
	r.stats = func() Stats {
		s := statsOf(meter.Snapshot())
		s.Mode = 1
		s.Pool, s.Ping = shared.Server.Sessions(key), shared.Server.Ping(key)
		return s
	}
	r.stop = func(ctx context.Context) error {
		stopUnits(ctx, []*unit{u})
		rt.dropKey(shared, key)
		if closeOwn != nil {
			closeOwn()
		}
		return nil
	}
	return r, nil
}

// dropKey forgets one instance's use of key and disconnects its agents
// when no instance names it any more.
func (rt *Runtime) dropKey(s *SharedBridge, key string) {
	if s.Keys.Remove(key) {
		s.Server.Revoke(key)
	}
}

func statsOf(m flow.Stats) Stats {
	return Stats{
		TCPs: int(m.TCPs), UDPs: int(m.UDPs),
		TCPRx: m.TCPRx, TCPTx: m.TCPTx, UDPRx: m.UDPRx, UDPTx: m.UDPTx,
	}
}
