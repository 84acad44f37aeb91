package client

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/xtaci/smux"

	"github.com/burrowproject/burrow/bridge"
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

// serveControl reads aborts until the control stream ends: each names a
// link the bridge closed before it ended here, whose target connection is
// closed at once, which ends the link's copy.
func (a *Agent) serveControl(st *smux.Stream, links *sync.Map) {
	defer st.Close()
	var msg [4]byte
	for {
		if _, err := io.ReadFull(st, msg[:]); err != nil {
			return
		}
		if c, ok := links.Load(binary.BigEndian.Uint32(msg[:])); ok {
			_ = c.(net.Conn).Close()
		}
	}
}

// serveLink dials a link's target, answers the verdict and copies until
// either side ends.
func (a *Agent) serveLink(ctx context.Context, st *smux.Stream, h bridge.LinkHeader, links *sync.Map) {
	log := a.log.With("instance", h.Instance, "network", h.Network.String())

	target, conn, err := a.dialTarget(ctx, h)
	if err != nil {
		log.Warn("link refused", "target", target, "reason", err.Error())
		_, _ = st.Write(bridge.AppendVerdict(nil, bridge.Verdict{Reason: err.Error()}))
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
	var link net.Conn = st
	rx, tx := &a.tcpRx, &a.tcpTx
	if h.Network == bridge.NetworkUDP {
		link = bridge.NewDatagramConn(st)
		rx, tx = &a.udpRx, &a.udpTx
	}
	_, _, err = netx.Join(link, conn, netx.JoinOptions{AToB: netx.Flow{Count: rx}, BToA: netx.Flow{Count: tx}, Idle: a.cfg.Idle})
	log.Debug("link closed", "target", target, "err", err)
}

// dialTarget dials the link's target, or the default targets in turn.
func (a *Agent) dialTarget(ctx context.Context, h bridge.LinkHeader) (string, net.Conn, error) {
	if h.Target != "" {
		c, err := a.dial(ctx, h, h.Target)
		return h.Target, c, err
	}
	n := len(a.cfg.Targets)
	if n == 0 {
		return "", nil, errors.New("the link names no target and the agent has no default target")
	}
	start := a.next.Next(n)
	var errs []error
	for i := range n {
		target := a.cfg.Targets[(start+i)%n]
		c, err := a.dial(ctx, h, target)
		if err == nil {
			return target, c, nil
		}
		errs = append(errs, err)
	}
	return a.cfg.Targets[start%n], nil, errors.Join(errs...)
}

func (a *Agent) dial(ctx context.Context, h bridge.LinkHeader, target string) (net.Conn, error) {
	addr, err := a.cfg.Allow.Resolve(ctx, net.DefaultResolver, target)
	if err != nil {
		return nil, err
	}
	network := h.Network.String()
	c, err := a.dialer.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	if h.Flags&bridge.FlagProxyProtocol != 0 && h.Network == bridge.NetworkTCP {
		if _, err := c.Write(proxyHeader(h.Source, c.LocalAddr())); err != nil {
			_ = c.Close()
			return nil, fmt.Errorf("send PROXY header to %s: %w", target, err)
		}
	}
	return c, nil
}
