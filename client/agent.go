// Package client is Burrow's agent: it runs inside the private network,
// dials the bridge, keeps the tunnel up (reconnecting with backoff and
// jitter), and serves every link the bridge opens by dialling the link's
// target, or its default target, and copying both ways.
package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/burrowproject/burrow/bridge"
	"github.com/burrowproject/burrow/internal/allowlist"
	"github.com/burrowproject/burrow/internal/backoff"
	"github.com/burrowproject/burrow/internal/block"
	"github.com/burrowproject/burrow/internal/egress"
	"github.com/burrowproject/burrow/internal/netx"
	"github.com/burrowproject/burrow/internal/tlsx"
)

// TLSMode says how the agent secures its tunnel.
type TLSMode int

// TLS modes.
const (
	// TLSOn (the default) opens TLS before sending anything, so the key
	// never travels in clear text.
	TLSOn TLSMode = iota
	// TLSOff speaks plain TCP (tls=0 on the agent URL).
	TLSOff
)

// Config configures an Agent.
type Config struct {
	Bridge      string           // bridge host:port
	Key         string           // agent key; secret
	Name        string           // agent name shown by the bridge
	Version     string           // agent version shown by the bridge
	Targets     []string         // the target group for links that name none; always allowed
	Strategy    egress.Strategy  // how the group is used (lbs=)
	DNS         time.Duration    // how long resolved names are cached (dns=); 0 = not cached
	Block       block.Set        // protocols whose links are closed on their first bytes (block=)
	Allow       *allowlist.Allow // what it may dial besides Targets; nil or empty: nothing else, "*": everything
	TLS         TLSMode
	Fingerprint string         // pins the bridge certificate
	RootCAs     *x509.CertPool // verifies the bridge certificate without a pin; nil = the system roots
	ServerName  string         // TLS server name, verified against the roots; "" = the bridge host
	// Unverified accepts a bridge certificate that neither the pin nor the
	// roots verify, with a warning naming its fingerprint (NodePass
	// compatibility for a pair's client end). Ignored when Fingerprint is set.
	Unverified bool
	// Carrier is what carries the tunnel to the bridge (type=); it must be
	// the bridge's. CarrierPath and CarrierHost are a WebSocket's HTTP path
	// and Host header ("" = "/" and the bridge address), e.g. to go through
	// a reverse proxy or CDN.
	Carrier                  bridge.CarrierType
	CarrierPath, CarrierHost string
	// FollowCarrier switches to the bridge's carrier when the bridge
	// refuses this one and names its own (a URL without type=, as a
	// NodePass client learns the server's type in the handshake).
	FollowCarrier bool
	SourceIP      string        // local address for outgoing dials; "" = any
	DialTimeout   time.Duration // target dial timeout; 0 = 10s
	Idle          time.Duration // close a link after this long with no traffic; 0 = never
	// PoolMin is how many idle work connections the agent keeps open to
	// the bridge (min=), capped by the bridge's max=; links on them need
	// no stream of the session. 0 = DefaultPoolMin; <0 = none. Only the
	// TCP carrier has a pool.
	PoolMin int
	// Limits of the agent's own (NodePass's client slot=, rate=, proxy=,
	// notcp=, noudp=): at most Slots links at once (0 = unlimited), RateMbps
	// each way over all of them (0 = unlimited), a PROXY protocol header to
	// every TCP target, and links of a disabled network refused.
	Slots        int
	RateMbps     int
	Proxy        bool
	NoTCP, NoUDP bool
	MinBackoff   time.Duration // first reconnect delay; 0 = 200ms
	MaxBackoff   time.Duration // reconnect delay cap; 0 = 30s
	Logger       *slog.Logger  // nil = discard
	OnConnected  func()        // called after each successful handshake (tests, status)
}

