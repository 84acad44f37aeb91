package http

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/burrowproject/burrow/internal/roundrobin"
	"github.com/burrowproject/burrow/plugins/sdk"
)

// This file is one instance's reverse proxy: a thin wrapper around
// httputil.ReverseProxy whose Transport dials through the host (host.Dial,
// counted by the host), keeps idle upstream connections per route, and
// spreads requests over the instance's targets.

// Upstream connection pool tuning, per instance.
const (
	maxIdlePerRoute = 256              // idle tunnel streams kept per target
	idleConnTimeout = 90 * time.Second // an idle tunnel stream is closed after this
	bufferSize      = 32 << 10         // the transport's buffers of each upstream connection
	// copyBufferSize is a body copy buffer, lent per body being copied: a
	// large one lets a read take what the socket holds, and each read of a
	// streamed (chunked) response costs a write and a flush to the client.
	copyBufferSize = 128 << 10
)

// instance is one running http instance.
type instance struct {
	id      string
	set     settings
	cert    *tls.Certificate // nil for plain HTTP
	host    sdk.Host
	log     *slog.Logger
	targets []*target
	byPool  map[string]*target // outgoing URL host -> target
	next    roundrobin.Counter
	tr      *http.Transport
	proxy   *httputil.ReverseProxy
	lim     limits
	rec     sdk.Recorder // the host's, with inspect= on; nil = nothing recorded

	ctx    context.Context // cancelled when the instance stops
	cancel context.CancelFunc
	links  links // tunnel streams, closed when Stop's grace ends

	mu       sync.Mutex
	stopping bool
	inflight sync.WaitGroup

	// Set by the Handler under its lock.
	entry *entry
	ln    net.Listener
}

// target is one backend of an instance, with its own upstream pool.
type target struct {
	addr  string       // host:port the agent dials; "" = the agent's default target
	pool  string       // outgoing URL.Host: the route identity http.Transport pools by
	until atomic.Int64 // unix nanoseconds: skipped while a recent dial failure cools down
}

// routeInfo is what a request carries from serve to the Transport.
type routeInfo struct {
	target *target
	client string      // the user's address
	host   string      // the Host the request was routed by
	is     *inspection // the request's record, with inspect= on; else nil
}

type routeKey struct{}

func withRoute(ctx context.Context, ri *routeInfo) context.Context {
	return context.WithValue(ctx, routeKey{}, ri)
}

// routeOf returns the request's route; nil when absent.
func routeOf(ctx context.Context) *routeInfo {
	ri, _ := ctx.Value(routeKey{}).(*routeInfo)
	return ri
}

func newInstance(spec sdk.InstanceSpec, set settings, cert *tls.Certificate, host sdk.Host, lim limits, bufs *bufferPool) *instance {
	in := &instance{
		id: spec.ID, set: set, cert: cert, host: host, log: host.Logger(spec.ID), lim: lim,
		byPool: map[string]*target{},
	}
	in.ctx, in.cancel = context.WithCancel(context.Background())
	addrs := spec.Targets
	if len(addrs) == 0 {
		addrs = []string{""} // the agent picks its default target
	}
	label := hex.EncodeToString([]byte(spec.ID))
	for i, a := range addrs {
		t := &target{addr: a, pool: "t" + strconv.Itoa(i) + "." + label + ".burrow.invalid"}
		in.targets = append(in.targets, t)
		in.byPool[t.pool] = t
	}
	in.tr = &http.Transport{
		DialContext:           in.dial,
		MaxIdleConnsPerHost:   maxIdlePerRoute,
		IdleConnTimeout:       idleConnTimeout,
		ResponseHeaderTimeout: set.headerTimeout,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true, // pass Accept-Encoding and bodies through untouched
		WriteBufferSize:       bufferSize,
		ReadBufferSize:        bufferSize,
	}
	in.proxy = &httputil.ReverseProxy{
		Rewrite:      in.rewrite,
		Transport:    in.tr,
		ErrorHandler: in.fail,
		BufferPool:   bufs,
		ErrorLog:     slog.NewLogLogger(in.log.Handler(), slog.LevelDebug),
	}
	return in
}

