package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/burrowproject/burrow/test/e2e/framework"
)

// Specs of the http handler (run as the burrow-http plugin process) on one
// shared entry port: routing by exact host, *.wildcard and path prefix to
// backends behind two agents, keep-alive reuse of tunnel streams, 100 MiB
// down and up, clients that leave mid-body, WebSocket with exact counters,
// the truthful error pages (404, 401, 502, 504, 431) and a slowloris client
// that must not block others.

const (
	httpBig      = 100 << 20
	wsBig        = 16 << 20
	wsSockets    = 100
	wsPerSocket  = 10
	kaRequests   = 30
	slowClients  = 30
	fastRequests = 20
)

// httpBackend is an HTTP server that names itself in every answer.
type httpBackend struct {
	name    string
	addr    string
	mu      sync.Mutex
	remotes map[string]int // remote address -> requests to /ka
	ends    chan bodyEnd   // how /upload and /big requests ended
}

// bodyEnd is how a request with a large body ended at the backend.
type bodyEnd struct {
	path string
	n    int64 // body bytes read (/upload) or written (/big)
	err  error
}

// ended reports a body's end without ever blocking the handler.
func (b *httpBackend) ended(e bodyEnd) {
	select {
	case b.ends <- e:
	default:
	}
}

func (b *httpBackend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/big":
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", fmt.Sprint(httpBig))
		src := io.LimitReader(mrand.NewChaCha8(bigSeed), httpBig)
		buf := make([]byte, 256<<10)
		n, err := io.CopyBuffer(w, src, buf)
		b.ended(bodyEnd{path: "/big", n: n, err: err})
	case "/upload":
		h := sha256.New()
		n, err := io.Copy(h, r.Body)
		b.ended(bodyEnd{path: "/upload", n: n, err: err})
		if err == nil {
			_, _ = fmt.Fprintf(w, "%d %x", n, h.Sum(nil))
		}
	case "/hang":
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	case "/ka":
		b.mu.Lock()
		b.remotes[r.RemoteAddr]++
		b.mu.Unlock()
		_, _ = io.WriteString(w, r.RemoteAddr)
	default:
		_, _ = fmt.Fprintf(w, "backend=%s host=%s path=%s auth=%q", b.name, r.Host, r.URL.Path, r.Header.Get("Authorization"))
	}
}

var bigSeed = [32]byte{'b', 'u', 'r', 'r', 'o', 'w'}

func (b *httpBackend) distinctRemotes() map[string]int {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make(map[string]int, len(b.remotes))
	for k, v := range b.remotes {
		out[k] = v
	}
	return out
}

func newHTTPBackend(f *framework.Framework, name string) *httpBackend {
	b := &httpBackend{name: name, remotes: map[string]int{}, ends: make(chan bodyEnd, 8)}
	b.addr = f.HTTPServer(b)
	return b
}

// httpWorld is the master, its entry port and its instances.
type httpWorld struct {
	f      *framework.Framework
	m      *framework.Master
	entry  string
	ids    map[string]string // instance alias -> id
	client *http.Client
	ka     *httpBackend
	mid    *httpBackend       // for clients that leave mid-body
	ws     *framework.Traffic // bytes the WebSocket backend read and wrote
}

func (w *httpWorld) url(host, path string) string { return "http://" + host + path }