// Agent keeps a tunnel to a bridge and serves its links.
type Agent struct {
	cfg    Config
	log    *slog.Logger
	dialer *net.Dialer // tcp targets
	udp    *net.Dialer // udp targets: the same source IP as a UDP address
	tls    *tls.Config // nil with TLSOff
	own    map[string]bool
	res    *egress.Resolver // resolves every target through the dns= cache
	group  *egress.Group    // the default targets; nil = none
	links  atomic.Int64     // open links, for status and Slots
	// rxLimit limits bytes from the bridge to targets (users' uploads),
	// txLimit the other way; nil = unlimited (rate=).
	rxLimit, txLimit *rate.Limiter
	up               atomic.Bool                      // a session to the bridge is live
	down             atomic.Pointer[string]           // why the last attempt to connect failed; nil once connected
	hb               atomic.Pointer[bridge.Heartbeat] // the current session's; nil before the first
	pool             atomic.Pointer[workPool]         // the current session's; nil without one
	work             *tls.Config                      // for work connections: resumes the session's TLS, without its warnings
	park             *netx.Parker                     // holds the waits of quiet links' copies

	// Bytes through the agent's links: rx came from the bridge (users'
	// uploads), tx went back to it, by network.
	tcpRx, tcpTx, udpRx, udpTx atomic.Int64
}

// Stats are an agent's figures.
type Stats struct {
	Links                      int64
	TCPRx, TCPTx, UDPRx, UDPTx int64
}

// Stats returns the agent's live figures.
func (a *Agent) Stats() Stats {
	return Stats{Links: a.links.Load(), TCPRx: a.tcpRx.Load(), TCPTx: a.tcpTx.Load(), UDPRx: a.udpRx.Load(), UDPTx: a.udpTx.Load()}
}

// PoolIdle is how many work connections the agent holds idle (or is
// dialling) for links to come.
func (a *Agent) PoolIdle() int {
	if p := a.pool.Load(); p != nil {
		return p.idle()
	}
	return 0
}

// Connected reports whether the tunnel is up.
func (a *Agent) Connected() bool { return a.up.Load() }

// Health is nil while the tunnel is up or still being set up for the first
// time, else why the last attempt to connect failed.
func (a *Agent) Health() error {
	if a.up.Load() {
		return nil
	}
	if why := a.down.Load(); why != nil {
		return errors.New(*why)
	}
	return nil
}

func (a *Agent) failed(why string) { a.down.Store(&why) }

