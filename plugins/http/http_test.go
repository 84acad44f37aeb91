package http

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/burrowproject/burrow/internal/testutil"
)

// TestRouting runs two agents and three hosts on one entry listener
// (exact, wildcard, path), once with the host handing every instance the
// same listener object and once with a descriptor of its own each.
func TestRouting(t *testing.T) {
	t.Parallel()
	for _, handles := range []bool{false, true} {
		t.Run(fmt.Sprintf("handles=%v", handles), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.sh.handles = handles
			e.agent("k1")
			e.agent("k2")
			a, w, p := newBackend(t, whoami("A")), newBackend(t, whoami("W")), newBackend(t, whoami("P"))
			r := newBackend(t, whoami("R"))
			listen := e.listen()
			e.start("exact", listen, "k1", []string{a.addr}, map[string]string{"host": "a.example.com"})
			e.start("wild", listen, "k2", []string{w.addr}, map[string]string{"host": "*.example.com"})
			e.start("path", listen, "k2", []string{p.addr}, map[string]string{"host": "a.example.com", "path": "/api"})
			e.start("rewrite", listen, "k1", []string{r.addr}, map[string]string{"host": "r.example.org", "hostrewrite": "internal.lan:8080"})
			c := userClient(t, listen)

			cases := []struct{ host, path, want string }{
				{"a.example.com", "/", "A / host=a.example.com "},
				{"A.EXAMPLE.COM:1234", "/x", "A /x host=A.EXAMPLE.COM:1234 "},
				{"b.example.com", "/", "W / host=b.example.com "},
				{"deep.b.example.com", "/api", "W /api "},
				{"a.example.com", "/api", "P /api "},
				{"a.example.com", "/api/v1/users", "P /api/v1/users "},
				{"a.example.com", "/apiary", "A /apiary "},
				{"r.example.org", "/z", "R /z host=internal.lan:8080 "},
			}
			for _, tc := range cases {
				status, body, _ := get(t, c, tc.host, tc.path, "X-Forwarded-For", "6.6.6.6", "X-Real-Ip", "6.6.6.6", "X-Forwarded-Host", "evil")
				if status != 200 || !strings.HasPrefix(body, tc.want) {
					t.Errorf("%s%s: %d %q, want 200 %q...", tc.host, tc.path, status, body, tc.want)
				}
				want := fmt.Sprintf("xff=127.0.0.1 xfh=%s xfp=http xri=127.0.0.1", tc.host)
				if !strings.Contains(body, want) {
					t.Errorf("%s%s: forwarding headers in %q, want %q", tc.host, tc.path, body, want)
				}
			}
			status, body, _ := get(t, c, "nobody.example.net", "/")
			if status != 404 || !strings.Contains(body, `"nobody.example.net"`) {
				t.Errorf("unknown host: %d %q", status, body)
			}
		})
	}
}

func TestStartRefusesConflictsAndMixing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	listen := e.listen()
	e.start("one", listen, "k", []string{"127.0.0.1:1"}, map[string]string{"host": "a.example.com", "path": "/x"})
	_, err := e.tryStart("two", listen, "k", []string{"127.0.0.1:1"}, map[string]string{"host": "A.example.com", "path": "/x/"})
	if err == nil || !strings.Contains(err.Error(), "already served by instance one") {
		t.Errorf("conflict: err = %v", err)
	}
	// The error names the instance holding the route, whichever id sorts
	// first; an instance listing a host twice is told so.
	e.start("zz", listen, "k", []string{"127.0.0.1:1"}, map[string]string{"host": "c.example.com"})
	_, err = e.tryStart("aa", listen, "k", []string{"127.0.0.1:1"}, map[string]string{"host": "c.example.com"})
	if err == nil || !strings.Contains(err.Error(), "already served by instance zz") {
		t.Errorf("conflict with an instance whose id sorts later: err = %v", err)
	}
	_, err = e.tryStart("twice", listen, "k", []string{"127.0.0.1:1"}, map[string]string{"host": "d.example.com,D.example.com"})
	if err == nil || !strings.Contains(err.Error(), "instance twice names host d.example.com path / twice") {
		t.Errorf("host listed twice: err = %v", err)
	}
	_, err = e.tryStart("tls", listen, "k", []string{"127.0.0.1:1"}, map[string]string{"host": "b.example.com", "tls": "1"})
	if err == nil || !strings.Contains(err.Error(), "serves plain HTTP") {
		t.Errorf("mixing: err = %v", err)
	}
	_, err = e.tryStart("nohost", listen, "k", nil, map[string]string{})
	if err == nil || !strings.Contains(err.Error(), "host= is required") {
		t.Errorf("no host: err = %v", err)
	}
	// The refused instances left the entry alone.
	e.start("three", listen, "k", []string{"127.0.0.1:1"}, map[string]string{"host": "a.example.com", "path": "/y"})
}

