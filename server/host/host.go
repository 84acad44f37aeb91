// Package host is the server side of the handler contract (sdk.Host) for
// handlers linked into the server: it binds every instance's listeners,
// checks every link request against the instance's configuration, opens
// links through the bridge, and copies, counts and limits the bytes of
// handed-off connections in its own loop.
package host

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/burrowproject/burrow/bridge"
	"github.com/burrowproject/burrow/internal/allowlist"
	"github.com/burrowproject/burrow/internal/block"
	"github.com/burrowproject/burrow/internal/netx"
	"github.com/burrowproject/burrow/internal/roundrobin"
	"github.com/burrowproject/burrow/internal/udpserve"
	"github.com/burrowproject/burrow/internal/upgrade"
	"github.com/burrowproject/burrow/plugins/sdk"
	"github.com/burrowproject/burrow/server/flow"
)

// Linker opens links through agents; *bridge.Server is one.
type Linker interface {
	OpenLink(ctx context.Context, key string, h bridge.LinkHeader, preamble []byte) (*bridge.Link, error)
}

// Instance is what the host needs to know about an instance to serve it.
type Instance struct {
	Spec      sdk.InstanceSpec
	AgentKey  string        // the agent pool key links go through; secret
	Meter     *flow.Meter   // counters and limits
	Records   RecordSink    // keeps what the handler records (inspect=); nil drops it (record.go)
	TCP       bool          // bind a TCP listener on Spec.Listen
	SharedTCP bool          // share the listener with other SharedTCP instances on the same address
	UDP       bool          // bind a UDP socket on Spec.Listen
	Proxy     bool          // ask agents for a PROXY protocol header
	Idle      time.Duration // close a connection idle this long; 0 = never
	// Patterns, when set, replaces the exact target check: a link may name
	// any target the patterns permit (handlers such as socks5 whose targets
	// are CIDRs and wildcards). A link must then name its target.
	Patterns    *allowlist.Allow
	OpenTimeout time.Duration // for Dial; 0 = 15s
	// Block closes connections whose first bytes speak a blocked protocol
	// (block=); it applies to handed-off connections the handler has not
	// read from (no preamble).
	Block block.Set
	// LinkLog is how many failed-link warnings the instance logs per
	// LinkLogWindow (linklog=); the rest are counted, reported in one
	// line at the window's end, and told to OnLogSuppressed. 0 =
	// DefaultLinkLog; <0 = none, only the counts.
	LinkLog       int
	LinkLogWindow time.Duration // 0 = DefaultLinkLogWindow
}

// Link is an open link: a connection to the target, whose verdict (did
// the far side reach the target) AwaitVerdict reads.
type Link interface {
	net.Conn
	AwaitVerdict(ctx context.Context) error
}

// Host serves instances on one Linker. It is safe for concurrent use.
type Host struct {
	open func(ctx context.Context, key string, h bridge.LinkHeader, preamble []byte) (Link, error)
	log  *slog.Logger
	park *netx.Parker // holds the waits of quiet links' copies

	mu          sync.Mutex
	instances   map[string]*instance
	shared      map[string]*sharedListener // by listen address
	onLinkError func(reason string)
	onQuiet     func(n int)
	onCount     func(name string, n uint64)
}

// OnLogSuppressed sets fn to be told how many failed-link warnings an
// instance held back (see Instance.LinkLog), e.g. to feed a metric. Call
// it before the host serves.
func (h *Host) OnLogSuppressed(fn func(n int)) { h.onQuiet = fn }

// OnCount sets fn to be told what handlers count about the instances of
// this host (sdk.Counter), e.g. to feed a metric. Call it before the host
// serves.
func (h *Host) OnCount(fn func(name string, n uint64)) { h.onCount = fn }

// Count implements sdk.Counter: a count for an instance this host serves
// goes to the OnCount hook; any other is dropped.
func (h *Host) Count(instance, name string, n uint64) {
	if h.onCount == nil {
		return
	}
	if _, err := h.get(instance); err == nil {
		h.onCount(name, n)
	}
}

// sharedListener is one listener serving several instances.
type sharedListener struct {
	ln   net.Listener
	refs int
}

