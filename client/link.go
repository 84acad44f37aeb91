package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xtaci/smux"

	"github.com/burrowproject/burrow/bridge"
	"github.com/burrowproject/burrow/internal/allowlist"
	"github.com/burrowproject/burrow/internal/block"
	"github.com/burrowproject/burrow/internal/dgram"
	"github.com/burrowproject/burrow/internal/egress"
	"github.com/burrowproject/burrow/internal/netx"
	"github.com/burrowproject/burrow/internal/tlsx"
)

// headerTimeout bounds how long the bridge may take to send a link header.
const headerTimeout = 10 * time.Second

// resetLinger bounds how long a link the agent reset waits for the
// bridge's abort (its acknowledgement) before the stream is closed anyway.
// Closing earlier would send a FIN, which the bridge might read as an
// orderly end before it reads the reset.
const resetLinger = 5 * time.Second

// serveStream reads a stream's link header and serves the link. links maps
// the session's open links by stream id, for the bridge's aborts.
// done is called once the link is over: at once when it is refused, else
// when its copy ends (see carry).
func (a *Agent) serveStream(ctx context.Context, tun *bridge.Tunnel, st *smux.Stream, links *linkTable, done func()) {
	handed := false
	defer func() {
		if !handed {
			done()
		}
	}()
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
	n := a.links.Add(1)
	if why := a.refusal(h, n); why != "" {
		a.links.Add(-1)
		a.log.Warn("link refused", "instance", h.Instance, "network", h.Network.String(), "reason", why)
		_, _ = st.Write(bridge.AppendVerdict(nil, bridge.Verdict{Reason: why}))
		_ = st.Close()
		return
	}
	handed = true
	a.serveLink(ctx, tun, st, h, links, func() { a.links.Add(-1); done() })
}

// refusal is why the agent's own limits refuse link h, its n-th open
// link, or "".
func (a *Agent) refusal(h bridge.LinkHeader, n int64) string {
	switch {
	case h.Network == bridge.NetworkTCP && a.cfg.NoTCP:
		return "tcp is disabled on this agent (notcp=1)"
	case h.Network == bridge.NetworkUDP && a.cfg.NoUDP:
		return "udp is disabled on this agent (noudp=1)"
	case a.cfg.Slots > 0 && n > int64(a.cfg.Slots):
		return fmt.Sprintf("agent connection slots full (slot=%d)", a.cfg.Slots)
	}
	return ""
}

// serveControl reads the bridge's control messages until the stream ends:
// heartbeats go to hb; every other message names a link the bridge closed
// before it ended here (or acknowledges a reset), whose target connection
// is reset at once, which ends the link's copy.
func (a *Agent) serveControl(st *smux.Stream, links *linkTable, hb *bridge.Heartbeat) {
	defer st.Close()
	bridge.ReadMarkers(st, func(msg uint32) {
		if !hb.Handle(msg) {
			links.abort(msg)
			a.park.Sweep() // the target's copy, if parked, finds its reset now
		}
	})
}

// link is the agent's end of one link: the stream and the target
// connection it is joined to. It carries failures both ways: a stream
// that ends because the tunnel died reads as ErrTunnelLost, not EOF, and
// Reset (the target failed) tells the bridge instead of sending a FIN.
type link struct {
	net.Conn                    // the carrier: st, a work connection, or frames
	st        *smux.Stream      // nil on a pooled link
	frames    *bridge.FrameConn // a pooled link on a reusable work connection
	reused    bool              // ... that carried a link before
	tun       *bridge.Tunnel
	target    atomic.Pointer[net.Conn] // set once dialled
	resetSent atomic.Bool
	abort     chan struct{} // closed when the bridge aborted the link
	abortOnce sync.Once
}

// aborted handles the bridge's abort: the user's side failed or left, so
// the target connection is reset (at once, or as soon as it is dialled:
// the abort may come while the agent is still dialling).
func (l *link) aborted() {
	l.abortOnce.Do(func() {
		close(l.abort)
		if c := l.target.Load(); c != nil {
			_ = netx.Reset(*c)
		}
	})
}