// TestKeepAliveReuse checks that one tunnel stream serves many requests,
// and that several targets are used in turn, skipping a failing one.
func TestKeepAliveReuse(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.agent("k")
	b := newBackend(t, whoami("B"))
	listen := e.listen()
	meter := e.start("ka", listen, "k", []string{b.addr}, map[string]string{"host": "ka.test"})
	c := userClient(t, listen)
	for i := range 50 {
		if status, body, _ := get(t, c, "ka.test", fmt.Sprintf("/%d", i)); status != 200 || !strings.HasPrefix(body, "B ") {
			t.Fatalf("request %d: %d %q", i, status, body)
		}
	}
	if n := b.conns.Load(); n != 1 {
		t.Errorf("backend saw %d connections for 50 sequential keep-alive requests, want 1", n)
	}
	if n := meter.Snapshot().TCPs; n != 1 {
		t.Errorf("instance holds %d links, want 1", n)
	}

	// Round robin over two targets, then one of them goes away.
	b1, b2 := newBackend(t, whoami("B1")), newBackend(t, whoami("B2"))
	e.start("rr", listen, "k", []string{b1.addr, b2.addr}, map[string]string{"host": "rr.test"})
	seen := map[string]int{}
	for range 10 {
		_, body, _ := get(t, c, "rr.test", "/")
		seen[strings.Fields(body)[0]]++
	}
	if seen["B1"] == 0 || seen["B2"] == 0 {
		t.Errorf("round robin over two targets served %v", seen)
	}
	b2.Close()
	c.CloseIdleConnections() // force new upstream requests to pick again
	var failed int
	for range 10 {
		status, body, _ := get(t, c, "rr.test", "/")
		switch {
		case status == 502:
			failed++
			if !strings.Contains(body, "refused") {
				t.Errorf("502 without the class of failure: %q", body)
			}
		case !strings.HasPrefix(body, "B1 "):
			t.Errorf("got %d %q", status, body)
		}
	}
	if failed > 1 {
		t.Errorf("%d requests failed on the dead target; it should be skipped after the first", failed)
	}
}

// TestBulk moves 100 MiB each way and checks the bytes and the counters.
func TestBulk(t *testing.T) {
	t.Parallel()
	const size = 100 << 20
	e := newEnv(t)
	e.agent("k")
	b := newBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet:
			w.Header().Set("Content-Length", fmt.Sprint(size))
			_, _ = io.Copy(w, io.LimitReader(newPattern(), size))
		case http.MethodPut:
			h := sha256.New()
			n, err := io.Copy(h, r.Body)
			if err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
			fmt.Fprintf(w, "%d %x", n, h.Sum(nil))
		}
	}))
	listen := e.listen()
	meter := e.start("bulk", listen, "k", []string{b.addr}, map[string]string{"host": "bulk.test"})
	c := userClient(t, listen)
	want := sha256.New()
	_, _ = io.Copy(want, io.LimitReader(newPattern(), size))
	wantSum := hex.EncodeToString(want.Sum(nil))

	res, err := c.Get("http://bulk.test/down")
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	n, err := io.Copy(h, res.Body)
	res.Body.Close()
	if err != nil || n != size || hex.EncodeToString(h.Sum(nil)) != wantSum {
		t.Fatalf("download: %d bytes, err %v, sum match %v", n, err, hex.EncodeToString(h.Sum(nil)) == wantSum)
	}
	req, _ := http.NewRequest(http.MethodPut, "http://bulk.test/up", io.LimitReader(newPattern(), size))
	req.ContentLength = size
	res, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if string(body) != fmt.Sprintf("%d %s", size, wantSum) {
		t.Fatalf("upload: backend got %q", body)
	}
	s := meter.Snapshot()
	if s.TCPRx < size || s.TCPTx < size {
		t.Errorf("counters rx=%d tx=%d, want both >= %d", s.TCPRx, s.TCPTx, size)
	}
	c.CloseIdleConnections()
	e.stop("bulk", 0)
	testutil.Eventually(t, 5*time.Second, 10*time.Millisecond, func() bool {
		s := meter.Snapshot()
		return s.TCPRx == b.read.Load() && s.TCPTx == b.written.Load()
	}, "instance counters equal the bytes the backend read and wrote")
}

