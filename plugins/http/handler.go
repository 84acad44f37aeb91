// Package http is the HTTP and WebSocket reverse-proxy handler: every http
// instance on one listen address shares one entry server, which routes each
// request by Host (exact, then the longest *.wildcard) and path= prefix
// (longest first) to an instance, whose httputil.ReverseProxy sends it
// through the instance's agent on a tunnel stream from host.Dial.
//
// Files: router.go is the routing table (pure data), entry.go the shared
// entry server, proxy.go the per-instance ReverseProxy and Transport,
// websocket.go the upgrade path, errors.go the pages the proxy answers
// with, config.go the instance parameters.
//
// Parameters (see Describe): host= (required), path=, auth=, hostrewrite=,
// read=, tls=/crt=/key= (HTTPS with per-instance certificates chosen by SNI,
// HTTP/2 to clients), redirect= (plain HTTP answers 308 to HTTPS),
// inspect= (requests recorded for the master's inspector, inspect.go).
//
// Shared listeners: the handler declares sdk.CapSharedListener, so the host
// binds one listener per listen address for all its instances there. Start
// keys entry servers by the address of the listener host.Listener returns;
// that listener may be the very object the entry already serves (the
// in-process host: served once) or another descriptor of the same socket
// (a plugin process: each is served). A listener no running instance got
// any more is closed; the entry's server stops with its last instance,
// unless another instance joins while that one drains.
package http

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/burrowproject/burrow/conf"
	"github.com/burrowproject/burrow/plugins/sdk"
)

// Version is the handler's version.
const Version = "1.2.0"

// limits are the entry servers' protections and the proxy's timings.
type limits struct {
	readHeader time.Duration // a client must send its request head within this
	idle       time.Duration // an idle keep-alive client connection is closed after this
	maxHeader  int           // larger request heads get 431
	cooldown   time.Duration // a target whose dial failed is skipped this long
	forceWait  time.Duration // Stop waits this long for cancelled requests to return
}

func defaultLimits() limits {
	return limits{
		readHeader: 10 * time.Second,
		idle:       120 * time.Second,
		maxHeader:  64 << 10,
		cooldown:   5 * time.Second,
		forceWait:  5 * time.Second,
	}
}

// Handler serves http instances. Build it with New.
type Handler struct {
	lim  limits
	bufs bufferPool

	mu      sync.Mutex
	entries map[string]*entry    // by listener address
	insts   map[string]*instance // by instance id
}

// New returns an http handler.
func New() *Handler {
	return &Handler{lim: defaultLimits(), entries: map[string]*entry{}, insts: map[string]*instance{}}
}

// Describe implements sdk.Handler.
func (*Handler) Describe(context.Context) (sdk.Descriptor, error) {
	return sdk.Descriptor{
		Name: "http", Version: Version, SDKVersion: sdk.Version, Schemes: []string{"http"},
		Capabilities: []string{sdk.CapDial, sdk.CapNeedsListener, sdk.CapSharedListener},
		Params: []sdk.Param{
			{Name: "host", Type: "list", Help: "required: host names served, exact or *.wildcard, comma-separated; case and port ignored"},
			{Name: "path", Type: "string", Default: "/", Help: "URL path prefix served, matched at segment boundaries; the longest prefix wins"},
			{Name: "auth", Type: "string", Help: "user:pass: require HTTP basic auth (checked by the proxy, not sent upstream); secret"},
			{Name: "hostrewrite", Type: "string", Help: "Host header sent upstream; default: the client's"},
			{Name: "read", Type: "duration", Default: DefaultHeaderTimeout.String(), Help: "how long the backend may take to send response headers before a 504; 0 = default"},
			{Name: "tls", Type: "int", Default: "0", Help: "1: HTTPS with a self-signed certificate for host=; 2: HTTPS with crt= and key=; the listen address then serves only HTTPS"},
			{Name: "crt", Type: "string", Help: "certificate file (PEM) for HTTPS, chosen by SNI among the address's instances; implies tls=2"},
			{Name: "key", Type: "string", Help: "private key file (PEM) for crt="},
			{Name: "redirect", Type: "string", Help: "https or https:PORT: answer 308 to the HTTPS URL instead of proxying (plain HTTP only)"},
			{Name: "inspect", Type: "string", Default: "0", Help: "1: record each request's metadata and headers (credentials and cookies redacted) for the master's inspector; body: also the first 16 KiB of each body"},
		},
	}, nil
}