// One master (handlers as plugin processes), two agents, nine http
// instances on one entry port.
func TestHTTPEntry(t *testing.T) {
	t.Parallel()
	f := framework.New(t)
	m := startPluginMaster(t, f, "master", framework.PluginDir(t), "http")
	keyA, keyB, keyOffline := newKey(t), newKey(t), newKey(t)
	exact, wild, path := newHTTPBackend(f, "exact"), newHTTPBackend(f, "wildcard"), newHTTPBackend(f, "path")
	ka, mid := newHTTPBackend(f, "keepalive"), newHTTPBackend(f, "mid")
	ws, wsTraffic := f.WSEchoCounted()
	port := f.Port()
	w := &httpWorld{f: f, m: m, entry: framework.Addr(port), ids: map[string]string{}, ka: ka, mid: mid, ws: wsTraffic}

	type spec struct{ alias, target, key, query string }
	specs := []spec{
		{"exact", exact.addr, keyA, "host=app.example.com"},
		{"wildcard", wild.addr, keyB, "host=*.example.com"},
		{"path", path.addr, keyB, "host=app.example.com&path=/api"},
		{"keepalive", ka.addr, keyA, "host=ka.example.net"},
		{"mid", mid.addr, keyB, "host=mid.example.net"},
		{"ws", ws, keyA, "host=ws.example.net"},
		{"auth", exact.addr, keyA, "host=auth.example.net&auth=alice:s3cret"},
		{"offline", exact.addr, keyOffline, "host=offline.example.net"},
		{"refused", f.RefusingAddr(), keyA, "host=refused.example.net"},
		{"slow", exact.addr, keyB, "host=slow.example.net&read=300ms"},
	}
	for _, s := range specs {
		in := m.Create(fmt.Sprintf("http://%s/%s?agent=%s&%s", w.entry, s.target, s.key, s.query), s.alias)
		if in.Type != "http" {
			t.Fatalf("instance %s has type %q, want http", s.alias, in.Type)
		}
		w.ids[s.alias] = in.ID
	}
	for i, key := range []string{keyA, keyB} {
		agent := f.Burrow(fmt.Sprintf("agent-%c", 'a'+i), m.AgentURL(key, "allow=127.0.0.0/8"))
		agent.MustWaitLog(logConnected, ready)
	}
	for _, s := range specs {
		if s.key == keyOffline {
			continue
		}
		m.WaitInstance(w.ids[s.alias], ready, "running with its agent", func(in framework.Instance) bool {
			return in.Status == "running" && in.Pool == 1
		})
	}
	if pids := framework.PluginProcesses(m.PID())["burrow-http"]; framework.HasProcFS() && len(pids) != 1 {
		t.Fatalf("burrow-http processes under the master: %v, want 1 (all http instances share it)", pids)
	}
	w.client = entryClient(t, w.entry, 20*time.Second)

	t.Run("routing", w.routing)
	t.Run("keep-alive", w.keepAlive)
	t.Run("download 100MiB", w.download)
	t.Run("upload 100MiB", w.upload)
	t.Run("client leaves mid-body", w.midBody)
	t.Run("websocket", w.websocket)
	t.Run("error pages", w.errorPages)
	t.Run("slowloris", w.slowloris)
}

// routing: exact host, wildcard, host+path at segment boundaries; case and
// port ignored; the apex of a wildcard is not served.
func (w *httpWorld) routing(t *testing.T) {
	t.Parallel()
	cases := []struct {
		host, path, backend string
	}{
		{"app.example.com", "/", "exact"},
		{"app.example.com", "/apix", "exact"},
		{"APP.Example.COM", "/index.html", "exact"},
		{"app.example.com:" + portOf(w.entry), "/", "exact"},
		{"app.example.com", "/api", "path"},
		{"app.example.com", "/api/v1/users", "path"},
		{"other.example.com", "/", "wildcard"},
		{"other.example.com", "/api/v1", "wildcard"},
		{"deep.sub.example.com", "/x", "wildcard"},
	}
	for _, c := range cases {
		status, _, body, err := entryGet(w.client, w.url(c.host, c.path))
		if err != nil {
			t.Errorf("GET %s%s: %v", c.host, c.path, err)
			continue
		}
		want := fmt.Sprintf("backend=%s host=%s path=%s ", c.backend, c.host, c.path)
		if status != http.StatusOK || !strings.HasPrefix(body, want) {
			t.Errorf("GET %s%s: %d %q, want 200 from %q", c.host, c.path, status, body, want)
		}
	}
	// The bare domain of a wildcard is not one of its subdomains.
	status, _, body, err := entryGet(w.client, w.url("example.com", "/"))
	if err != nil || status != http.StatusNotFound || !strings.Contains(body, `"example.com"`) {
		t.Errorf("GET example.com/: %d %q %v, want 404 naming the host", status, body, err)
	}
}

