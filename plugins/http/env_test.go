package http

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/burrowproject/burrow/bridge"
	"github.com/burrowproject/burrow/client"
	"github.com/burrowproject/burrow/internal/allowlist"
	"github.com/burrowproject/burrow/internal/testutil"
	"github.com/burrowproject/burrow/plugins/sdk"
	"github.com/burrowproject/burrow/server/flow"
	"github.com/burrowproject/burrow/server/host"
)

// net/http keeps a connection it refused (431, or a request body it would
// not read) for rstAvoidanceDelay (500ms) before closing it, in a goroutine
// nobody can stop early; it ends by itself.
func TestMain(m *testing.M) {
	testutil.VerifyNoLeaks(m, goleak.IgnoreAnyFunction("net/http.(*conn).closeWriteAndWait"))
}

// env is a real tunnel on loopback: a bridge.Server, agents (client.Agent)
// dialing it over TCP, a server/host.Host, and the http Handler on top,
// with instances sharing entry listeners the way the host will bind them.
type env struct {
	t          testing.TB
	bridge     *bridge.Server
	keys       *bridge.KeySet
	bridgeAddr string
	host       *host.Host
	sh         *sharedHost
	h          *Handler
	logs       *testutil.SyncBuffer // the host's and every instance's log lines
	records    host.RecordSink      // where instances started from now on record (inspect=)

	mu     sync.Mutex
	meters map[string]*flow.Meter
	live   map[string]bool
}

func newEnv(t testing.TB) *env {
	t.Helper()
	e := &env{t: t, keys: bridge.NewKeySet(), h: New(), meters: map[string]*flow.Meter{}, live: map[string]bool{}}
	e.h.lim.forceWait = 2 * time.Second
	e.bridge = bridge.NewServer(bridge.Config{Keys: e.keys})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.bridgeAddr = ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() { defer close(served); _ = e.bridge.Serve(ctx, ln) }()
	e.logs = &testutil.SyncBuffer{}
	e.host = host.New(e.bridge, slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	e.sh = &sharedHost{Host: e.host, lns: map[string]*sharedLn{}, of: map[string]string{}}
	t.Cleanup(func() {
		e.mu.Lock()
		var ids []string
		for id := range e.live {
			ids = append(ids, id)
		}
		e.mu.Unlock()
		for _, id := range ids {
			e.stop(id, 0)
		}
		cancel()
		<-served
		_ = e.bridge.Close()
	})
	return e
}

// agent connects an agent with key and returns a function that stops it.
// It is stopped at cleanup anyway.
func (e *env) agent(key string) (stop func()) {
	e.t.Helper()
	e.keys.Add(key)
	// A plain bridge and an agent that may dial anything: this tests the
	// handler, not the tunnel's security.
	all, _ := allowlist.ParseAllow([]string{"*"})
	a, err := client.New(client.Config{Bridge: e.bridgeAddr, Key: key, TLS: client.TLSOff, Allow: all, MinBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond})
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = a.Run(ctx) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	e.t.Cleanup(stop)
	testutil.Eventually(e.t, 5*time.Second, 5*time.Millisecond, func() bool { return e.bridge.Sessions(key) > 0 }, "agent "+key+" connects")
	return stop
}

// listen returns a fresh loopback address for an entry.
func (e *env) listen() string { return fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(e.t)) }

// start runs an http instance. params are the query parameters.
func (e *env) start(id, listen, agentKey string, targets []string, params map[string]string) *flow.Meter {
	e.t.Helper()
	m, err := e.tryStart(id, listen, agentKey, targets, params)
	if err != nil {
		e.t.Fatalf("start %s: %v", id, err)
	}
	return m
}

func (e *env) tryStart(id, listen, agentKey string, targets []string, params map[string]string) (*flow.Meter, error) {
	spec := sdk.InstanceSpec{ID: id, Scheme: "http", Listen: listen, Targets: targets, Params: params}
	if err := e.h.Validate(context.Background(), spec); err != nil {
		return nil, err
	}
	meter := flow.NewMeter(0, 0)
	// The real host shares one listener object per address (SharedTCP);
	// in handles mode the adapter gives each instance a dup of it instead.
	var hst sdk.Host = e.host
	inst := host.Instance{Spec: spec, AgentKey: agentKey, Meter: meter, TCP: true, SharedTCP: true, Records: e.records}
	if e.sh.handles {
		if err := e.sh.bind(id, listen); err != nil {
			return nil, err
		}
		hst, inst.TCP, inst.SharedTCP = e.sh, false, false
	}
	if err := e.host.Add(inst, nil); err != nil {
		e.sh.release(id)
		return nil, err
	}
	if err := e.h.Start(context.Background(), spec, hst); err != nil {
		e.host.Remove(id, 0)
		e.sh.release(id)
		return nil, err
	}
	e.mu.Lock()
	e.meters[id], e.live[id] = meter, true
	e.mu.Unlock()
	return meter, nil
}