type instance struct {
	Instance
	log    *slog.Logger
	ln     net.Listener
	pc     net.PacketConn
	next   roundrobin.Counter
	mu     sync.Mutex
	conns  map[net.Conn]struct{} // handed-off user connections in flight
	joins  sync.WaitGroup
	closed bool

	fwdMu sync.Mutex       // serialises starting and stopping the forward loop
	fwd   *forward         // the host's own accept loop (Forward); nil = none
	udp   *udpserve.Server // the udp socket's sessions, once forwarded; they outlive a forward

	quiet *quiet // bounds the failed-link warnings
}

// forward is an instance's host-side accept loop.
type forward struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// New returns a Host opening links through linker.
func New(linker Linker, log *slog.Logger) *Host {
	open := func(ctx context.Context, key string, h bridge.LinkHeader, preamble []byte) (Link, error) {
		l, err := linker.OpenLink(ctx, key, h, preamble)
		if err != nil {
			return nil, err
		}
		return l, nil
	}
	return newHost(open, log)
}

func newHost(open func(context.Context, string, bridge.LinkHeader, []byte) (Link, error), log *slog.Logger) *Host {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Host{open: open, log: log, park: netx.NewParker(0, 0), instances: make(map[string]*instance), shared: make(map[string]*sharedListener)}
}

// Add binds inst's sockets and registers it; the handler's Start comes next.
// log receives the instance's log lines.
func (h *Host) Add(inst Instance, log *slog.Logger) error {
	if log == nil {
		log = h.log.With("instance", inst.Spec.ID)
	}
	in := &instance{Instance: inst, log: log, conns: make(map[net.Conn]struct{})}
	if in.Meter == nil {
		in.Meter = flow.NewMeter(0, 0)
	}
	limit := inst.LinkLog
	switch {
	case limit == 0:
		limit = DefaultLinkLog
	case limit < 0:
		limit = 0
	}
	in.quiet = newQuiet(limit, inst.LinkLogWindow, func(n int) {
		log.Warn("failed links not logged", "suppressed", n, "window", in.quiet.window.String())
	})
	var err error
	switch {
	case inst.TCP && inst.SharedTCP:
		if in.ln, err = h.acquireShared(inst.Spec.Listen); err != nil {
			return err
		}
		log.Info("tcp listening", "addr", in.ln.Addr().String(), "shared", true)
	case inst.TCP:
		if in.ln, err = net.Listen("tcp", inst.Spec.Listen); err != nil {
			return err // "listen tcp ADDR: bind: address already in use"
		}
		log.Info("tcp listening", "addr", in.ln.Addr().String())
	}
	if inst.UDP {
		if in.pc, err = net.ListenPacket("udp", inst.Spec.Listen); err != nil { // names the address
			h.mu.Lock()
			h.closeSocketsLocked(in)
			h.mu.Unlock()
			return err
		}
		log.Info("udp listening", "addr", in.pc.LocalAddr().String())
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, dup := h.instances[inst.Spec.ID]; dup {
		h.closeSocketsLocked(in)
		return fmt.Errorf("instance %s already added", inst.Spec.ID)
	}
	h.instances[inst.Spec.ID] = in
	return nil
}

// acquireShared returns the shared listener on addr, binding it first if
// no instance uses it yet.
func (h *Host) acquireShared(addr string) (net.Listener, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if sl := h.shared[addr]; sl != nil {
		sl.refs++
		return sl.ln, nil
	}
	ln, err := net.Listen("tcp", addr) // its error names the address
	if err != nil {
		return nil, err
	}
	h.shared[addr] = &sharedListener{ln: ln, refs: 1}
	return ln, nil
}

// closeSocketsLocked closes an instance's sockets; a shared listener only
// when its last instance goes. h.mu must be held.
func (h *Host) closeSocketsLocked(in *instance) {
	if in.SharedTCP && in.ln != nil {
		if sl := h.shared[in.Spec.Listen]; sl != nil && sl.ln == in.ln {
			if sl.refs--; sl.refs > 0 {
				in.ln = nil
			} else {
				delete(h.shared, in.Spec.Listen)
			}
		}
	}
	in.closeSockets()
}

// Remove closes an instance's sockets, lets its handed-off connections
// finish for up to grace, then closes them and forgets the instance. Call
// it after the handler's Stop.
func (h *Host) Remove(id string, grace time.Duration) {
	h.mu.Lock()
	in := h.instances[id]
	delete(h.instances, id)
	if in != nil {
		h.closeSocketsLocked(in)
	}
	h.mu.Unlock()
	if in == nil {
		return
	}
	defer in.quiet.stop()
	in.mu.Lock()
	in.closed = true
	in.mu.Unlock()
	in.fwdMu.Lock()
	in.stopForwardLocked()
	if in.udp != nil {
		in.udp.Close()
	}
	in.fwdMu.Unlock()
	done := make(chan struct{})
	go func() { in.joins.Wait(); close(done) }()
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-done:
		return
	case <-timer.C:
	}
	in.mu.Lock()
	for c := range in.conns {
		_ = c.Close()
	}
	in.mu.Unlock()
	h.park.Sweep() // the copies of quiet links among them end now
	<-done
}