// serve answers one request routed to the instance.
func (in *instance) serve(w http.ResponseWriter, r *http.Request) {
	var is *inspection
	if in.rec != nil {
		is, w, r = in.begin(w, r)
		defer in.finish(is)
	}
	if in.set.redirectOn && r.TLS == nil {
		in.redirect(w, r, requestID(is))
		return
	}
	if in.set.auth != nil && !in.set.auth.check(r) {
		unauthorized(w, requestID(is))
		return
	}
	ri := &routeInfo{target: in.pick(), client: r.RemoteAddr, host: NormalizeHost(r.Host), is: is}
	// The request's own context suffices: a request still running when
	// Stop's grace ends ends with its tunnel stream, which stop closes.
	ctx := withRoute(r.Context(), ri)
	if up := upgradeType(r.Header); up != "" {
		if switchable(r, up) {
			if is != nil {
				is.ex.Upgrade = "websocket"
			}
			in.serveUpgrade(w, r.WithContext(ctx), ri)
			return
		}
		// Only a websocket upgrade can switch protocols (h2c never): any
		// other is an ordinary request, its Upgrade dropped.
		r.Header.Del("Upgrade")
	}
	in.proxy.ServeHTTP(w, r.WithContext(ctx))
}

// rewrite builds the upstream request: route identity in URL.Host (so the
// Transport pools per route), X-Forwarded-For/-Host/-Proto and X-Real-IP
// from the connection (whatever the client sent in those is dropped), the
// client's Host unless hostrewrite= says otherwise.
func (in *instance) rewrite(pr *httputil.ProxyRequest) {
	ri := routeOf(pr.In.Context())
	pr.Out.URL.Scheme = "http"
	pr.Out.URL.Host = ri.target.pool
	pr.SetXForwarded() // the proxy removed the client's X-Forwarded-* before Rewrite
	if ip, _, err := net.SplitHostPort(pr.In.RemoteAddr); err == nil {
		pr.Out.Header.Set("X-Real-Ip", ip)
	} else {
		pr.Out.Header.Del("X-Real-Ip")
	}
	pr.Out.Host = pr.In.Host
	if in.set.hostRewrite != "" {
		pr.Out.Host = in.set.hostRewrite
	}
	if in.set.auth != nil {
		pr.Out.Header.Del("Authorization") // the proxy's credentials are not the backend's business
	}
	pr.Out.Header.Del(sdk.ReplayHeader) // the master's mark on its replays, for its inspector only
}

// dial opens a tunnel stream for the route named by addr (a target's pool
// host) through the host, which counts and limits it.
func (in *instance) dial(ctx context.Context, _, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	t := in.byPool[host]
	if t == nil {
		return nil, errors.New("http: no route for upstream " + addr)
	}
	meta := map[string]string{}
	if ri := routeOf(ctx); ri != nil {
		meta[sdk.MetaClientAddr], meta[sdk.MetaHost] = ri.client, ri.host
	}
	c, err := in.host.Dial(ctx, sdk.LinkRequest{Instance: in.id, Network: "tcp", Target: t.addr, Meta: meta})
	if err != nil {
		var le *sdk.LinkError
		if errors.As(err, &le) && !errors.Is(err, sdk.ErrNoAgent) && !errors.Is(err, sdk.ErrSlotsFull) && ctx.Err() == nil {
			t.until.Store(time.Now().Add(in.lim.cooldown).UnixNano())
		}
		return nil, err
	}
	return in.links.track(c)
}

// links are an instance's open tunnel streams, so that Stop can end the
// requests still running on them when its grace is over.
type links struct {
	mu     sync.Mutex
	open   map[*link]struct{}
	closed bool // closeAll ran: a stream dialled since is closed at once
}

// link is a tunnel stream that leaves its instance's set when closed.
type link struct {
	net.Conn
	of   *links
	once sync.Once
}

// track adds c to the set; after closeAll it closes c and fails.
func (ls *links) track(c net.Conn) (net.Conn, error) {
	l := &link{Conn: c, of: ls}
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if ls.closed {
		_ = c.Close()
		return nil, errors.New("http: the instance is stopping")
	}
	if ls.open == nil {
		ls.open = map[*link]struct{}{}
	}
	ls.open[l] = struct{}{}
	return l, nil
}

// closeAll closes every open stream and every one dialled from now on:
// requests waiting on them (for a response, or to send a body) end.
func (ls *links) closeAll() {
	ls.mu.Lock()
	open := ls.open
	ls.open, ls.closed = nil, true
	ls.mu.Unlock()
	for l := range open {
		_ = l.Close()
	}
}

func (l *link) Close() error {
	err := net.ErrClosed
	l.once.Do(func() {
		l.of.mu.Lock()
		delete(l.of.open, l)
		l.of.mu.Unlock()
		err = l.Conn.Close()
	})
	return err
}