// pattern is a deterministic byte stream that does not repeat on any
// power-of-two period.
type pattern struct{ off int }

var patternBlock = func() []byte {
	b := make([]byte, 1<<20+7)
	x := uint32(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}()

func newPattern() *pattern { return &pattern{} }

func (p *pattern) Read(b []byte) (int, error) {
	n := copy(b, patternBlock[p.off:])
	p.off = (p.off + n) % len(patternBlock)
	return n, nil
}

func TestErrorPages(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.agent("k")
	e.keys.Add("offline")
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	hang := newBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	ok := newBackend(t, whoami("OK"))
	refused := "127.0.0.1:" + fmt.Sprint(testutil.FreePort(t))
	listen := e.listen()
	e.start("auth", listen, "k", []string{ok.addr}, map[string]string{"host": "auth.test", "auth": "alice:s3cret"})
	e.start("offline", listen, "offline", []string{ok.addr}, map[string]string{"host": "offline.test"})
	e.start("refused", listen, "k", []string{refused}, map[string]string{"host": "refused.test"})
	e.start("slow", listen, "k", []string{hang.addr}, map[string]string{"host": "slow.test", "read": "300ms"})
	c := userClient(t, listen)

	status, body, hdr := get(t, c, "auth.test", "/")
	if status != 401 || !strings.Contains(hdr.Get("WWW-Authenticate"), "Basic") {
		t.Errorf("no credentials: %d %q %v", status, body, hdr)
	}
	if status, _, _ = get(t, c, "auth.test", "/", "Authorization", "Basic YWxpY2U6d3Jvbmc="); status != 401 { // alice:wrong
		t.Errorf("wrong password: %d", status)
	}
	status, body, _ = get(t, c, "auth.test", "/", "Authorization", "Basic YWxpY2U6czNjcmV0") // alice:s3cret
	if status != 200 || !strings.HasPrefix(body, "OK ") || !strings.HasSuffix(body, "auth=") {
		t.Errorf("right password: %d %q (the proxy's credentials must not reach the backend)", status, body)
	}

	status, body, _ = get(t, c, "offline.test", "/")
	if status != 502 || !strings.Contains(body, "agent") || !strings.Contains(body, "offline") {
		t.Errorf("agent offline: %d %q", status, body)
	}
	// Users read the class of the failure and a request id; the log line
	// with that id has the detail (target, the agent's dial error).
	status, body, hdr = get(t, c, "refused.test", "/")
	id := hdr.Get("X-Request-Id")
	if status != 502 || !strings.Contains(body, "refused the connection") || strings.Contains(body, refused) ||
		strings.Contains(body, "dial") || id == "" || !strings.Contains(body, "Request id: "+id) {
		t.Errorf("target refused: %d %q %v", status, body, hdr)
	}
	if line, ok := logLineWith(e.logs.String(), "request_id="+id); !ok || !strings.Contains(line, refused) || !strings.Contains(line, "connection refused") {
		t.Errorf("no log line with request id %s, the target and the agent's reason: %q", id, line)
	}
	start := time.Now()
	status, body, hdr = get(t, c, "slow.test", "/")
	if status != 504 || !strings.Contains(body, "did not answer in time") || hdr.Get("X-Request-Id") == "" {
		t.Errorf("backend hangs: %d %q", status, body)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("504 took %v with read=300ms", el)
	}
	for _, resp := range []string{body} {
		if !strings.HasPrefix(resp, "504 Gateway Timeout\n\n") {
			t.Errorf("page format: %q", resp)
		}
	}
}

// TestClientDisconnectsMidBody: a user leaving in the middle of a download
// or an upload frees the instance's tunnel stream and harms nobody else.
func TestClientDisconnectsMidBody(t *testing.T) {
	t.Parallel()
	const size = 64 << 20
	e := newEnv(t)
	e.agent("k")
	var uploadErrs atomic.Int64
	b := newBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/down":
			// The deadline bounds the agent-side hang described in
			// TestAgentLinkEndsWhenProxyHangsUp.
			_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(3 * time.Second))
			w.Header().Set("Content-Length", fmt.Sprint(size))
			_, _ = io.Copy(w, io.LimitReader(newPattern(), size))
		case "/up":
			if _, err := io.Copy(io.Discard, r.Body); err != nil {
				uploadErrs.Add(1)
			}
		default:
			_, _ = io.WriteString(w, "fine")
		}
	}))
	listen := e.listen()
	meter := e.start("mid", listen, "k", []string{b.addr}, map[string]string{"host": "mid.test"})

	// Download: read 1 MiB, then hang up.
	conn, err := net.Dial("tcp", listen)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "GET /down HTTP/1.1\r\nHost: mid.test\r\n\r\n")
	if _, err := io.CopyN(io.Discard, conn, 1<<20); err != nil {
		t.Fatal(err)
	}
	conn.Close()

	// Upload: announce 64 MiB, send 1 MiB, hang up.
	conn, err = net.Dial("tcp", listen)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "PUT /up HTTP/1.1\r\nHost: mid.test\r\nContent-Length: %d\r\n\r\n", size)
	if _, err := io.CopyN(conn, newPattern(), 1<<20); err != nil {
		t.Fatal(err)
	}
	conn.Close()

	// The backend is not left waiting for the rest of the body: either its
	// handler saw the upload cut short, or the abort reset the connection
	// before the request was parsed; either way its connection closes.
	testutil.Eventually(t, 5*time.Second, 10*time.Millisecond, func() bool { return b.open.Load() == 0 }, "the backend's connections are closed")
	if n := uploadErrs.Load(); n > 1 {
		t.Errorf("backend saw %d cut-short uploads, want at most the one", n)
	}
	testutil.Eventually(t, 5*time.Second, 10*time.Millisecond, func() bool {
		return meter.Snapshot().TCPs == 0
	}, "both tunnel streams are released by the proxy")
	c := userClient(t, listen)
	if status, body, _ := get(t, c, "mid.test", "/"); status != 200 || body != "fine" {
		t.Errorf("after the disconnects: %d %q", status, body)
	}
}

