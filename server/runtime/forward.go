package runtime

import (
	"context"
	"log/slog"
	"net"
	"time"

	"github.com/xtaci/smux"

	"github.com/burrowproject/burrow/bridge"
	"github.com/burrowproject/burrow/conf"
	"github.com/burrowproject/burrow/internal/block"
	"github.com/burrowproject/burrow/plugins/sdk"
	"github.com/burrowproject/burrow/server/flow"
	"github.com/burrowproject/burrow/server/host"
)

// Server modes (mode= on server URLs), as NodePass numbers them.
const (
	serverAuto    = 0 // reverse if the target address can be bound here, else forward
	serverReverse = 1 // users connect to the server's target address; the client dials its targets
	serverForward = 2 // users connect to the client's target address; the server dials its targets
)

// serverMode is the mode a server runs in: mode= as given, or for auto
// whether its first target can be bound on this machine.
func serverMode(inst *conf.Instance) int {
	if inst.Params.Mode != serverAuto {
		return inst.Params.Mode
	}
	if canBind(inst.Targets[0], !inst.Params.NoTCP, !inst.Params.NoUDP) {
		return serverReverse
	}
	return serverForward
}

// serveBridge runs a server instance's own bridge on its listen address
// (the tunnel address) with the tunnel key; cfg adds the flow. Every
// server:// bridge serves TLS agents; at tls=0 (NodePass's default) it
// also takes plain ones. The returned function stops it.
func (rt *Runtime) serveBridge(inst *conf.Instance, log *slog.Logger, cfg bridge.Config) (*bridge.Server, func(), error) {
	crt, certKey := "", ""
	if inst.Params.TLS == conf.TLSFiles {
		crt, certKey = inst.Params.Crt, inst.Params.KeyFile
	}
	tc, _, err := BridgeTLS(crt, certKey, rt.opts.BridgeCert, log)
	if err != nil {
		return nil, nil, err
	}
	// NodePass's tls=0 (the default) also takes plain agents on TCP; the
	// other carriers run TLS unless tls=0 is written (WebSocket only).
	p := inst.Params
	plain := p.TLS == conf.TLSOff && (p.Type == int(bridge.CarrierTCP) || p.TLSSet)
	bounds := BridgeConfig(p, tc, plain, log, rt.opts.OnBridgeRefuse)
	cfg.Keys, cfg.TLS, cfg.AllowPlain, cfg.Logger = bridge.NewKeySet(inst.TunnelKey()), bounds.TLS, bounds.AllowPlain, bounds.Logger
	cfg.OnRefuse, cfg.HandshakeTimeout = bounds.OnRefuse, bounds.HandshakeTimeout
	cfg.MaxHandshakes, cfg.SourceHandshakes, cfg.PoolMax = bounds.MaxHandshakes, bounds.SourceHandshakes, bounds.PoolMax
	carrierConfig(&cfg, p.Type, p, log)
	srv := bridge.NewServer(cfg)
	_, stop, err := serveBridgeOn(srv, cfg.Carrier, inst.Listen)
	if err != nil {
		return nil, nil, err
	}
	return srv, stop, nil
}

// startForwardServer runs a server in forward mode: its client listens for
// users and opens a link per connection or datagram session; the server
// dials its own targets for each, through the host's data path (counted,
// slot=, rate=, read=, proxy=, block=).
func (rt *Runtime) startForwardServer(id string, inst *conf.Instance, log *slog.Logger) (*Running, error) {
	h, err := rt.directHost(inst, log)
	if err != nil {
		return nil, err
	}
	meter := flow.NewMeter(inst.Params.Slot, inst.Params.Rate)
	fid := id + "/forward"
	err = h.Add(host.Instance{
		Spec:  sdk.InstanceSpec{ID: fid, Scheme: conf.SchemeServer, URL: inst.Redacted()},
		Meter: meter, Proxy: inst.Params.Proxy, Idle: inst.Params.Read, Block: block.Parse(inst.Params.Block),
	}, log)
	if err != nil {
		return nil, err
	}
	linkCtx, cancelLinks := context.WithCancel(context.Background())
	inbound := func(st *smux.Stream, lh bridge.LinkHeader) {
		if (lh.Network == bridge.NetworkTCP && inst.Params.NoTCP) || (lh.Network == bridge.NetworkUDP && inst.Params.NoUDP) {
			log.Warn("link refused: network disabled on this server", "network", lh.Network.String(), "client", lh.Source)
			_ = st.Close()
			return
		}
		var c net.Conn = st
		if lh.Network == bridge.NetworkUDP {
			c = bridge.NewDatagramConn(st)
		}
		req := sdk.LinkRequest{Instance: fid, Network: lh.Network.String(), Meta: map[string]string{sdk.MetaClientAddr: lh.Source}}
		_ = h.Handoff(linkCtx, c, req, nil, sdk.HandoffOptions{}) // failures are logged and counted by the host
	}
	srv, closeBridge, err := rt.serveBridge(inst, log, bridge.Config{Flow: bridge.FlowForward, Inbound: inbound})
	if err != nil {
		h.Remove(fid, 0)
		cancelLinks()
		return nil, err
	}
	log.Info("server in forward mode", "tunnel", inst.Listen, "targets", len(inst.Targets))
	key := inst.TunnelKey()
	r := &Running{done: make(chan struct{})}
	r.stats = func() Stats {
		s := statsOf(meter.Snapshot())
		s.Mode = serverForward
		s.Pool, s.Ping = srv.Sessions(key), srv.Ping(key)
		return s
	}
	r.stop = func(ctx context.Context) error {
		var grace time.Duration
		if d, ok := ctx.Deadline(); ok {
			grace = time.Until(d)
		}
		closeBridge()
		h.Remove(fid, grace)
		cancelLinks()
		return nil
	}
	return r, nil
}