// stop stops an instance the way the runtime does: handler, then host.
func (e *env) stop(id string, grace time.Duration) {
	e.t.Helper()
	ctx := context.Background()
	if grace > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, grace)
		defer cancel()
	}
	if err := e.h.Stop(ctx, id); err != nil {
		e.t.Errorf("stop %s: %v", id, err)
	}
	e.host.Remove(id, 0)
	e.sh.release(id)
	e.mu.Lock()
	delete(e.live, id)
	e.mu.Unlock()
}

// sharedHost stands for the process backend's host: one socket per listen
// address, of which each instance gets its own descriptor (a dup, as a
// plugin process does), not the same object. Without handles the env uses
// server/host's own shared listener instead.
type sharedHost struct {
	*host.Host
	handles bool

	mu  sync.Mutex
	lns map[string]*sharedLn
	of  map[string]string // instance -> address
	own map[string]net.Listener
}

type sharedLn struct {
	ln net.Listener
	n  int
}

func (s *sharedHost) bind(id, addr string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sl := s.lns[addr]
	if sl == nil {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return err
		}
		sl = &sharedLn{ln: ln}
		s.lns[addr] = sl
	}
	sl.n++
	s.of[id] = addr
	return nil
}

func (s *sharedHost) release(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	addr := s.of[id]
	delete(s.of, id)
	if own := s.own[id]; own != nil {
		_ = own.Close()
		delete(s.own, id)
	}
	if sl := s.lns[addr]; sl != nil {
		if sl.n--; sl.n == 0 {
			_ = sl.ln.Close()
			delete(s.lns, addr)
		}
	}
}

// Listener implements sdk.Host.
func (s *sharedHost) Listener(_ context.Context, id string) (net.Listener, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sl := s.lns[s.of[id]]
	if sl == nil {
		return nil, fmt.Errorf("instance %s has no listener", id)
	}
	if !s.handles {
		return sl.ln, nil
	}
	f, err := sl.ln.(*net.TCPListener).File()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	dup, err := net.FileListener(f)
	if err != nil {
		return nil, err
	}
	if s.own == nil {
		s.own = map[string]net.Listener{}
	}
	s.own[id] = dup
	return dup, nil
}

// backend is a real HTTP server a target points at, counting its
// connections and every byte crossing them.
type backend struct {
	*httptest.Server
	addr          string
	conns         atomic.Int64 // connections accepted
	open          atomic.Int64 // connections accepted and not yet closed
	read, written atomic.Int64
}

func newBackend(t testing.TB, h http.Handler) *backend {
	t.Helper()
	b := &backend{}
	s := httptest.NewUnstartedServer(h)
	s.Listener = &countingListener{Listener: s.Listener, b: b}
	s.Start()
	b.Server, b.addr = s, s.Listener.Addr().String()
	t.Cleanup(s.Close)
	return b
}

type countingListener struct {
	net.Listener
	b *backend
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.b.conns.Add(1)
	l.b.open.Add(1)
	return &countingConn{Conn: c, b: l.b}, nil
}

type countingConn struct {
	net.Conn
	b    *backend
	once sync.Once
}

func (c *countingConn) Close() error {
	c.once.Do(func() { c.b.open.Add(-1) })
	return c.Conn.Close()
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.b.read.Add(int64(n))
	return n, err
}

func (c *countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.b.written.Add(int64(n))
	return n, err
}

// userClient is what a user's browser would be: keep-alive, dialing the
// entry address whatever the URL's host says.
func userClient(t testing.TB, entry string) *http.Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, entry)
		},
		MaxIdleConnsPerHost: 128,
		DisableCompression:  true,
		TLSClientConfig:     &tls.Config{InsecureSkipVerify: true},
		ForceAttemptHTTP2:   true,
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 60 * time.Second}
}

// get fetches path from host through c and returns status and body.
func get(t testing.TB, c *http.Client, host, path string, hdr ...string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+host+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s%s: %v", host, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("GET %s%s: read body: %v", host, path, err)
	}
	return res.StatusCode, string(b), res.Header
}

// whoami answers with its name, the request's path and selected headers.
func whoami(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s host=%s xff=%s xfh=%s xfp=%s xri=%s auth=%s",
			name, r.URL.Path, r.Host, strings.Join(r.Header.Values("X-Forwarded-For"), "|"), r.Header.Get("X-Forwarded-Host"),
			r.Header.Get("X-Forwarded-Proto"), r.Header.Get("X-Real-Ip"), r.Header.Get("Authorization"))
	})
}