// TestAgentLinkEndsWhenProxyHangsUp: when the server side closes a link
// whose response the user abandoned (the proxy's Transport drops that
// upstream connection), the bridge aborts it on the control stream and the
// agent releases the backend promptly, instead of taking the FIN for a
// half-close and writing into a stream nobody reads.
func TestAgentLinkEndsWhenProxyHangsUp(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.agent("k")
	writeFailed := make(chan time.Duration, 1)
	b := newBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(10 * time.Second))
		_, _ = io.Copy(w, io.LimitReader(newPattern(), 64<<20))
		writeFailed <- time.Since(start)
	}))
	listen := e.listen()
	e.start("hang", listen, "k", []string{b.addr}, map[string]string{"host": "hang.test"})
	conn, err := net.Dial("tcp", listen)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: hang.test\r\n\r\n")
	_, _ = io.CopyN(io.Discard, conn, 1<<20)
	conn.Close()
	if d := <-writeFailed; d > 5*time.Second {
		t.Errorf("the backend's write ended only after %v (its own deadline), not when the proxy hung up", d)
	}
}

// TestSlowloris: clients that dribble their request head are cut off at
// the read-header timeout while everybody else is served.
func TestSlowloris(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.h.lim.readHeader = 500 * time.Millisecond
	e.agent("k")
	b := newBackend(t, whoami("B"))
	listen := e.listen()
	e.start("sl", listen, "k", []string{b.addr}, map[string]string{"host": "sl.test"})

	const slow = 50
	var wg sync.WaitGroup
	var cut atomic.Int64
	for range slow {
		conn, err := net.Dial("tcp", listen)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer conn.Close()
			_, _ = io.WriteString(conn, "GET / HTTP/1.1\r\nHost: sl.test\r\n")
			// One header byte every 100ms, never finishing the head.
			for range 50 {
				time.Sleep(100 * time.Millisecond)
				if _, err := io.WriteString(conn, "X"); err != nil {
					cut.Add(1)
					return
				}
				_ = conn.SetReadDeadline(time.Now().Add(time.Millisecond))
				if _, err := conn.Read(make([]byte, 1)); err != nil && !isTimeout(err) {
					cut.Add(1)
					return
				}
			}
		}()
	}
	c := userClient(t, listen)
	deadline := time.Now().Add(time.Second)
	for n := 0; time.Now().Before(deadline); n++ {
		start := time.Now()
		if status, _, _ := get(t, c, "sl.test", "/"); status != 200 {
			t.Fatalf("request %d during the attack: %d", n, status)
		}
		if el := time.Since(start); el > 1500*time.Millisecond {
			t.Errorf("request %d took %v during the attack", n, el)
		}
	}
	wg.Wait()
	if cut.Load() != slow {
		t.Errorf("%d of %d slow clients were cut off", cut.Load(), slow)
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

func TestOversizeHeaders(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.agent("k")
	b := newBackend(t, whoami("B"))
	listen := e.listen()
	e.start("big", listen, "k", []string{b.addr}, map[string]string{"host": "big.test"})
	c := userClient(t, listen)
	if status, _, _ := get(t, c, "big.test", "/", "X-Big", strings.Repeat("x", 32<<10)); status != 200 {
		t.Errorf("32 KiB header: %d", status)
	}
	if status, _, _ := get(t, c, "big.test", "/", "X-Big", strings.Repeat("x", 100<<10)); status != 431 {
		t.Errorf("100 KiB header: %d, want 431", status)
	}
}

// TestLiveAddRemove adds and removes instances on a busy entry: requests
// of the other instances in flight finish intact, a stopped instance's
// requests finish within its grace, and the last instance stops the entry.
func TestLiveAddRemove(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.agent("k")
	streaming := make(chan string, 8)
	stream := func(name string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/stream" {
				_, _ = io.WriteString(w, name)
				return
			}
			streaming <- name
			for i := range 20 {
				fmt.Fprintf(w, "%s-%02d\n", name, i)
				w.(http.Flusher).Flush()
				time.Sleep(25 * time.Millisecond)
			}
		})
	}
	a, b, c := newBackend(t, stream("A")), newBackend(t, stream("B")), newBackend(t, stream("C"))
	listen := e.listen()
	e.start("a", listen, "k", []string{a.addr}, map[string]string{"host": "a.test"})
	e.start("b", listen, "k", []string{b.addr}, map[string]string{"host": "b.test"})
	cl := userClient(t, listen)

	var wg sync.WaitGroup
	results := make([]string, 2)
	for i, host := range []string{"a.test", "b.test"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := cl.Get("http://" + host + "/stream")
			if err != nil {
				results[i] = err.Error()
				return
			}
			defer res.Body.Close()
			body, err := io.ReadAll(bufio.NewReader(res.Body))
			results[i] = string(body)
			if err != nil {
				results[i] += " error: " + err.Error()
			}
		}()
	}
	<-streaming
	<-streaming
	e.start("c", listen, "k", []string{c.addr}, map[string]string{"host": "c.test"})
	if status, body, _ := get(t, cl, "c.test", "/"); status != 200 || body != "C" {
		t.Errorf("instance added live: %d %q", status, body)
	}
	e.stop("b", 5*time.Second) // b's stream (about 500ms) finishes within the grace
	if status, _, _ := get(t, cl, "b.test", "/"); status != 404 {
		t.Errorf("stopped instance: %d, want 404", status)
	}
	wg.Wait()
	for i, name := range []string{"A", "B"} {
		var want strings.Builder
		for j := range 20 {
			fmt.Fprintf(&want, "%s-%02d\n", name, j)
		}
		if results[i] != want.String() {
			t.Errorf("stream of %s: %q", name, results[i])
		}
	}

	// A stop whose grace ends cuts the instance's own requests, not others'.
	res, err := cl.Get("http://a.test/stream")
	if err != nil {
		t.Fatal(err)
	}
	<-streaming
	e.stop("a", 50*time.Millisecond)
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err == nil && strings.Count(string(body), "\n") == 20 {
		t.Errorf("stream of a stopped instance went on past its grace: %q", body)
	}
	if status, body, _ := get(t, cl, "c.test", "/"); status != 200 || body != "C" {
		t.Errorf("after stopping a: %d %q", status, body)
	}

	e.stop("c", 0)
	cl.CloseIdleConnections()
	if conn, err := net.DialTimeout("tcp", listen, time.Second); err == nil {
		conn.Close()
		t.Errorf("entry %s still accepts after its last instance stopped", listen)
	}
	// And the address can serve again.
	e.start("again", listen, "k", []string{a.addr}, map[string]string{"host": "again.test"})
	if status, body, _ := get(t, userClient(t, listen), "again.test", "/"); status != 200 || body != "A" {
		t.Errorf("restarted entry: %d %q", status, body)
	}
}

