package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/burrowproject/burrow/conf"
	"github.com/burrowproject/burrow/internal/egress"
	"github.com/burrowproject/burrow/server/flow"
	"github.com/burrowproject/burrow/server/host"
)

// Client modes (mode= on client URLs), as NodePass numbers them; Stats.Mode
// reports the one an auto client settled on.
const (
	clientAuto   = 0 // single-end if the tunnel address can be bound here, else dual-end
	clientSingle = 1 // listen on the tunnel address, forward straight to the targets
	clientDual   = 2 // an agent of a server's bridge
)

// clientMode is the mode a client runs in: mode= as given, or for auto
// whether its tunnel address can be bound on this machine (NodePass's
// rule: an address that is free here is one users are meant to reach). A
// client without targets (an agent for tcp/udp/http instances) has
// nothing to forward to and is always dual-end.
func clientMode(inst *conf.Instance) int {
	if inst.Params.Mode != clientAuto {
		return inst.Params.Mode
	}
	if len(inst.Targets) == 0 {
		return clientDual
	}
	if canBind(inst.Listen, !inst.Params.NoTCP, !inst.Params.NoUDP) {
		return clientSingle
	}
	return clientDual
}

// canBind reports whether addr can be bound for the networks asked for; it
// releases what it bound at once.
func canBind(addr string, tcp, udp bool) bool {
	if tcp {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return false
		}
		defer ln.Close()
	}
	if udp {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return false
		}
		defer pc.Close()
	}
	return tcp || udp
}

// directHost is a host that dials inst's target group itself (dns=
// cache, lbs=, dial=), for the ends that reach the targets without an
// agent: a single-end client and a forward-mode server.
func (rt *Runtime) directHost(inst *conf.Instance, log *slog.Logger) (*host.Host, error) {
	group, err := egress.NewGroup(egress.Config{
		Targets: inst.Targets, Strategy: egress.Strategy(inst.Params.LBS),
		Resolver: egress.NewResolver(inst.Params.DNS, nil), Log: log,
	})
	if err != nil {
		return nil, err
	}
	h := host.NewDirect(&host.Direct{Group: group, Dialer: targetDialer(inst)}, log)
	rt.hook(h)
	return h, nil
}

// startSingle runs a client in single-end mode: TCP and UDP listeners on
// its tunnel address (unless notcp/noudp) whose connections and datagram
// sessions go straight to its targets, through the host's data path.
func (rt *Runtime) startSingle(ctx context.Context, id string, inst *conf.Instance, log *slog.Logger) (*Running, error) {
	if len(inst.Targets) == 0 {
		return nil, errors.New("a single-end client (mode=1) needs a target to forward to")
	}
	h, err := rt.directHost(inst, log)
	if err != nil {
		return nil, err
	}
	user := inst.Clone()
	user.Targets = nil // the group picks them
	meter := flow.NewMeter(inst.Params.Slot, inst.Params.Rate)
	units, err := rt.startForwarders(ctx, h, id, user, "", meter, log)
	if err != nil {
		return nil, err
	}
	log.Info("client in single-end mode", "listen", inst.Listen, "targets", len(inst.Targets))
	r := &Running{done: make(chan struct{})}
	r.health = func() error { return unitsHealth(rt, units) }
	r.stats = func() Stats {
		s := statsOf(meter.Snapshot())
		s.Mode = clientSingle
		return s
	}
	r.stop = func(ctx context.Context) error {
		stopUnits(ctx, units)
		return nil
	}
	return r, nil
}

// targetDialer dials an instance's targets: 10 s timeout, from dial= when
// it names a source IP.
func targetDialer(inst *conf.Instance) *net.Dialer {
	d := &net.Dialer{Timeout: 10 * time.Second}
	if ip := inst.Params.Dial; ip != "" && ip != "auto" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(ip)}
	}
	return d
}

// startForwarders starts the tcp and udp units of a server or single-end
// client on user.Listen, leaving out those notcp= and noudp= disable.
func (rt *Runtime) startForwarders(ctx context.Context, h *host.Host, id string, user *conf.Instance, key string, meter *flow.Meter, log *slog.Logger) ([]*unit, error) {
	var units []*unit
	for _, scheme := range []string{conf.SchemeTCP, conf.SchemeUDP} {
		if (scheme == conf.SchemeTCP && user.Params.NoTCP) || (scheme == conf.SchemeUDP && user.Params.NoUDP) {
			continue
		}
		u, err := rt.startUnit(ctx, h, id+"/"+scheme, scheme, user, key, meter, log)
		if err != nil {
			stopUnits(context.Background(), units)
			return nil, fmt.Errorf("%s: %w", scheme, err)
		}
		units = append(units, u)
	}
	return units, nil
}

// unitsHealth is the first unit's trouble, if any.
func unitsHealth(rt *Runtime, units []*unit) error {
	for _, u := range units {
		if err := rt.unitHealth(u.id); err != nil {
			return err
		}
	}
	return nil
}