// Addr returns the address an instance's TCP listener or UDP socket is bound to.
func (h *Host) Addr(id string) net.Addr {
	in, err := h.get(id)
	if err != nil {
		return nil
	}
	if in.ln != nil {
		return in.ln.Addr()
	}
	if in.pc != nil {
		return in.pc.LocalAddr()
	}
	return nil
}

func (in *instance) closeSockets() {
	if in.ln != nil {
		_ = in.ln.Close()
	}
	if in.pc != nil {
		_ = in.pc.Close()
	}
}

func (h *Host) get(id string) (*instance, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	in := h.instances[id]
	if in == nil {
		return nil, fmt.Errorf("instance %q: %w", id, sdk.ErrUnknownInstance)
	}
	return in, nil
}

// Listener implements sdk.Host.
func (h *Host) Listener(_ context.Context, id string) (net.Listener, error) {
	in, err := h.get(id)
	if err != nil {
		return nil, err
	}
	if in.ln == nil {
		return nil, fmt.Errorf("instance %s has no tcp listener", id)
	}
	return in.ln, nil
}

// PacketConn implements sdk.Host.
func (h *Host) PacketConn(_ context.Context, id string) (net.PacketConn, error) {
	in, err := h.get(id)
	if err != nil {
		return nil, err
	}
	if in.pc == nil {
		return nil, fmt.Errorf("instance %s has no udp socket", id)
	}
	return in.pc, nil
}

// Logger implements sdk.Host.
func (h *Host) Logger(id string) *slog.Logger {
	in, err := h.get(id)
	if err != nil {
		return h.log.With("instance", id)
	}
	return in.log
}

// header checks req against the instance and builds the link header.
func (in *instance) header(req sdk.LinkRequest) (bridge.LinkHeader, error) {
	network, err := bridge.ParseNetwork(req.Network)
	if err != nil {
		return bridge.LinkHeader{}, err
	}
	target := req.Target
	targets := in.Spec.Targets
	switch {
	case in.Patterns != nil:
		if target == "" || !in.Patterns.Permits(target) {
			return bridge.LinkHeader{}, sdk.ErrTargetNotAllowed
		}
	case target == "" && len(targets) > 0:
		target = targets[in.next.Next(len(targets))]
	case target != "" && !slices.Contains(targets, target):
		return bridge.LinkHeader{}, sdk.ErrTargetNotAllowed
	}
	h := bridge.LinkHeader{Network: network, Target: target, Instance: in.Spec.ID, Source: req.Meta[sdk.MetaClientAddr]}
	if in.Proxy {
		h.Flags |= bridge.FlagProxyProtocol
	}
	return h, nil
}