// Validate implements sdk.Handler.
func (*Handler) Validate(_ context.Context, spec sdk.InstanceSpec) error {
	if spec.Listen == "" {
		return errors.New("http: a listen address is required")
	}
	_, err := parseSettings(spec)
	return err
}

// Start implements sdk.Handler: it joins the entry server on the
// instance's listener, starting that server if the instance is the first on
// its address.
func (h *Handler) Start(ctx context.Context, spec sdk.InstanceSpec, host sdk.Host) error {
	set, err := parseSettings(spec)
	if err != nil {
		return err
	}
	cert, err := set.certificate()
	if err != nil {
		return err
	}
	var rec sdk.Recorder
	if set.inspect != conf.InspectOff {
		var ok bool
		if rec, ok = host.(sdk.Recorder); !ok {
			return fmt.Errorf("http instance %s: inspect=%s needs a host that keeps records (a Burrow master since sdk 1.3.0)", spec.ID, set.inspect)
		}
	}
	ln, err := host.Listener(ctx, spec.ID)
	if err != nil {
		return fmt.Errorf("http instance %s: %w", spec.ID, err)
	}
	addr := ln.Addr().String()
	in := newInstance(spec, set, cert, host, h.lim, &h.bufs)
	in.rec = rec

	started := false
	defer func() {
		if !started {
			in.cancel()
		}
	}()
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, dup := h.insts[spec.ID]; dup {
		return fmt.Errorf("instance %s is already running", spec.ID)
	}
	e := h.entries[addr]
	if e == nil {
		e = newEntry(addr, cert != nil, h.lim, in.log.With("listen", addr))
	} else if e.tls != (cert != nil) && len(e.insts) == 0 {
		return fmt.Errorf("http instance %s: %s is still draining its last instance; start this one when that has stopped", spec.ID, addr)
	} else if e.tls != (cert != nil) {
		return mixError(e, spec.ID)
	}
	insts := maps.Clone(e.insts)
	insts[spec.ID] = in
	snap, err := e.build(insts, spec.ID)
	if err != nil {
		return err
	}
	in.entry, in.ln = e, ln
	e.insts = insts
	e.snap.Store(snap)
	if _, serving := e.lns[ln]; !serving {
		e.serve(ln)
	}
	e.lns[ln]++
	for l, n := range e.lns { // listeners of instances stopped while the entry drained
		if n == 0 && l != ln {
			_ = l.Close()
			delete(e.lns, l)
		}
	}
	h.entries[addr] = e
	h.insts[spec.ID] = in
	started = true
	in.log.Info("http instance serving", "listen", addr, "hosts", set.hosts, "path", set.path, "https", e.tls)
	return nil
}

// mixError explains why an instance cannot join an entry of the other kind.
func mixError(e *entry, id string) error {
	if e.tls {
		return fmt.Errorf("http instance %s: %s serves HTTPS (its instances have certificates); give this instance crt= and key= (or tls=1), or use another listen address", id, e.addr)
	}
	return fmt.Errorf("http instance %s: %s serves plain HTTP; an HTTPS instance needs a listen address of its own", id, e.addr)
}

// Stop implements sdk.Handler: the instance's routes go at once (its hosts
// get 404), its requests in flight may finish until ctx's deadline, then
// are cancelled. Other instances on the address are not touched; the entry
// server stops with its last instance.
func (h *Handler) Stop(ctx context.Context, id string) error {
	h.mu.Lock()
	in := h.insts[id]
	if in == nil {
		h.mu.Unlock()
		return fmt.Errorf("instance %s: %w", id, sdk.ErrUnknownInstance)
	}
	delete(h.insts, id)
	e := in.entry
	insts := maps.Clone(e.insts)
	delete(insts, id)
	snap, err := e.build(insts, "")
	if err != nil { // cannot happen: removing a route never conflicts
		snap = &snapshot{}
	}
	e.insts = insts
	e.snap.Store(snap)
	e.lns[in.ln]--
	closeLn := e.lns[in.ln] == 0 && len(insts) > 0
	if closeLn {
		delete(e.lns, in.ln)
	}
	h.mu.Unlock()

	if closeLn {
		_ = in.ln.Close() // no running instance got this listener any more
	}
	in.stop(ctx)
	// The entry goes with its last instance, unless one joined it while
	// this one drained (its listener, if the same object, stays served).
	h.mu.Lock()
	shut := len(e.insts) == 0 && h.entries[e.addr] == e
	if shut {
		delete(h.entries, e.addr)
	}
	h.mu.Unlock()
	if shut {
		e.close()
	}
	in.log.Info("http instance stopped")
	return nil
}

var _ sdk.Handler = (*Handler)(nil)