// dialled records the target connection; false (and the connection reset)
// when the bridge aborted the link meanwhile.
func (l *link) dialled(c net.Conn) bool {
	l.target.Store(&c)
	select {
	case <-l.abort:
		_ = netx.Reset(c)
		return false
	default:
		return true
	}
}

func (l *link) Read(p []byte) (int, error) {
	n, err := l.Conn.Read(p)
	if err != nil {
		err = l.readErr(err)
	}
	return n, err
}

// WriteTo hands the stream's buffers to w; its end is checked like Read's.
func (l *link) WriteTo(w io.Writer) (int64, error) {
	if l.st == nil {
		return netx.Copy(w, onlyReader{l}, netx.Flow{})
	}
	n, err := l.st.WriteTo(w)
	if err == nil || err == io.ErrClosedPipe { // the stream's end, not w's
		if err = l.readErr(io.EOF); err == io.EOF {
			err = nil
		}
	}
	return n, err
}

// Write writes to the stream; on a dead tunnel it fails with
// ErrTunnelLost, not with the closed-pipe error of an orderly end.
func (l *link) Write(p []byte) (int, error) {
	n, err := l.Conn.Write(p)
	if err != nil {
		err = l.readErr(err)
	}
	return n, err
}

func (l *link) readErr(err error) error {
	if (err == io.EOF || err == io.ErrClosedPipe || errors.Is(err, net.ErrClosed)) && !l.tun.Alive() {
		return bridge.ErrTunnelLost
	}
	return err
}

// Reset tells the bridge the target failed; the stream stays open until
// the bridge's abort acknowledges it (see serveLink).
func (l *link) Reset() error {
	if l.st == nil {
		return netx.Reset(l.Conn) // a pooled link: TCP's own reset
	}
	select {
	case <-l.abort:
		return l.st.Close()
	default:
	}
	if l.resetSent.CompareAndSwap(false, true) {
		if err := l.tun.Reset(l.st.ID(), "target connection failed"); err != nil {
			l.resetSent.Store(false)
			return l.st.Close()
		}
	}
	return nil
}

// Close closes the stream, unless a reset is waiting for its abort.
func (l *link) Close() error {
	if l.resetSent.Load() {
		return nil
	}
	return l.Conn.Close()
}

// CloseWrite half-closes the carrier: the bridge reads the target's
// orderly end.
func (l *link) CloseWrite() error {
	if cw, ok := l.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}

// carrier is the connection under the link's frames (its verdict is
// written there), or the link's own.
func (l *link) carrier() net.Conn {
	if l.frames != nil {
		return l.frames.Conn
	}
	return l.Conn
}

// AwaitSocket implements netx.Awaitable: a pooled link over TLS is
// awaited at its socket between records.
func (l *link) AwaitSocket() *net.TCPConn {
	if below := tlsx.BelowRecords(l.carrier()); l.st == nil && below != nil {
		return netx.TCP(below)
	}
	return nil
}

// Buffered implements netx.Awaitable.
func (l *link) Buffered() bool {
	if l.frames != nil {
		return l.frames.Buffered()
	}
	return tlsx.Buffered(l.Conn)
}

// AwaitErr implements netx.Awaitable.
func (l *link) AwaitErr(err error) error { return l.readErr(err) }

// Headroom implements netx.Framer: a link in frames takes its copy's
// chunks with room for their length.
func (l *link) Headroom() int {
	if l.frames != nil {
		return l.frames.Headroom()
	}
	return 0
}

// WriteFramed implements netx.Framer; its errors are Write's.
func (l *link) WriteFramed(b []byte) (int, error) {
	n, err := l.frames.WriteFramed(b)
	if err != nil {
		err = l.readErr(err)
	}
	return n, err
}

// SpliceConn implements netx.Spliceable: a pooled link on plain TCP
// (its verdict is already written) is spliced.
func (l *link) SpliceConn(bool) (*net.TCPConn, error) {
	tc, _ := l.Conn.(*net.TCPConn)
	if l.st != nil {
		return nil, nil
	}
	return tc, nil
}

// SpliceErr implements netx.Spliceable.
func (l *link) SpliceErr(err error) error { return l.readErr(err) }

// onlyReader hides a reader's WriteTo, so io.Copy reads it.
type onlyReader struct{ io.Reader }