// Handoff implements sdk.Host. It checks the request and takes a slot, then
// returns: opening the link, waiting for the agent's verdict and copying
// happen in the host's own goroutine, so a handler's accept loop never
// waits on the tunnel. A link that fails is logged with the agent's reason,
// and the user gets opts.FailReply before the connection closes, or a
// reset when there is none.
func (h *Host) Handoff(ctx context.Context, c net.Conn, req sdk.LinkRequest, preamble []byte, opts sdk.HandoffOptions) error {
	in, err := h.get(req.Instance)
	if err != nil {
		_ = c.Close()
		return err
	}
	fail := func(err error) error {
		if len(opts.FailReply) == 0 {
			_ = netx.Reset(c) // the user hears a failure, not an empty answer
			return err
		}
		_ = c.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = c.Write(opts.FailReply)
		_ = c.Close()
		return err
	}
	if req.Meta == nil {
		req.Meta = map[string]string{sdk.MetaClientAddr: c.RemoteAddr().String()}
	}
	hdr, err := in.header(req)
	if err != nil {
		h.linkFailed(err)
		return fail(linkError(in.Spec.ID, req.Target, err))
	}
	release, ok := in.Meter.Acquire(req.Network)
	if !ok {
		h.refused(in, hdr, req.Meta[sdk.MetaRequestID], sdk.ErrSlotsFull)
		return fail(linkError(in.Spec.ID, hdr.Target, sdk.ErrSlotsFull))
	}
	if !in.track(c) {
		release()
		return fail(linkError(in.Spec.ID, hdr.Target, sdk.ErrUnknownInstance))
	}
	preamble = slices.Clone(preamble) // the caller may reuse its buffer once we return
	opts.Pending = slices.Clone(opts.Pending)
	go func() {
		// The copy runs in goroutines of its own (netx.Start): this one,
		// whose stack the open grew, ends instead of waiting, so an idle
		// link holds only the copy's two small stacks. Whichever ends the
		// link releases it.
		ended := func() {
			release()
			in.untrack(c)
			in.joins.Done()
		}
		handed := false
		defer func() {
			if !handed {
				ended()
			}
		}()
		link, err := h.open(ctx, in.AgentKey, hdr, preamble)
		if err == nil && (len(opts.FailReply) > 0 || opts.Upgrade != "") {
			// The handler has something to say on failure: hear the agent
			// before any byte reaches the user, within the open timeout.
			vctx, cancel := context.WithTimeout(ctx, in.openTimeout())
			if err = link.AwaitVerdict(vctx); err != nil {
				_ = link.Close()
			}
			cancel()
		}
		if err != nil {
			h.refused(in, hdr, req.Meta[sdk.MetaRequestID], err)
			if len(opts.FailReply) > 0 {
				// Off the handler's path, the answer can linger: bytes the
				// client sent meanwhile must not turn it into a reset.
				_ = c.SetWriteDeadline(time.Now().Add(time.Second))
				_, _ = c.Write(opts.FailReply)
				upgrade.Linger(c)
				return
			}
			_ = netx.Reset(c) // the user hears a failure, not an empty answer
			return
		}
		fromUser, toUser := in.Meter.Flows(req.Network)
		fromUser.Count.Add(int64(len(preamble)))
		if opts.Upgrade != "" && !in.gate(c, link, preamble, req.Meta[sdk.MetaRequestID], opts, fromUser, toUser) {
			return
		}
		user := c
		if len(preamble) == 0 && hdr.Network == bridge.NetworkTCP {
			user = block.Wrap(c, in.Block)
		}
		handed = true
		// What the end's logs need, not the request: an idle link keeps
		// its callback, and the request's metadata map, for its life.
		client, requestID := req.Meta[sdk.MetaClientAddr], req.Meta[sdk.MetaRequestID]
		netx.Start(user, link, netx.JoinOptions{AToB: fromUser, BToA: toUser, Idle: in.Idle, Park: h.park}, func(_, _ int64, err error) {
			defer ended()
			if protocol, ok := block.IsBlocked(err); ok {
				h.linkFailed(err)
				in.log.Warn("blocked protocol", "protocol", protocol, "client", client)
				return
			}
			// The link is closed now, so this returns at once: the verdict
			// if it was read, or the error that ended the wait for it.
			var ve *bridge.VerdictError
			if verr := link.AwaitVerdict(context.Background()); errors.As(verr, &ve) {
				h.refused(in, hdr, requestID, verr)
				return
			}
			if err != nil {
				in.log.Debug("connection ended", "target", hdr.Target, "err", err)
			}
		})
	}()
	return nil
}

