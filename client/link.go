package client

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/xtaci/smux"

	"github.com/burrowproject/burrow/bridge"
	"github.com/burrowproject/burrow/internal/allowlist"
	"github.com/burrowproject/burrow/internal/block"
	"github.com/burrowproject/burrow/internal/dgram"
	"github.com/burrowproject/burrow/internal/egress"
	"github.com/burrowproject/burrow/internal/netx"
)

// headerTimeout bounds how long the bridge may take to send a link header.
const headerTimeout = 10 * time.Second

// serveStream reads a stream's link header and serves the link. links maps
// the session's open links to their target connections, for aborts.
func (a *Agent) serveStream(ctx context.Context, st *smux.Stream, links *sync.Map) {
	_ = st.SetReadDeadline(time.Now().Add(headerTimeout))
	h, err := bridge.ReadLinkHeader(st)
	if err != nil {
		a.log.Warn("bad link header from bridge", "err", err)
		_, _ = st.Write(bridge.AppendVerdict(nil, bridge.Verdict{Reason: "agent refused a bad link header: " + err.Error()}))
		_ = st.Close()
		return
	}
	_ = st.SetReadDeadline(time.Time{})
	if h.Network == bridge.NetworkControl { // only the session's first stream is one
		_, _ = st.Write(bridge.AppendVerdict(nil, bridge.Verdict{Reason: "agent refused a second control stream"}))
		_ = st.Close()
		return
	}
	a.links.Add(1)
	defer a.links.Add(-1)
	a.serveLink(ctx, st, h, links)
}

// serveControl reads the control stream until it ends: heartbeats go to
// hb; every other message names a link the bridge closed before it ended
// here, whose target connection is closed at once, which ends the link's
// copy.
func (a *Agent) serveControl(st *smux.Stream, links *sync.Map, hb *bridge.Heartbeat) {
	defer st.Close()
	bridge.ReadControl(st, func(msg uint32) {
		if hb.Handle(msg) {
			return
		}
		if c, ok := links.Load(msg); ok {
			_ = c.(net.Conn).Close()
		}
	})
}

// serveLink dials a link's target, answers the verdict and copies until
// either side ends.
func (a *Agent) serveLink(ctx context.Context, st *smux.Stream, h bridge.LinkHeader, links *sync.Map) {
	log := a.log.With("instance", h.Instance, "network", h.Network.String())

	target, conn, err := a.dialTarget(ctx, h)
	if err != nil {
		log.Warn("link refused", "target", target, "reason", err.Error())
		v := bridge.Verdict{Reason: err.Error(), NotAllowed: errors.Is(err, allowlist.ErrNotAllowed)}
		_, _ = st.Write(bridge.AppendVerdict(nil, v))
		_ = st.Close()
		return
	}
	// Registered before the verdict: the bridge may close (and abort) the
	// link as soon as it has read it.
	links.Store(st.ID(), conn)
	defer links.Delete(st.ID())
	if _, err := st.Write(bridge.AppendVerdict(nil, bridge.Verdict{OK: true})); err != nil {
		_ = conn.Close()
		_ = st.Close()
		return
	}
	log.Debug("link open", "target", target, "source", h.Source)
	if h.Network == bridge.NetworkUDP {
		// A UDP link holds no buffer while it waits (see dgram): an agent
		// serving thousands of idle UDP sessions stays small.
		err = dgram.Join(bridge.NewDatagramConn(st), conn, dgram.Shared, dgram.JoinOptions{AToB: &a.udpRx, BToA: &a.udpTx, Idle: a.cfg.Idle})
	} else {
		_, _, err = netx.Join(block.Wrap(st, a.cfg.Block), conn, netx.JoinOptions{AToB: netx.Flow{Count: &a.tcpRx}, BToA: netx.Flow{Count: &a.tcpTx}, Idle: a.cfg.Idle})
		if protocol, ok := block.IsBlocked(err); ok {
			log.Warn("blocked protocol", "protocol", protocol, "target", target, "source", h.Source)
			return
		}
	}
	log.Debug("link closed", "target", target, "err", err)
}

// dialTarget dials the link's target, or the agent's target group (its
// own targets, always allowed). A target the link names is dialled only
// when it is one of the agent's own targets or its allow= list permits
// it. Names are resolved through the agent's cache (dns=), and every
// address checked against allow= before it is dialled.
func (a *Agent) dialTarget(ctx context.Context, h bridge.LinkHeader) (string, net.Conn, error) {
	network := h.Network.String()
	if h.Target != "" {
		own := a.own[strings.ToLower(h.Target)]
		if !own && (a.cfg.Allow.Empty() || !a.cfg.Allow.MayPermit(h.Target)) {
			return h.Target, nil, &allowlist.NotAllowedError{Target: h.Target}
		}
		c, err := a.res.Dial(ctx, network, h.Target, a.dialFunc(h, own))
		return h.Target, c, err
	}
	if a.group == nil {
		return "", nil, errors.New("the link names no target and the agent has no default target")
	}
	return a.group.Dial(ctx, network, a.dialFunc(h, true))
}

// dialFunc dials one resolved address of a target for link h: at once for
// the agent's own targets, else once allow= permits the address.
func (a *Agent) dialFunc(h bridge.LinkHeader, own bool) egress.DialFunc {
	d := a.dialer
	if h.Network == bridge.NetworkUDP {
		d = a.udp // a UDP source address for dial=
	}
	dial := egress.NetDialer(d, h.Flags&bridge.FlagProxyProtocol != 0, h.Source)
	if own {
		return dial
	}
	return func(ctx context.Context, network, target string, addr netip.AddrPort) (net.Conn, error) {
		if !a.cfg.Allow.PermitsAddr(target, addr.Addr()) {
			return nil, &allowlist.NotAllowedError{Target: target, Detail: "it resolves outside the allow list"}
		}
		return dial(ctx, network, target, addr)
	}
}