// TestRejoinWhileDraining: an instance started on an address whose last
// instance is still draining joins the same entry instead of racing it.
func TestRejoinWhileDraining(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.agent("k")
	arrived := make(chan struct{}, 1)
	slow := newBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		time.Sleep(300 * time.Millisecond)
		_, _ = io.WriteString(w, "slow")
	}))
	fast := newBackend(t, whoami("F"))
	listen := e.listen()
	e.start("old", listen, "k", []string{slow.addr}, map[string]string{"host": "old.test"})
	old := e.h.insts["old"]
	c := userClient(t, listen)
	got := make(chan string, 1)
	go func() {
		res, err := c.Get("http://old.test/")
		if err != nil {
			got <- err.Error()
			return
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		got <- string(b)
	}()
	<-arrived
	stopped := make(chan struct{})
	go func() { defer close(stopped); e.stop("old", 5*time.Second) }()
	testutil.Eventually(t, 5*time.Second, time.Millisecond, func() bool {
		old.mu.Lock()
		defer old.mu.Unlock()
		return old.stopping
	}, "old instance drains")
	e.start("new", listen, "k", []string{fast.addr}, map[string]string{"host": "new.test"})
	if body := <-got; body != "slow" {
		t.Errorf("draining request: %q", body)
	}
	<-stopped
	if status, body, _ := get(t, c, "new.test", "/"); status != 200 || !strings.HasPrefix(body, "F ") {
		t.Errorf("instance started during the drain: %d %q", status, body)
	}
}