// Forward implements sdk.Forwarder: the host accepts on the instance's listener
// itself until the instance is removed.
func (h *Host) Forward(_ context.Context, req sdk.LinkRequest, opts sdk.HandoffOptions) error {
	return h.ForwardWhile(context.Background(), req, opts)
}

// ForwardWhile is Forward that also ends when life ends, leaving the
// listener open for whoever serves it next. The process backend ties a
// plugin's forwards to the process that asked, so a dead plugin's
// instances stop accepting (connections wait in the backlog) until the
// plugin, restarted, asks again. A udp socket's sessions outlive the
// forward (they still deliver replies; datagrams from senders wait in the
// socket) and the next forward goes on with them; they end when idle, and
// all of them when the instance is removed.
func (h *Host) ForwardWhile(life context.Context, req sdk.LinkRequest, opts sdk.HandoffOptions) error {
	in, err := h.get(req.Instance)
	if err != nil {
		return err
	}
	var (
		serve func(ctx context.Context)
		lim   udpserve.Limits // a udp forward's
	)
	switch req.Network {
	case "tcp":
		ln, ok := in.ln.(netx.DeadlineListener)
		if in.ln == nil || in.SharedTCP || !ok {
			return fmt.Errorf("instance %s has no tcp listener of its own to forward", in.Spec.ID)
		}
		serve = func(ctx context.Context) { h.acceptLoop(ctx, in, ln, req, opts) }
	case "udp":
		if in.pc == nil {
			return fmt.Errorf("instance %s has no udp socket to forward", in.Spec.ID)
		}
		if req.Target != "" || len(req.Meta) > 0 || len(opts.FailReply)+len(opts.Upgrade)+len(opts.Pending) > 0 || opts.HeadTimeout != 0 {
			return fmt.Errorf("instance %s: a udp forward takes no target, meta or options: each session is linked as Dial links it", in.Spec.ID)
		}
		if lim, err = udpserve.LimitsOf(in.Spec.Params); err != nil {
			return fmt.Errorf("instance %s: forward of its udp socket: %w", in.Spec.ID, err)
		}
	default:
		return fmt.Errorf("instance %s: forward of network %q: only tcp listeners and udp sockets can be forwarded", in.Spec.ID, req.Network)
	}
	if _, err := in.header(req); err != nil {
		h.linkFailed(err)
		return linkError(in.Spec.ID, req.Target, err)
	}
	in.fwdMu.Lock()
	defer in.fwdMu.Unlock()
	in.mu.Lock()
	closed := in.closed
	in.mu.Unlock()
	if closed {
		return fmt.Errorf("instance %q: %w", in.Spec.ID, sdk.ErrUnknownInstance)
	}
	in.stopForwardLocked()
	if req.Network == "udp" {
		serve = in.udpServerLocked(h, lim).Serve
	}
	ctx, cancel := context.WithCancel(life)
	f := &forward{cancel: cancel, done: make(chan struct{})}
	in.fwd = f
	go func() {
		defer close(f.done)
		serve(ctx)
	}()
	return nil
}

// acceptLoop is a tcp forward: every connection accepted on ln until ctx
// ends is handed off as req.
func (h *Host) acceptLoop(ctx context.Context, in *instance, ln netx.DeadlineListener, req sdk.LinkRequest, opts sdk.HandoffOptions) {
	linkCtx := context.WithoutCancel(ctx) // handed-off connections outlive the loop
	err := netx.AcceptLoopKeep(ctx, ln, in.log, func(c net.Conn) {
		r := req
		r.Meta = maps.Clone(req.Meta)
		if r.Meta == nil {
			r.Meta = make(map[string]string, 1)
		}
		r.Meta[sdk.MetaClientAddr] = c.RemoteAddr().String()
		if err := h.Handoff(linkCtx, c, r, nil, opts); err != nil {
			in.log.Debug("forward failed", "client", r.Meta[sdk.MetaClientAddr], "err", err)
		}
	})
	if err != nil {
		in.log.Warn("forward not started", "err", err)
	}
}