// pick chooses the next target round-robin, skipping targets whose last
// dial failed within the cooldown unless every target is cooling down.
func (in *instance) pick() *target {
	n := len(in.targets)
	if n == 1 {
		return in.targets[0]
	}
	start := in.next.Next(n)
	now := time.Now().UnixNano()
	for i := range n {
		if t := in.targets[(start+i)%n]; t.until.Load() <= now {
			return t
		}
	}
	return in.targets[start%n]
}

// fail answers a request the proxy could not complete: the user gets the
// class of the failure and a request id, the instance's log line the same
// id with the detail (target, the agent's reason).
func (in *instance) fail(w http.ResponseWriter, r *http.Request, err error) {
	ri := routeOf(r.Context())
	var is *inspection
	if ri != nil {
		is = ri.is
	}
	id := requestID(is)
	if in.ctx.Err() != nil {
		is.failed("stopped")
		writeError(w, http.StatusServiceUnavailable, "This site was stopped while the request was in flight.", id)
		return
	}
	status, msg := classify(err)
	is.failed(msg)
	target := ""
	if ri != nil {
		target = ri.target.addr
	}
	var le *sdk.LinkError
	switch {
	case r.Context().Err() != nil:
		in.log.Debug("request abandoned by the client", "request_id", id, "host", r.Host, "path", r.URL.Path, "err", err)
	case errors.As(err, &le):
		// The link failed: the host has logged it, within linklog=, so a
		// flood of requests to a site whose agent is offline stays bounded.
		in.log.Debug("proxy error", "request_id", id, "status", status, "host", r.Host, "target", target, "err", err)
	default:
		in.log.Warn("proxy error", "request_id", id, "status", status, "host", r.Host, "target", target, "err", err)
	}
	writeError(w, status, msg, id)
}

// redirect answers 308 with the request's HTTPS URL.
func (in *instance) redirect(w http.ResponseWriter, r *http.Request, id string) {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if in.set.redirect != "" && in.set.redirect != "443" {
		host = net.JoinHostPort(host, in.set.redirect)
	} else if strings.Contains(host, ":") { // a bare IPv6 literal
		host = "[" + host + "]"
	}
	u := "https://" + host + r.URL.RequestURI()
	w.Header().Set("Location", u)
	writeError(w, http.StatusPermanentRedirect, "This site is served over HTTPS: "+printable(u), id)
}

// enter counts a request in flight; false once the instance is stopping.
func (in *instance) enter() bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.stopping {
		return false
	}
	in.inflight.Add(1)
	return true
}

func (in *instance) leave() { in.inflight.Done() }

// stop refuses new requests, lets those in flight finish until ctx's
// deadline (at once without one), then cancels them and closes the
// instance's idle tunnel streams.
func (in *instance) stop(ctx context.Context) {
	in.mu.Lock()
	in.stopping = true
	in.mu.Unlock()
	done := make(chan struct{})
	go func() { in.inflight.Wait(); close(done) }()
	if _, ok := ctx.Deadline(); ok {
		select {
		case <-done:
		case <-ctx.Done():
		}
	}
	in.cancel()
	in.links.closeAll()
	t := time.NewTimer(in.lim.forceWait)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		// A request blocked writing to a client that does not read; it ends
		// with that client's connection.
		in.log.Warn("requests still writing to slow clients after stop", "waited", in.lim.forceWait)
	}
	in.tr.CloseIdleConnections()
}

// check reports whether r carries the instance's basic-auth credentials,
// comparing digests in constant time.
func (a *basicAuth) check(r *http.Request) bool {
	u, p, ok := r.BasicAuth()
	if !ok {
		return false
	}
	uh, ph := sha256.Sum256([]byte(u)), sha256.Sum256([]byte(p))
	return subtle.ConstantTimeCompare(uh[:], a.user[:])&subtle.ConstantTimeCompare(ph[:], a.pass[:]) == 1
}

// bufferPool lends the proxy its body copy buffers. It keeps pointers to
// the arrays, so neither Get nor Put allocates.
type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() []byte {
	if v, ok := b.p.Get().(*[copyBufferSize]byte); ok {
		return v[:]
	}
	return new([copyBufferSize]byte)[:]
}

func (b *bufferPool) Put(buf []byte) {
	if cap(buf) == copyBufferSize {
		b.p.Put((*[copyBufferSize]byte)(buf[:copyBufferSize]))
	}
}