// logLineWith returns the first line of logs containing part.
func logLineWith(logs, part string) (string, bool) {
	for line := range strings.SplitSeq(logs, "\n") {
		if strings.Contains(line, part) {
			return line, true
		}
	}
	return "", false
}

// TestStopEndsWaitingRequests: a request still waiting for its backend when
// Stop's grace ends gets a 503 at once, and Stop does not wait for it until
// its force limit.
func TestStopEndsWaitingRequests(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.agent("k")
	arrived := make(chan struct{}, 1)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	hang := newBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	listen := e.listen()
	e.start("hang", listen, "k", []string{hang.addr}, map[string]string{"host": "hang.test"})
	c := userClient(t, listen)
	type answer struct {
		status int
		body   string
	}
	got := make(chan answer, 1)
	go func() {
		res, err := c.Get("http://hang.test/")
		if err != nil {
			got <- answer{body: err.Error()}
			return
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		got <- answer{res.StatusCode, string(b)}
	}()
	<-arrived
	start := time.Now()
	e.stop("hang", 50*time.Millisecond)
	if el := time.Since(start); el >= e.h.lim.forceWait {
		t.Errorf("stop took %v: it waited for the request until its force limit", el)
	}
	select {
	case a := <-got:
		if a.status != http.StatusServiceUnavailable || !strings.Contains(a.body, "stopped") {
			t.Errorf("request cut by the stop: %d %q, want 503", a.status, a.body)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the request still waits after the instance stopped")
	}
}
