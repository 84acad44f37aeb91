// Package pluginhost runs handler plugins as go-plugin processes (the
// "process backend"): it finds plugin binaries in a directory, checks them
// against a pinned SHA-256 manifest, launches one process per binary shared
// by all its instances, and exposes each plugin as an sdk.Handler that the
// runtime uses exactly like a handler linked into the server.
//
// gRPC carries control only. Each process inherits an fd link (see
// plugins/sdk/fdlink): the host sends it the sockets that server/host bound
// for an instance (op L), and serves the connections the plugin hands back
// (op H, through the instance's sdk.Host Handoff) and the links it asks for
// (op D, through the instance's sdk.Host Dial), so the host still counts
// and limits every byte.
//
// A plugin that dies is relaunched with a capped backoff and jitter, for as
// long as the host runs (a new go-plugin Client, a new SecureConfig hash
// and a new fd link each time), and its instances are started again on the
// same sockets. While it is down, their listeners refuse: the host accepts
// and resets every connection rather than leave users in a backlog nobody
// serves. OnState reports each instance going to error (with the plugin's
// last stderr lines and the next attempt) and back to running.
package pluginhost

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/go-plugin"

	"github.com/burrowproject/burrow/plugins/sdk"
)

// Instance states reported through Config.OnState.
const (
	StateRunning = "running" // served again after a relaunch
	StateError   = "error"   // the plugin died; a relaunch is pending
)

// Config configures a Host.
type Config struct {
	Dir      string       // plugin directory: binaries named burrow-<scheme>
	Manifest string       // SHA-256 manifest; "" = Dir/plugins.sha256 (see ManifestName)
	Logger   *slog.Logger // nil = discard; each plugin logs under "plugin"=<binary>
	// OnState is told when an instance's state changes outside a Start or
	// Stop call: the plugin died or a relaunch failed (StateError, reason
	// with the last stderr lines and the next attempt), or it serves again
	// (StateRunning). It must not block.
	OnState func(instanceID, state, reason string)
	// Env is the whole environment of plugin processes, besides what
	// go-plugin and the fd link need; the server's own environment (API
	// key, agent keys) is never passed. nil = none.
	Env      []string
	LogLevel string // plugins' log level: debug, info, warn, error; "" = info

	StartTimeout time.Duration // handshake, Describe and each Start; 0 = 10s
	PingInterval time.Duration // health ping period and timeout; 0 = 5s, <0 = off
	MinBackoff   time.Duration // first relaunch delay; 0 = 100ms
	MaxBackoff   time.Duration // relaunch delay cap; 0 = 30s
	// CrashWindow: a process that ran longer than this before dying
	// relaunches after MinBackoff again; crashes within it are counted in
	// the reason. 0 = 1m.
	CrashWindow time.Duration
	StderrLines int // stderr lines kept for crash reports; 0 = 20
}

func (c *Config) complete() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Manifest == "" {
		c.Manifest = filepath.Join(c.Dir, ManifestName)
	}
	if c.OnState == nil {
		c.OnState = func(string, string, string) {}
	}
	if c.LogLevel == "" {
		c.LogLevel = "info"
	}
	if c.StartTimeout <= 0 {
		c.StartTimeout = 10 * time.Second
	}
	if c.PingInterval == 0 {
		c.PingInterval = 5 * time.Second
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = 100 * time.Millisecond
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 30 * time.Second
	}
	if c.CrashWindow <= 0 {
		c.CrashWindow = time.Minute
	}
	if c.StderrLines <= 0 {
		c.StderrLines = 20
	}
}

// Host runs the plugins of one directory. It is safe for concurrent use.
type Host struct {
	cfg      Config
	log      *slog.Logger
	manifest string
	// secure builds each launch's SecureConfig; tests replace it to show
	// that a reused one fails.
	secure func(sum []byte) *plugin.SecureConfig

	mu     sync.Mutex
	procs  map[string]*proc // by scheme
	closed bool
}

// New scans cfg.Dir for plugin binaries pinned in the manifest. It refuses
// a directory, manifest or binary that is group- or world-writable or
// owned by another user. No process starts until a handler is used.
func New(cfg Config) (*Host, error) {
	cfg.complete()
	if cfg.Dir == "" {
		return nil, errors.New("pluginhost: plugin directory required")
	}
	found, skipped, err := scan(cfg.Dir, cfg.Manifest)
	if err != nil {
		return nil, err
	}
	h := &Host{cfg: cfg, log: cfg.Logger, manifest: cfg.Manifest, secure: secureConfig, procs: make(map[string]*proc)}
	for _, name := range skipped {
		h.log.Warn("plugin binary not in the manifest: not offered", "file", name, "manifest", cfg.Manifest)
	}
	for scheme, bin := range found {
		h.procs[scheme] = newProc(h, bin)
	}
	return h, nil
}

// Schemes returns the schemes of the plugins found, sorted.
func (h *Host) Schemes() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]string, 0, len(h.procs))
	for s := range h.procs {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// Handler returns the process backend for scheme: an sdk.Handler whose
// calls go to the plugin process burrow-<scheme>, launched on first use.
func (h *Host) Handler(scheme string) (sdk.Handler, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, errors.New("pluginhost: closed")
	}
	p := h.procs[scheme]
	if p == nil {
		return nil, fmt.Errorf("no plugin for scheme %q in %s (want a file %s%s pinned in %s)",
			scheme, h.cfg.Dir, BinaryPrefix, scheme, filepath.Base(h.manifest))
	}
	return p, nil
}

// PID returns the process id of scheme's running plugin, 0 if none runs.
func (h *Host) PID(scheme string) int {
	h.mu.Lock()
	p := h.procs[scheme]
	h.mu.Unlock()
	if p == nil {
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cur == nil {
		return 0
	}
	return p.cur.pid
}

// Close kills every plugin process and waits for the host's goroutines.
// Handed-off connections are server/host's and are not touched.
func (h *Host) Close() error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	procs := make([]*proc, 0, len(h.procs))
	for _, p := range h.procs {
		procs = append(procs, p)
	}
	h.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.close()
		}()
	}
	wg.Wait()
	return nil
}
