// Package client is Burrow's agent: it runs inside the private network,
// dials the bridge, keeps the tunnel up (reconnecting with backoff and
// jitter), and serves every link the bridge opens by dialling the link's
// target, or its default target, and copying both ways.
package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/burrowproject/burrow/bridge"
	"github.com/burrowproject/burrow/internal/allowlist"
	"github.com/burrowproject/burrow/internal/backoff"
	"github.com/burrowproject/burrow/internal/roundrobin"
	"github.com/burrowproject/burrow/internal/tlsx"
)

// TLSMode says how the agent secures its tunnel.
type TLSMode int

// TLS modes.
const (
	// TLSAuto starts plain and switches to TLS when the bridge asks for it.
	TLSAuto TLSMode = iota
	// TLSOn always uses TLS.
	TLSOn
)

// Config configures an Agent.
type Config struct {
	Bridge      string           // bridge host:port
	Key         string           // agent key; secret
	Name        string           // agent name shown by the bridge
	Version     string           // agent version shown by the bridge
	Targets     []string         // default targets, used round-robin with failover
	Allow       *allowlist.Allow // targets it may dial; nil allows all
	TLS         TLSMode
	Fingerprint string        // pins the bridge certificate (implies TLSOn)
	ServerName  string        // TLS server name; "" = the bridge host
	SourceIP    string        // local address for outgoing dials; "" = any
	DialTimeout time.Duration // target dial timeout; 0 = 10s
	Idle        time.Duration // close a link after this long with no traffic; 0 = never
	MinBackoff  time.Duration // first reconnect delay; 0 = 200ms
	MaxBackoff  time.Duration // reconnect delay cap; 0 = 30s
	Logger      *slog.Logger  // nil = discard
	OnConnected func()        // called after each successful handshake (tests, status)
}

// Agent keeps a tunnel to a bridge and serves its links.
type Agent struct {
	cfg    Config
	log    *slog.Logger
	dialer *net.Dialer
	next   roundrobin.Counter     // round-robin over default targets
	links  atomic.Int64           // open links, for status
	up     atomic.Bool            // a session to the bridge is live
	down   atomic.Pointer[string] // why the last attempt to connect failed; nil once connected

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
	if cfg.Fingerprint != "" {
		cfg.TLS = TLSOn
	}
	d := &net.Dialer{Timeout: cfg.DialTimeout}
	if cfg.SourceIP != "" {
		ip := net.ParseIP(cfg.SourceIP)
		if ip == nil {
			return nil, fmt.Errorf("agent: source address %q is not an IP", cfg.SourceIP)
		}
		d.LocalAddr = &net.TCPAddr{IP: ip}
	}
	return &Agent{cfg: cfg, log: cfg.Logger, dialer: d}, nil
}

// Run keeps the tunnel up until ctx ends. It returns nil then; a refused key
// or a failing bridge is logged and retried, never fatal.
func (a *Agent) Run(ctx context.Context) error {
	b := backoff.New(a.cfg.MinBackoff, a.cfg.MaxBackoff)
	useTLS := a.cfg.TLS == TLSOn
	for ctx.Err() == nil {
		sess, err := bridge.Dial(ctx, a.dialConfig(useTLS))
		var refused *bridge.RefusedError
		switch {
		case errors.As(err, &refused) && refused.Status == bridge.StatusTLSRequired && !useTLS:
			useTLS = true
			a.log.Warn("bridge requires TLS, switching", "bridge", a.cfg.Bridge)
			continue
		case errors.As(err, &refused):
			a.failed(refused.Error())
			a.log.Error("handshake refused", "bridge", a.cfg.Bridge, "reason", refused.Status.String(), "message", refused.Message)
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
		a.log.Info("connected to bridge", "bridge", a.cfg.Bridge, "tls", useTLS)
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

func (a *Agent) dialConfig(useTLS bool) bridge.DialConfig {
	dc := bridge.DialConfig{
		Addr: a.cfg.Bridge, Key: a.cfg.Key, AgentName: a.cfg.Name, AgentVersion: a.cfg.Version,
	}
	if useTLS {
		name := a.cfg.ServerName
		if name == "" {
			name, _, _ = net.SplitHostPort(a.cfg.Bridge)
		}
		pinned := a.cfg.Fingerprint != ""
		dc.TLS = tlsx.PinnedClientConfig(name, a.cfg.Fingerprint, func(fp string) {
			if !pinned {
				a.log.Warn("bridge certificate is not pinned; set fp= to pin it", "fp", fp)
			}
		})
	}
	return dc
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
	wg.Add(1)
	go func() {
		defer wg.Done()
		a.serveControl(sess.Control, links)
	}()
	for {
		st, err := sess.AcceptStream()
		if err != nil {
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.serveStream(ctx, sess, st, links)
		}()
	}
}
