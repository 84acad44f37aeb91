// Package web is the master's HTTP API: the NodePass-compatible REST and
// SSE endpoints under the API root (<prefix>/v1), Burrow's extensions
// (agents, pools, schemes, traffic history, the HTTP inspector's
// requests, Prometheus metrics), the
// OpenAPI document of all of it, an offline, self-contained documentation
// page, and the dashboard served at / (see dashboard.go).
//
// Handlers live one resource per file; New wires them on a gin engine with
// CORS on every response, OPTIONS answered before authentication, JSON
// errors ({"error": "..."}) for bad requests, unknown paths (404) and wrong
// methods (405), and no trailing-slash redirects.
package web

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/burrowproject/burrow/conf"
	"github.com/burrowproject/burrow/server/inspect"
	"github.com/burrowproject/burrow/server/instances"
)

// Options configure the API.
type Options struct {
	Manager *instances.Manager // required
	Master  *conf.Instance     // required: the master URL (API prefix, /info fields)
	Version string             // Burrow's version, reported by /info as "burrow"
	Started time.Time          // master start, for /info uptime; default now
	Agents  AgentLister        // connected agents; nil means none
	Bridge  *BridgeInfo        // the shared bridge, shown by /info; nil when there is none
	Schemes SchemeLister       // handler schemes and their descriptors; nil means none
	Metrics *Metrics           // metrics registry; a fresh one when nil
	// Inspector keeps the requests http instances with inspect= record; an
	// empty one when nil.
	Inspector *inspect.Set
	Log       *slog.Logger

	// Heartbeat is the interval of SSE comment lines; default 15 s.
	Heartbeat time.Duration
	// Auth backoff: after AuthFreeFailures wrong keys from one address
	// (default 5) each further attempt waits, doubling from 100 ms up to
	// AuthMaxDelay (default 2 s).
	AuthFreeFailures int
	AuthMaxDelay     time.Duration
	// Dialer is used by /tcping; default a net.Dialer.
	Dialer interface {
		DialContext(ctx context.Context, network, address string) (net.Conn, error)
	}
}

// server holds the handlers' shared dependencies.
type server struct {
	opts    Options
	m       *instances.Manager
	log     *slog.Logger
	root    string
	auth    *authLimiter
	tcping  chan struct{} // semaphore: concurrent /tcping probes
	metrics *Metrics
	ui      *dashboard

	inspector *inspect.Set
}

// Root returns the API root of a master URL: its prefix plus "/v1".
func Root(master *conf.Instance) string {
	prefix := strings.TrimRight(master.Prefix, "/")
	if prefix == "" {
		prefix = "/api"
	}
	return prefix + "/v1"
}

// New builds the API's gin engine.
func New(opts Options) (*gin.Engine, error) {
	if opts.Manager == nil || opts.Master == nil {
		return nil, errors.New("web: Manager and Master are required")
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Started.IsZero() {
		opts.Started = time.Now()
	}
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = 15 * time.Second
	}
	if opts.Dialer == nil {
		opts.Dialer = &net.Dialer{}
	}
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics()
	}
	if opts.Inspector == nil {
		opts.Inspector = inspect.New(inspect.Config{})
	}
	s := &server{
		opts: opts, m: opts.Manager, log: opts.Log, root: Root(opts.Master),
		auth:   newAuthLimiter(opts.AuthFreeFailures, opts.AuthMaxDelay),
		tcping: make(chan struct{}, maxTCPing), metrics: opts.Metrics, inspector: opts.Inspector,
	}
	ui, err := newDashboard(s.root)
	if err != nil {
		return nil, err
	}
	s.ui = ui
	s.metrics.bind(opts.Manager, opts.Agents)

	gin.SetMode(gin.ReleaseMode) // atomic; silences gin's route debug print
	e := gin.New()
	e.RedirectTrailingSlash = false
	e.RedirectFixedPath = false
	e.HandleMethodNotAllowed = true
	e.ForwardedByClientIP = false
	e.ContextWithFallback = true
	if err := e.SetTrustedProxies(nil); err != nil {
		return nil, err
	}
	e.Use(s.recover, cors, s.authenticate)
	e.NoRoute(s.notFound)
	e.NoMethod(s.methodNotAllowed)

	api := e.Group(s.root)
	api.GET("/instances", s.listInstances)
	api.POST("/instances", s.createInstance)
	api.GET("/instances/:id", s.getInstance)
	api.PATCH("/instances/:id", s.patchInstance)
	api.PUT("/instances/:id", s.putInstance)
	api.DELETE("/instances/:id", s.deleteInstance)
	api.GET("/instances/:id/history", s.instanceHistory)
	api.GET("/instances/:id/requests", s.listRequests)
	api.GET("/instances/:id/requests/stream", s.streamRequests)
	api.GET("/instances/:id/requests/:rid", s.getRequest)
	api.POST("/instances/:id/requests/:rid/replay", s.replayRequest)
	api.GET("/events", s.events)
	api.GET("/info", s.getInfo)
	api.POST("/info", s.postInfo)
	api.GET("/tcping", s.tcpingHandler)
	api.GET("/agents", s.listAgents)
	api.GET("/pools", s.listPools)
	api.GET("/schemes", s.listSchemes)
	api.Any("/openapi.json", s.openAPI)
	api.Any("/docs", s.docs)
	e.GET(metricsPath, s.metrics.handler())
	return e, nil
}

// isPublic reports whether path needs no API key.
func (s *server) isPublic(path string) bool {
	return path == s.root+"/openapi.json" || path == s.root+"/docs"
}

// isProtected reports whether path is under the API root (or the metrics
// endpoint) and not public.
func (s *server) isProtected(path string) bool {
	if path == metricsPath {
		return true
	}
	return (path == s.root || strings.HasPrefix(path, s.root+"/")) && !s.isPublic(path)
}