// New returns an Agent for cfg.
func New(cfg Config) (*Agent, error) {
	if cfg.Bridge == "" {
		return nil, errors.New("agent: bridge address required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 10 * time.Second
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 200 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	if cfg.PoolMin == 0 {
		cfg.PoolMin = DefaultPoolMin
	}
	if cfg.TLS == TLSOff && (cfg.Fingerprint != "" || cfg.RootCAs != nil) {
		return nil, errors.New("agent: a pin or CA bundle needs TLS; plain TCP (tls=0) cannot verify the bridge")
	}
	if cfg.TLS == TLSOff && (cfg.Carrier == bridge.CarrierQUIC || cfg.Carrier == bridge.CarrierHTTP2) {
		return nil, fmt.Errorf("agent: the %s carrier (type=%d) always runs TLS: drop tls=0", cfg.Carrier, cfg.Carrier)
	}
	d, ud := &net.Dialer{Timeout: cfg.DialTimeout}, &net.Dialer{Timeout: cfg.DialTimeout}
	if cfg.SourceIP != "" {
		ip := net.ParseIP(cfg.SourceIP)
		if ip == nil {
			return nil, fmt.Errorf("agent: source address %q is not an IP", cfg.SourceIP)
		}
		// A dialer refuses a local address of another network, so each
		// network gets its own.
		d.LocalAddr, ud.LocalAddr = &net.TCPAddr{IP: ip}, &net.UDPAddr{IP: ip}
	}
	a := &Agent{cfg: cfg, log: cfg.Logger, dialer: d, udp: ud, own: make(map[string]bool, len(cfg.Targets)), res: egress.NewResolver(cfg.DNS, nil), park: netx.NewParker(0, 0)}
	a.rxLimit, a.txLimit = netx.RateLimiters(cfg.RateMbps)
	if len(cfg.Targets) > 0 {
		g, err := egress.NewGroup(egress.Config{Targets: cfg.Targets, Strategy: cfg.Strategy, Resolver: a.res, Log: cfg.Logger})
		if err != nil {
			return nil, fmt.Errorf("agent: %w", err)
		}
		a.group = g
	}
	for _, t := range cfg.Targets {
		a.own[strings.ToLower(t)] = true
	}
	if cfg.TLS == TLSOn {
		a.tls, a.work = a.tlsConfig(false), a.tlsConfig(true)
		// Work connections resume the session's TLS (one cache for both)
		// and check the bridge the same way; a warning about an unverified
		// certificate is the session's to give, once per connect.
		cache := tls.NewLRUClientSessionCache(8)
		a.tls.ClientSessionCache, a.work.ClientSessionCache = cache, cache
	}
	return a, nil
}

// tlsConfig verifies the bridge by pin, else by the roots; with
// Unverified, a certificate neither verifies passes with a warning.
func (a *Agent) tlsConfig(quiet bool) *tls.Config {
	name := a.cfg.ServerName
	if name == "" && a.cfg.CarrierHost != "" {
		name = a.cfg.CarrierHost // the site the proxy or CDN serves
		if h, _, err := net.SplitHostPort(name); err == nil {
			name = h
		}
	}
	if name == "" {
		name, _, _ = net.SplitHostPort(a.cfg.Bridge)
	}
	o := tlsx.ClientOptions{ServerName: name, Fingerprint: a.cfg.Fingerprint, Roots: a.cfg.RootCAs}
	if a.cfg.Unverified && a.cfg.Fingerprint == "" {
		o.Unverified = func(fp string) {
			if quiet {
				return
			}
			a.log.Warn("bridge certificate is not verified (NodePass compatibility: an agent with its own targets and no fp= or ca=); add fp="+fp+" to the agent URL to pin it",
				"bridge", a.cfg.Bridge, "fp", fp)
		}
	}
	c := tlsx.ClientConfig(o)
	c.DynamicRecordSizingDisabled = true // bulk tunnels: full records from the first byte
	return c
}

// carrier is the agent's carrier of kind to the bridge, on path (a
// WebSocket's).
func (a *Agent) carrier(kind bridge.CarrierType, path string) (bridge.Carrier, error) {
	if kind == bridge.CarrierWebSocket && a.tls == nil {
		a.log.Warn("type=2 with tls=0: the tunnel is plain ws://, so the agent key travels in clear text as far as the proxy in front of the bridge; use this only behind a TLS-terminating proxy you trust")
	}
	d := &net.Dialer{Timeout: a.cfg.DialTimeout}
	c, err := bridge.NewCarrier(bridge.CarrierConfig{
		Type: kind, Addr: a.cfg.Bridge, TLS: a.tls, Path: path, Host: a.cfg.CarrierHost, Dialer: d,
	})
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	return c, nil
}

// logPolicy says at start what the agent will dial besides its targets.
func (a *Agent) logPolicy() {
	switch {
	case a.cfg.Allow.All():
		a.log.Warn("allow=* lets whoever holds the bridge reach every address this agent can dial; list what it may reach instead (allow=host:port,10.0.0.0/8,...)")
	case len(a.cfg.Targets) == 0 && a.cfg.Allow.Empty():
		a.log.Warn("this agent has no target and no allow= list, so it refuses every link; add allow=host:port,10.0.0.0/8,... to its URL to allow some")
	}
}

// Run keeps the tunnel up until ctx ends. It returns nil then; a refused key
// or a failing bridge is logged and retried, never fatal.
func (a *Agent) Run(ctx context.Context) error {
	b := backoff.New(a.cfg.MinBackoff, a.cfg.MaxBackoff)
	a.logPolicy()
	dc := bridge.DialConfig{
		Addr: a.cfg.Bridge, Key: a.cfg.Key, AgentName: a.cfg.Name, AgentVersion: a.cfg.Version, TLS: a.tls,
		Flow: bridge.FlowAny, Pool: a.cfg.PoolMin > 0, WorkTLS: a.work,
	}
	if len(a.cfg.Targets) == 0 {
		dc.Flow = bridge.FlowReverse // nothing to listen on for a forward-mode server
	}
	kind := a.cfg.Carrier
	defer func() {
		if dc.Carrier != nil {
			_ = dc.Carrier.Close()
		}
	}()
	if kind != bridge.CarrierTCP {
		carrier, err := a.carrier(kind, a.cfg.CarrierPath)
		if err != nil {
			return err
		}
		dc.Carrier = carrier
	}
	for ctx.Err() == nil {
		sess, err := bridge.Dial(ctx, dc)
		var refused *bridge.RefusedError
		switch {
		case errors.As(err, &refused) && refused.Status == bridge.StatusCarrierMismatch && a.cfg.FollowCarrier && refused.Carrier != kind:
			carrier, cerr := a.carrier(refused.Carrier, refused.Path)
			if cerr != nil {
				a.failed(cerr.Error())
				a.log.Error("cannot follow the bridge's carrier", "bridge", a.cfg.Bridge, "carrier", refused.Carrier.String(), "err", cerr)
				b.Sleep(ctx)
				continue
			}
			a.log.Info("following the bridge's carrier", "bridge", a.cfg.Bridge, "carrier", refused.Carrier.String(),
				"type", int(refused.Carrier), "path", refused.Path, "bridge_says", refused.Message)
			if dc.Carrier != nil {
				_ = dc.Carrier.Close()
			}
			kind, dc.Carrier = refused.Carrier, carrier
			continue
		case errors.As(err, &refused):
			a.failed(refused.Error())
			msg := refused.Message
			if refused.Status == bridge.StatusTLSRequired && kind == bridge.CarrierTCP {
				msg += "; remove tls=0 from the agent URL"
			}
			a.log.Error("handshake refused", "bridge", a.cfg.Bridge, "reason", refused.Status.String(), "message", msg)
			b.Sleep(ctx)
			continue
		case err != nil:
			if ctx.Err() == nil {
				a.failed(err.Error())
				a.log.Warn("connect to bridge failed", "err", err)
				b.Sleep(ctx)
			}
			continue
		}
		b.Reset()
		a.down.Store(nil)
		a.up.Store(true)
		a.log.Info("connected to bridge", "bridge", a.cfg.Bridge, "tls", a.tls != nil, "carrier", kind.String())
		if a.cfg.OnConnected != nil {
			a.cfg.OnConnected()
		}
		a.serve(ctx, sess)
		a.up.Store(false)
		a.failed("disconnected from bridge " + a.cfg.Bridge)
		if ctx.Err() == nil {
			a.log.Warn("disconnected from bridge", "bridge", a.cfg.Bridge)
			b.Sleep(ctx)
		}
	}
	return nil
}

// serve accepts the bridge's links until the session ends or ctx does,
// then waits for every link it started.
func (a *Agent) serve(ctx context.Context, sess *bridge.Tunnel) {
	stop := context.AfterFunc(ctx, func() { _ = sess.Close() })
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer sess.Close()
	links := newLinkTable() // for the bridge's aborts
	hb := a.startHeartbeat(sess, &wg)
	if sess.Flow == bridge.FlowForward {
		wg.Go(func() { a.serveForward(sess) })
	}
	wg.Go(func() { a.keepPool(ctx, sess, &wg) })
	wg.Add(1)
	go func() {
		defer wg.Done()
		a.serveControl(sess.Control, links, hb)
	}()
	for {
		st, err := sess.AcceptStream()
		if err != nil {
			return
		}
		wg.Add(1)
		go a.serveStream(ctx, sess, st, links, wg.Done)
	}
}