// udpServerLocked returns the server of the instance's udp sessions, made
// at its first forward with lim. in.fwdMu must be held.
func (in *instance) udpServerLocked(h *Host, lim udpserve.Limits) *udpserve.Server {
	if in.udp == nil {
		in.udp = udpserve.New(in.Spec.ID, in.pc, h, lim)
	}
	return in.udp
}

// stopForwardLocked ends the forward loop, if any, and waits for it. The
// listener stays open. in.fwdMu must be held.
func (in *instance) stopForwardLocked() {
	if in.fwd == nil {
		return
	}
	in.fwd.cancel()
	<-in.fwd.done
	in.fwd = nil
}

// gate holds a handed-off upgrade until the backend's answer (see
// internal/upgrade) and reports whether it switched protocols. The link is
// tracked meanwhile, so removing the instance ends a backend that never
// answers; on false both ends are closed.
func (in *instance) gate(c, link net.Conn, head []byte, requestID string, opts sdk.HandoffOptions, fromUser, toUser netx.Flow) bool {
	in.mu.Lock()
	in.conns[link] = struct{}{}
	in.mu.Unlock()
	defer in.untrack(link)
	switched, err := upgrade.Gate(c, link, head, upgrade.Options{Protocol: opts.Upgrade, Pending: opts.Pending,
		Timeout: opts.HeadTimeout, RequestID: requestID, FromUser: fromUser, ToUser: toUser})
	if !switched {
		_ = link.Close()
		if err != nil {
			in.log.Warn("upgrade not switched", "request_id", requestID, "err", err)
		} else {
			in.log.Debug("upgrade refused by the backend", "request_id", requestID)
		}
	}
	return switched
}

// track records a handed-off connection and counts it in joins; false once
// the instance is removed.
func (in *instance) track(c net.Conn) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.closed {
		return false
	}
	in.conns[c] = struct{}{}
	in.joins.Add(1)
	return true
}

func (in *instance) untrack(c net.Conn) {
	in.mu.Lock()
	delete(in.conns, c)
	in.mu.Unlock()
}

// openTimeout bounds opening a link and hearing the agent's verdict.
func (in *instance) openTimeout() time.Duration {
	if in.OpenTimeout <= 0 {
		return 15 * time.Second
	}
	return in.OpenTimeout
}

// Dial implements sdk.Host: it returns the link once the agent has reached
// the target, counted and limited by the host.
func (h *Host) Dial(ctx context.Context, req sdk.LinkRequest) (net.Conn, error) {
	in, err := h.get(req.Instance)
	if err != nil {
		return nil, err
	}
	hdr, err := in.header(req)
	if err != nil {
		h.linkFailed(err)
		return nil, linkError(in.Spec.ID, req.Target, err)
	}
	release, ok := in.Meter.Acquire(req.Network)
	if !ok {
		h.refused(in, hdr, req.Meta[sdk.MetaRequestID], sdk.ErrSlotsFull)
		return nil, linkError(in.Spec.ID, hdr.Target, sdk.ErrSlotsFull)
	}
	octx, cancel := context.WithTimeout(ctx, in.openTimeout())
	defer cancel()
	link, err := h.open(octx, in.AgentKey, hdr, nil)
	if err == nil {
		if err = link.AwaitVerdict(octx); err != nil {
			_ = link.Close()
		}
	}
	if err != nil {
		release()
		h.refused(in, hdr, req.Meta[sdk.MetaRequestID], err)
		return nil, linkError(in.Spec.ID, hdr.Target, err)
	}
	var conn net.Conn = link
	if bl, ok := link.(*bridge.Link); ok && hdr.Network == bridge.NetworkUDP {
		conn = bridge.NewDatagramConn(bl) // a direct link is a UDP socket already
	}
	return in.Meter.WrapLink(conn, req.Network, release), nil
}

var (
	_ sdk.Host      = (*Host)(nil)
	_ sdk.Forwarder = (*Host)(nil)
	_ sdk.Counter   = (*Host)(nil)
)