func portOf(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// keepAlive: one keep-alive client, many sequential requests: one client
// connection and one backend connection (one tunnel stream, reused).
func (w *httpWorld) keepAlive(t *testing.T) {
	t.Parallel()
	var dials atomic.Int64
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			dials.Add(1)
			var d net.Dialer
			return d.DialContext(ctx, network, w.entry)
		},
		MaxConnsPerHost: 1,
	}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	seen := map[string]int{}
	for i := range kaRequests {
		status, _, body, err := entryGet(c, w.url("ka.example.net", "/ka"))
		if err != nil || status != http.StatusOK {
			t.Fatalf("keep-alive request %d: %d %q %v", i, status, body, err)
		}
		seen[body]++
	}
	if n := dials.Load(); n != 1 {
		t.Errorf("the keep-alive client dialed %d connections for %d requests, want 1", n, kaRequests)
	}
	remotes := w.ka.distinctRemotes()
	if len(remotes) != 1 || len(seen) != 1 {
		t.Errorf("%d sequential keep-alive requests reached the backend over %d connections (%v; answers %v), want 1 reused tunnel stream",
			kaRequests, len(remotes), remotes, seen)
	}
}

// download: 100 MiB from the backend through the proxy, intact.
func (w *httpWorld) download(t *testing.T) {
	t.Parallel()
	wantSum := make(chan string, 1)
	go func() {
		h := sha256.New()
		_, _ = io.Copy(h, io.LimitReader(mrand.NewChaCha8(bigSeed), httpBig))
		wantSum <- hex.EncodeToString(h.Sum(nil))
	}()
	c := entryClient(t, w.entry, 90*time.Second)
	start := time.Now()
	resp, err := c.Get(w.url("app.example.com", "/big"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	elapsed := time.Since(start)
	want := <-wantSum
	if err != nil || resp.StatusCode != http.StatusOK || resp.ContentLength != httpBig || n != httpBig {
		t.Fatalf("GET /big: status %d, Content-Length %d, read %d bytes, err %v; want 200 and %d bytes",
			resp.StatusCode, resp.ContentLength, n, err, httpBig)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		t.Fatalf("100 MiB arrived with sha256 %s, want %s", got, want)
	}
	t.Logf("100 MiB in %v (%.0f MiB/s)", elapsed.Round(time.Millisecond), float64(httpBig>>20)/elapsed.Seconds())
	w.m.WaitInstance(w.ids["exact"], ready, "counting the download", func(in framework.Instance) bool {
		return in.TCPTx >= httpBig
	})
}

// upload: 100 MiB through the proxy to the backend, intact.
func (w *httpWorld) upload(t *testing.T) {
	t.Parallel()
	seed := [32]byte{'u', 'p'}
	h := sha256.New()
	_, _ = io.Copy(h, io.LimitReader(mrand.NewChaCha8(seed), httpBig))
	want := fmt.Sprintf("%d %x", httpBig, h.Sum(nil))
	c := entryClient(t, w.entry, 90*time.Second)
	req, err := http.NewRequest(http.MethodPost, w.url("app.example.com", "/upload"), io.LimitReader(mrand.NewChaCha8(seed), httpBig))
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = httpBig
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK || string(body) != want {
		t.Fatalf("POST 100 MiB: status %d, answer %q, err %v; want 200 and %q", resp.StatusCode, body, err, want)
	}
	t.Logf("100 MiB up in %v", time.Since(start).Round(time.Millisecond))
	w.m.WaitInstance(w.ids["exact"], ready, "counting the upload", func(in framework.Instance) bool {
		return in.TCPRx >= httpBig
	})
}

// midBody: a client that hangs up in the middle of its request body, or of
// the response body, ends only its own request: the backend sees the body
// end early or its writes fail (so nothing is left streaming into the
// tunnel), and the entry keeps serving.
func (w *httpWorld) midBody(t *testing.T) {
	t.Parallel()
	const announced, sent = 8 << 20, 1 << 20
	expectEnd := func(what, path string) bodyEnd {
		t.Helper()
		select {
		case e := <-w.mid.ends:
			if e.path != path {
				t.Fatalf("%s: the backend ended %s, want %s", what, e.path, path)
			}
			return e
		case <-time.After(15 * time.Second):
			t.Fatalf("%s: the backend is still busy with a client that left 15s ago", what)
		}
		return bodyEnd{}
	}

	c, err := net.DialTimeout("tcp", w.entry, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := fmt.Fprintf(c, "POST /upload HTTP/1.1\r\nHost: mid.example.net\r\nContent-Length: %d\r\n\r\n", announced); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(framework.RandomBytes(sent)); err != nil {
		t.Fatal(err)
	}
	_ = c.Close()
	if e := expectEnd("upload cut short", "/upload"); e.err == nil || e.n >= announced {
		t.Errorf("upload cut short after %d of %d bytes: the backend read %d bytes, err %v; want an early end", sent, announced, e.n, e.err)
	}

	c, err = net.DialTimeout("tcp", w.entry, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.WriteString(c, "GET /big HTTP/1.1\r\nHost: mid.example.net\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(io.Discard, c, sent); err != nil {
		t.Fatalf("first MiB of the download: %v", err)
	}
	_ = c.Close()
	if e := expectEnd("download abandoned", "/big"); e.err == nil || e.n >= httpBig {
		t.Errorf("download abandoned after 1 MiB: the backend wrote %d of %d bytes, err %v; want its writes to fail", e.n, httpBig, e.err)
	}

	status, _, body, err := entryGet(w.client, w.url("mid.example.net", "/after"))
	if err != nil || status != http.StatusOK || !strings.HasPrefix(body, "backend=mid") {
		t.Fatalf("request after two clients left mid-body: %d %q %v", status, body, err)
	}
}

// wsDial opens a WebSocket to ws.example.net through the entry.
func (w *httpWorld) wsDial(ctx context.Context) (*websocket.Conn, error) {
	d := websocket.Dialer{
		HandshakeTimeout: 10 * time.Second,
		NetDialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var nd net.Dialer
			return nd.DialContext(ctx, network, w.entry)
		},
	}
	c, resp, err := d.DialContext(ctx, "ws://ws.example.net/echo", nil)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		return nil, fmt.Errorf("websocket dial (status %d): %w", status, err)
	}
	return c, nil
}

// wsEcho sends one message and expects it back with its type.
func wsEcho(c *websocket.Conn, mt int, p []byte) error {
	_ = c.SetWriteDeadline(time.Now().Add(30 * time.Second))
	if err := c.WriteMessage(mt, p); err != nil {
		return fmt.Errorf("write %d bytes: %w", len(p), err)
	}
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	gotType, got, err := c.ReadMessage()
	if err != nil {
		return fmt.Errorf("read the echo of %d bytes: %w", len(p), err)
	}
	if gotType != mt || !bytes.Equal(got, p) {
		return fmt.Errorf("echo of a %d-byte message of type %d: type %d, %d bytes, equal %v", len(p), mt, gotType, len(got), bytes.Equal(got, p))
	}
	return nil
}

// websocket: text, binary, ping/pong, close, a 16 MiB message, 100
// concurrent sockets; once every socket has closed, the instance has
// counted exactly the bytes the backend read and wrote (handshakes and
// frames included).
func (w *httpWorld) websocket(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var sent atomic.Int64 // payload bytes written by clients (each comes back once)

	c, err := w.wsDial(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	check := func(what string, mt int, p []byte) {
		t.Helper()
		if err := wsEcho(c, mt, p); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		sent.Add(int64(len(p)))
	}
	check("text", websocket.TextMessage, []byte("hello through the tunnel"))
	check("binary", websocket.BinaryMessage, framework.RandomBytes(4096))

	pong := make(chan string, 1)
	c.SetPongHandler(func(data string) error {
		select {
		case pong <- data:
		default:
		}
		return nil
	})
	if err := c.WriteControl(websocket.PingMessage, []byte("ping-1"), time.Now().Add(5*time.Second)); err != nil {
		t.Fatal(err)
	}
	sent.Add(6)
	check("message after a ping", websocket.TextMessage, []byte("after the ping"))
	select {
	case got := <-pong:
		if got != "ping-1" {
			t.Errorf("pong carries %q, want ping-1", got)
		}
	default:
		t.Error("no pong came back before the echo of the next message")
	}

	big := framework.RandomBytes(wsBig)
	start := time.Now()
	check("16 MiB message", websocket.BinaryMessage, big)
	t.Logf("16 MiB WebSocket echo in %v", time.Since(start).Round(time.Millisecond))

	// Close handshake: the server answers the close frame with its own.
	if err := wsClose(c); err != nil {
		t.Error(err)
	}

	// 100 sockets at once, each with its own conversation and a complete
	// close handshake.
	var wg sync.WaitGroup
	errs := make(chan error, wsSockets)
	for i := range wsSockets {
		wg.Go(func() {
			c, err := w.wsDial(ctx)
			if err != nil {
				errs <- fmt.Errorf("socket %d: %w", i, err)
				return
			}
			defer c.Close()
			for j := range wsPerSocket {
				mt, p := websocket.TextMessage, []byte(fmt.Sprintf("socket %d message %d %s", i, j, strings.Repeat("x", 100*j)))
				if j%2 == 1 {
					mt, p = websocket.BinaryMessage, framework.RandomBytes(1000*(j+1))
				}
				if err := wsEcho(c, mt, p); err != nil {
					errs <- fmt.Errorf("socket %d message %d: %w", i, j, err)
					return
				}
				sent.Add(int64(len(p)))
			}
			if err := wsClose(c); err != nil {
				errs <- fmt.Errorf("socket %d: %w", i, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	_ = c.Close()
	total := sent.Load()
	in := w.m.WaitInstance(w.ids["ws"], ready, "every WebSocket connection ended", func(in framework.Instance) bool {
		return in.TCPs == 0 && in.TCPRx >= total && in.TCPTx >= total
	})
	if rx, tx := w.ws.Read.Load(), w.ws.Written.Load(); in.TCPRx != rx || in.TCPTx != tx {
		t.Errorf("instance counted rx %d tx %d; the backend read %d and wrote %d (payload %d each way)", in.TCPRx, in.TCPTx, rx, tx, total)
	}
}

// wsClose does the close handshake: it sends a close frame and reads until
// the server's close frame comes back.
func wsClose(c *websocket.Conn) error {
	if err := c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(5*time.Second)); err != nil {
		return fmt.Errorf("send close: %w", err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _, err := c.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseNormalClosure {
		return fmt.Errorf("after sending close 1000: %v, want the server's close 1000", err)
	}
	return nil
}

// errorPages: 404 naming the host, 401 with WWW-Authenticate, 502 for an
// offline agent and for a refused target (the class only, with a request
// id the log line shares), 504 after read=, 431 for oversize headers.
func (w *httpWorld) errorPages(t *testing.T) {
	t.Parallel()
	c := w.client
	expect := func(what, host, path string, wantStatus int, parts []string, hdr ...string) (http.Header, string) {
		t.Helper()
		status, h, body, err := entryGet(c, w.url(host, path), hdr...)
		if err != nil {
			t.Errorf("%s: GET %s%s: %v", what, host, path, err)
			return nil, ""
		}
		if status != wantStatus {
			t.Errorf("%s: GET %s%s: %d %q, want %d", what, host, path, status, body, wantStatus)
		}
		for _, p := range parts {
			if !strings.Contains(body, p) {
				t.Errorf("%s: GET %s%s: body %q does not say %q", what, host, path, body, p)
			}
		}
		return h, body
	}

	expect("unknown host", "nobody.example.org", "/x", http.StatusNotFound, []string{`"nobody.example.org"`})

	h, _ := expect("auth without credentials", "auth.example.net", "/", http.StatusUnauthorized, nil)
	if a := h.Get("WWW-Authenticate"); !strings.HasPrefix(a, "Basic ") || !strings.Contains(a, "realm=") {
		t.Errorf("401 carries WWW-Authenticate %q, want Basic with a realm", a)
	}
	expect("auth with a wrong password", "auth.example.net", "/", http.StatusUnauthorized, nil,
		"Authorization", basicAuthHeader("alice", "wrong"))
	_, body := expect("auth with the right password", "auth.example.net", "/", http.StatusOK, []string{"backend=exact"},
		"Authorization", basicAuthHeader("alice", "s3cret"))
	if !strings.Contains(body, `auth=""`) {
		t.Errorf("the backend saw the proxy's credentials: %q", body)
	}

	expect("offline agent", "offline.example.net", "/", http.StatusBadGateway, []string{"offline"})
	refused := w.m.Get(w.ids["refused"]).URL
	target := strings.SplitN(strings.TrimPrefix(refused, "http://"), "/", 2)[1]
	target, _, _ = strings.Cut(target, "?")
	// Anonymous users read the class of the failure and a request id; the
	// instance's log line with that id names the target and the reason.
	h, body = expect("refused target", "refused.example.net", "/", http.StatusBadGateway, []string{"refused the connection"})
	id := h.Get("X-Request-Id")
	if id == "" || strings.Contains(body, target) || !strings.Contains(body, "Request id: "+id) {
		t.Errorf("refused target: page %q (X-Request-Id %q) must name the request id and not the target", body, id)
	}
	waitLogLine(t, w.m.Process, ready, "request_id="+id, target, "refused")

	start := time.Now()
	expect("backend hangs, read=300ms", "slow.example.net", "/hang", http.StatusGatewayTimeout, []string{"did not answer in time"})
	if d := time.Since(start); d < 300*time.Millisecond || d > 5*time.Second {
		t.Errorf("504 after %v, want soon after 300ms", d)
	}

	expect("oversize headers", "app.example.com", "/", http.StatusRequestHeaderFieldsTooLarge, nil,
		"X-Big", strings.Repeat("b", 100<<10))
	// The entry still serves after every error.
	expect("after the errors", "app.example.com", "/", http.StatusOK, []string{"backend=exact"})
}

func basicAuthHeader(user, pass string) string {
	r, _ := http.NewRequest(http.MethodGet, "http://x/", nil)
	r.SetBasicAuth(user, pass)
	return r.Header.Get("Authorization")
}

// slowloris: 30 clients dribbling their request heads do not keep others
// from being served promptly.
func (w *httpWorld) slowloris(t *testing.T) {
	t.Parallel()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var slowConns []net.Conn
	for i := range slowClients {
		c, err := net.DialTimeout("tcp", w.entry, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		slowConns = append(slowConns, c)
		if _, err := fmt.Fprintf(c, "GET /slow-%d HTTP/1.1\r\nHost: app.example.com\r\n", i); err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			for j := range 100 { // at most 10s
				select {
				case <-stop:
					return
				case <-time.After(100 * time.Millisecond):
				}
				_ = c.SetWriteDeadline(time.Now().Add(time.Second))
				if _, err := fmt.Fprintf(c, "X-Drip-%d: %d\r\n", j, j); err != nil {
					return
				}
			}
		})
	}
	defer func() {
		close(stop)
		wg.Wait()
		for _, c := range slowConns {
			c.Close()
		}
	}()
	time.Sleep(300 * time.Millisecond) // let the dribbling start
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, w.entry)
		},
		DisableKeepAlives: true, // a new connection each time: accepts are not blocked either
	}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	var worst time.Duration
	start := time.Now()
	for i := range fastRequests {
		t0 := time.Now()
		status, _, body, err := entryGet(c, w.url("app.example.com", fmt.Sprintf("/fast-%d", i)))
		worst = max(worst, time.Since(t0))
		if err != nil || status != http.StatusOK || !strings.HasPrefix(body, "backend=exact") {
			t.Fatalf("request %d while %d clients dribble: %d %q %v", i, slowClients, status, body, err)
		}
	}
	if total := time.Since(start); worst > 2*time.Second || total > 5*time.Second {
		t.Errorf("%d requests took %v (worst %v) while %d clients dribbled their headers", fastRequests, total, worst, slowClients)
	}
	// The dribbling clients got nothing yet: their heads are incomplete.
	for i, sc := range slowConns[:3] {
		_ = sc.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
		if n, err := bufio.NewReader(sc).Peek(1); err == nil {
			t.Errorf("slow client %d got an answer %q before finishing its request head", i, n)
		}
	}
}