// linger waits, after a reset, for the bridge's abort, the tunnel's end or
// resetLinger, then closes the stream.
func (l *link) linger() {
	if !l.resetSent.Load() {
		return
	}
	t := time.NewTimer(resetLinger)
	defer t.Stop()
	select {
	case <-l.abort:
	case <-l.tun.CloseChan():
	case <-t.C:
	}
	_ = l.Conn.Close()
}

// serveLink dials a link's target, answers the verdict and copies until
// either side ends; then done is called (see carry).
func (a *Agent) serveLink(ctx context.Context, tun *bridge.Tunnel, st *smux.Stream, h bridge.LinkHeader, links *linkTable, done func()) {
	// Registered before the dial: the bridge may abort the link (its user
	// reset) before the target answers, and as soon as it read the verdict.
	l := &link{Conn: st, st: st, tun: tun, abort: make(chan struct{})}
	links.add(st.ID(), l)
	a.carry(ctx, l, h, func() { links.remove(st.ID()); done() })
}

// carry dials a link's target, answers the verdict on the link and copies
// until either side ends, then calls done. A TCP link's copy runs in
// goroutines of its own (netx.Start) and carry returns once it started:
// the caller's goroutine, whose stack the dial (and on a pooled link the
// TLS handshake) grew, ends instead of waiting, so an idle link holds only
// the two small stacks of its copy.
func (a *Agent) carry(ctx context.Context, l *link, h bridge.LinkHeader, done func()) {
	handed := false
	defer func() {
		if !handed {
			done()
		}
	}()
	st := l.carrier() // the verdict precedes the link's frames
	// The link's lines name its instance and network. Not a logger of
	// its own (slog's With): an idle link would keep it for its life.
	instance, network := h.Instance, h.Network.String()
	target, conn, err := a.dialTarget(ctx, h)
	if err != nil {
		a.log.Warn("link refused", "instance", instance, "network", network, "target", target, "reason", err.Error())
		v := bridge.Verdict{Reason: err.Error(), NotAllowed: errors.Is(err, allowlist.ErrNotAllowed)}
		_, _ = st.Write(bridge.AppendVerdict(nil, v))
		_ = st.Close()
		return
	}
	if !l.dialled(conn) {
		_ = st.Close()
		return
	}
	if _, err := st.Write(bridge.AppendVerdict(nil, bridge.Verdict{OK: true})); err != nil {
		// The user's side failed before the link carried a byte (a pooled
		// link reset by the bridge): the target hears a failure too, not a
		// clean end of an empty connection.
		_ = netx.Reset(conn)
		_ = st.Close()
		return
	}
	a.log.Debug("link open", "instance", instance, "network", network, "target", target, "source", h.Source, "pooled", l.st == nil, "reused", l.reused)
	ended := func(err error) {
		l.linger()
		if protocol, ok := block.IsBlocked(err); ok {
			a.log.Warn("blocked protocol", "instance", instance, "network", network, "protocol", protocol, "target", target, "source", h.Source)
			return
		}
		a.log.Debug("link closed", "instance", instance, "network", network, "target", target, "err", err)
	}
	if h.Network == bridge.NetworkUDP {
		// A UDP link holds no buffer while it waits (see dgram): an agent
		// serving thousands of idle UDP sessions stays small.
		ended(dgram.Join(bridge.NewDatagramConn(l), conn, dgram.Shared, dgram.JoinOptions{
			AToB: &a.udpRx, BToA: &a.udpTx, AToBLimit: a.rxLimit, BToALimit: a.txLimit, Idle: a.cfg.Idle}))
		return
	}
	handed = true
	netx.Start(block.Wrap(l, a.cfg.Block), conn, netx.JoinOptions{
		AToB: netx.Flow{Count: &a.tcpRx, Limit: a.rxLimit}, BToA: netx.Flow{Count: &a.tcpTx, Limit: a.txLimit}, Idle: a.cfg.Idle, Park: a.park},
		func(_, _ int64, err error) {
			defer done()
			ended(err)
		})
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
	dial := egress.NetDialer(d, a.cfg.Proxy || h.Flags&bridge.FlagProxyProtocol != 0, h.Source)
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
