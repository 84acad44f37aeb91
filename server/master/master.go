// Package master runs a Burrow master: the persisted instance state, the
// instance manager, the events bus and the NodePass-compatible admin API
// over HTTP or HTTPS, until its context is cancelled.
package master

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/burrowproject/burrow/conf"
	"github.com/burrowproject/burrow/server/events"
	"github.com/burrowproject/burrow/server/instances"
	"github.com/burrowproject/burrow/server/store"
	"github.com/burrowproject/burrow/web"
)

// AgentLister and AgentInfo describe connected agents for GET <root>/agents
// and the metrics; the bridge side provides them.
type (
	AgentLister = web.AgentLister
	AgentInfo   = web.AgentInfo
)

// Deps are the master's collaborators, built by main.
type Deps struct {
	Runtime instances.Runtime // required: runs the instances
	Agents  AgentLister       // optional: connected agents
	Bridge  *BridgeInfo       // optional: the shared bridge, for /info and the banner
	Schemes web.SchemeLister  // optional: handler schemes and their descriptors
	Metrics *web.Metrics      // optional: registry to serve on /metrics (feed LinkError from the bridge)
	Log     *slog.Logger      // optional: the master's logger
	Version string            // Burrow's version, shown by /info
	// Listener, when set, is served instead of listening on the URL's
	// address (tests, socket activation). Run closes it.
	Listener net.Listener
}

// Timeouts of the shutdown steps.
const (
	httpShutdownTimeout = 5 * time.Second
	stopTimeout         = 15 * time.Second
)

// Run serves the master described by inst until ctx is cancelled, then shuts
// down gracefully: every SSE stream gets a shutdown event, the HTTP server
// drains, every instance is stopped and the state is saved. It returns nil
// after a clean shutdown.
func Run(ctx context.Context, inst *conf.Instance, deps Deps) (err error) {
	if inst == nil || inst.Scheme != conf.SchemeMaster {
		return errors.New("master: not a master:// URL")
	}
	if deps.Runtime == nil {
		return errors.New("master: Deps.Runtime is required")
	}
	log := deps.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ln := deps.Listener
	defer func() {
		if ln != nil && err != nil {
			_ = ln.Close()
		}
	}()

	st, err := store.Open(inst.Params.Data)
	if err != nil {
		return fmt.Errorf("master: %w", err)
	}
	bus := events.New(log, 0)
	m, err := instances.New(instances.Config{Store: st, Bus: bus, Runtime: deps.Runtime, Log: log, Master: inst})
	if err != nil {
		return fmt.Errorf("master: %w", err)
	}
	closeManager := func() error {
		cctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
		defer cancel()
		return m.Close(cctx)
	}
	if ln == nil {
		if ln, err = net.Listen("tcp", inst.Listen); err != nil {
			return errors.Join(fmt.Errorf("master: listen: %w", err), closeManager())
		}
	}
	started := time.Now()
	engine, err := web.New(web.Options{
		Manager: m, Master: inst, Version: deps.Version, Started: started,
		Agents: deps.Agents, Bridge: deps.Bridge, Schemes: deps.Schemes, Metrics: deps.Metrics, Log: log,
	})
	if err != nil {
		return errors.Join(fmt.Errorf("master: %w", err), closeManager())
	}
	tlsConf, err := serverTLS(inst, log)
	if err != nil {
		return errors.Join(fmt.Errorf("master: %w", err), closeManager())
	}
	if err := m.Start(ctx); err != nil {
		log.Warn("Auto-start interrupted", "error", err)
	}

	srv := &http.Server{
		Handler:           engine,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		TLSConfig:         tlsConf,
	}
	log.Info("Master started: " + ln.Addr().String() + web.Root(inst))
	// The whole key is printed once, when it is created; later starts show
	// a masked form, and `burrow key -data DIR` prints it on demand.
	key := "$(burrow key -data " + shellQuote(inst.Params.Data) + ")"
	if m.KeyCreated() {
		key = m.APIKey()
		log.Info("API Key created: " + key)
	} else {
		log.Info("API Key loaded: " + MaskKey(m.APIKey()) + " (print it with: burrow key -data " + shellQuote(inst.Params.Data) + ")")
	}
	curl, base := "curl", "http://"
	if tlsConf != nil {
		curl, base = "curl -k", "https://"
	}
	// No quotes: slog's text output escapes double quotes, and the line
	// must paste into a shell as it is.
	log.Info("Try: " + curl + " -H X-API-Key:" + key + " " + base + ln.Addr().String() + web.Root(inst) + "/instances")
	if b := deps.Bridge; b != nil {
		log.Info("Agent: "+b.Agent, "fp", b.FP)
	}

	serveErr := make(chan error, 1)
	serveLn := ln
	if tlsConf != nil {
		serveLn = tls.NewListener(ln, tlsConf)
	}
	go func() { serveErr <- srv.Serve(serveLn) }()
	ln = nil // owned by the server from here on

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		runErr = fmt.Errorf("master: serve: %w", err)
	}
	log.Info("Master shutting down")
	bus.Shutdown() // every SSE stream gets its shutdown event and ends
	sctx, cancel := context.WithTimeout(context.Background(), httpShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
		log.Warn("HTTP server shutdown", "error", err)
	}
	if runErr == nil {
		if err := <-serveErr; err != nil && !errors.Is(err, http.ErrServerClosed) {
			runErr = fmt.Errorf("master: serve: %w", err)
		}
	}
	if err := closeManager(); err != nil {
		runErr = errors.Join(runErr, fmt.Errorf("master: stop instances: %w", err))
	}
	log.Info("Master stopped")
	return runErr
}

// MaskKey shows the first and last four characters of an API key.
func MaskKey(key string) string {
	if len(key) <= 8 {
		return "********"
	}
	return key[:4] + "…" + key[len(key)-4:]
}

// shellQuote quotes s for a POSIX shell when it needs quoting.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:@%+=,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
