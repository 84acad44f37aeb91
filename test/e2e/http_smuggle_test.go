package e2e

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/burrowproject/burrow/test/e2e/framework"
)

// The request-smuggling corpus: raw payloads sent to an http entry where
// host a.test serves path=/public openly and path=/admin behind
// auth=admin:secret, both on one backend that records every raw byte and
// every request it receives. Whatever a payload tries (an upgrade the
// backend refuses followed by a pipelined request, h2c, CL.TE, TE.CL,
// obfuscated TE, duplicate Content-Length, HTTP/1.0 keep-alive,
// absolute-form URIs, CONNECT, bare LF, line folding), no request reaches
// the backend without /admin's auth check, and none carries the client's
// forged X-Forwarded-For. Each case also states exactly what the client
// gets back and whether its connection is closed. It runs on both handler
// backends: the http handler as a plugin process (the host gates the
// hand-off it receives over the fd link) and linked into the master.

// forged is the X-Forwarded-For every smuggled request carries.
const forged = "6.6.6.6"

// smuggled is the request every payload tries to slip past the proxy.
const smuggled = "GET /admin?c=smuggled HTTP/1.1\r\nHost: a.test\r\nX-Forwarded-For: " + forged + "\r\n\r\n"

// smuggledClose is smuggled asking the entry to close the connection after it.
var smuggledClose = strings.Replace(smuggled, "\r\n\r\n", "\r\nConnection: close\r\n\r\n", 1)

const wsHeaders = "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"

// smuggleCase is one payload and what must come of it.
type smuggleCase struct {
	name    string
	payload string
	want    []int // statuses the client reads, in order
	closed  bool  // the entry closes the connection after them
	// reached: the case's marker (c=NAME) reaches the backend, once.
	reached bool
	check   func(t *testing.T, got framework.RecordedRequest) // of the marked request
}

func smuggleCorpus() []smuggleCase {
	noUpgrade := func(t *testing.T, got framework.RecordedRequest) {
		t.Helper()
		if u := got.Header.Get("Upgrade"); u != "" || strings.Contains(strings.ToLower(got.Header.Get("Connection")), "upgrade") {
			t.Errorf("the backend got Upgrade %q, Connection %q; want the upgrade stripped", u, got.Header.Get("Connection"))
		}
	}
	return []smuggleCase{
		{name: "refused upgrade then pipelined request",
			payload: "GET /public?c=upgrade HTTP/1.1\r\nHost: a.test\r\n" + wsHeaders + "\r\n" + smuggled,
			want:    []int{200}, closed: true, reached: true},
		{name: "refused upgrade, pipelined request in a later write",
			payload: "GET /public?c=upgradelate HTTP/1.1\r\nHost: a.test\r\n" + wsHeaders + "\r\n\x00" + smuggled,
			want:    []int{200}, closed: true, reached: true},
		{name: "h2c upgrade",
			payload: "GET /public?c=h2c HTTP/1.1\r\nHost: a.test\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n" +
				"HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n" + smuggledClose,
			want: []int{200, 401}, closed: true, reached: true, check: noUpgrade},
		{name: "websocket upgrade with POST",
			payload: "POST /public?c=wspost HTTP/1.1\r\nHost: a.test\r\nContent-Length: 0\r\n" + wsHeaders + "Connection: close\r\n\r\n" + smuggled,
			want:    []int{200}, closed: true, reached: true, check: noUpgrade},
		{name: "websocket upgrade to the auth path without credentials",
			payload: "GET /admin?c=wsadmin HTTP/1.1\r\nHost: a.test\r\n" + wsHeaders + "\r\n" + smuggledClose,
			want:    []int{401, 401}, closed: true},
		{name: "CL.TE",
			payload: "POST /public?c=clte HTTP/1.1\r\nHost: a.test\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled,
			want:    []int{400}, closed: true},
		{name: "TE.CL",
			payload: "POST /public?c=tecl HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n" +
				fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(smuggled), smuggled),
			want: []int{400}, closed: true},
		{name: "TE.TE, second value",
			payload: "POST /public?c=tete HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: cow\r\n\r\n0\r\n\r\n" + smuggled,
			want:    []int{400}, closed: true},
		{name: "TE.TE, list",
			payload: "POST /public?c=telist HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: identity, chunked\r\n\r\n0\r\n\r\n" + smuggled,
			want:    []int{400}, closed: true},
		{name: "TE.TE, obfuscated value",
			payload: "POST /public?c=teobf HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: xchunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n" + smuggled,
			want:    []int{400}, closed: true},
		{name: "TE.TE, space before the colon",
			payload: "POST /public?c=tespace HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding : chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n" + smuggled,
			want:    []int{400}, closed: true},
		{name: "duplicate Content-Length, equal",
			payload: "POST /public?c=dupcl HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello" + smuggled,
			want:    []int{400}, closed: true},
		{name: "duplicate Content-Length, different",
			payload: "POST /public?c=dupcl2 HTTP/1.1\r\nHost: a.test\r\nContent-Length: 0\r\nContent-Length: 80\r\n\r\n" + smuggled,
			want:    []int{400}, closed: true},
		{name: "Content-Length list",
			payload: "POST /public?c=cllist HTTP/1.1\r\nHost: a.test\r\nContent-Length: 0, 80\r\n\r\n" + smuggled,
			want:    []int{400}, closed: true},
		{name: "Content-Length with a sign",
			payload: "POST /public?c=clsign HTTP/1.1\r\nHost: a.test\r\nContent-Length: +0\r\n\r\n" + smuggled,
			want:    []int{400}, closed: true},
		{name: "Transfer-Encoding in HTTP/1.0",
			payload: "POST /public?c=te10 HTTP/1.0\r\nHost: a.test\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n" +
				fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(smuggled), smuggled),
			want: []int{400}, closed: true},
		{name: "HTTP/1.0 keep-alive",
			payload: "GET /public?c=ka10 HTTP/1.0\r\nHost: a.test\r\nConnection: keep-alive\r\n\r\n" + strings.Replace(smuggled, "HTTP/1.1", "HTTP/1.0", 1),
			want:    []int{200, 401}, closed: true, reached: true},
		{name: "HTTP/1.0 keep-alive upgrade",
			payload: "GET /public?c=up10 HTTP/1.0\r\nHost: a.test\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n" +
				strings.Replace(smuggled, "HTTP/1.1", "HTTP/1.0", 1),
			want: []int{200, 401}, closed: true, reached: true, check: noUpgrade},
		{name: "absolute-form URI naming another host",
			payload: "GET http://a.test/admin?c=absother HTTP/1.1\r\nHost: b.test\r\n\r\n" + smuggled,
			want:    []int{400}, closed: true},
		{name: "absolute-form URI naming the Host",
			payload: "GET http://a.test/public?c=absok HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n" + smuggled,
			want:    []int{200}, closed: true, reached: true},
		{name: "CONNECT",
			payload: "CONNECT a.test:80 HTTP/1.1\r\nHost: a.test:80\r\n\r\n" + smuggled,
			want:    []int{405}, closed: true},
		{name: "bare LF",
			payload: "GET /public?c=lf HTTP/1.1\nHost: a.test\n\n" + smuggled,
			want:    []int{400}, closed: true},
		{name: "obsolete line folding",
			payload: "GET /public?c=fold HTTP/1.1\r\nHost: a.test\r\nX-Folded: a\r\n b\r\n\r\n" + smuggled,
			want:    []int{400}, closed: true},
		{name: "chunked body then pipelined request",
			payload: "POST /public?c=chunked HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n" + smuggled,
			want:    []int{200}, closed: true, reached: true,
			check: func(t *testing.T, got framework.RecordedRequest) {
				if got.Body != "hello" {
					t.Errorf("the backend got body %q, want hello", got.Body)
				}
			}},
		{name: "forged X-Forwarded-For with the right credentials",
			payload: "GET /admin?c=authok HTTP/1.1\r\nHost: a.test\r\nAuthorization: Basic YWRtaW46c2VjcmV0\r\nX-Forwarded-For: " + forged +
				"\r\nConnection: close\r\n\r\n",
			want: []int{200}, closed: true, reached: true,
			check: func(t *testing.T, got framework.RecordedRequest) {
				if xff := got.Header.Get("X-Forwarded-For"); xff != "127.0.0.1" {
					t.Errorf("the backend got X-Forwarded-For %q, want the proxy's 127.0.0.1", xff)
				}
			}},
	}
}

// smuggleExchange sends payload on a new connection to entry (a NUL byte
// in it splits it into two writes 100ms apart) and reads responses until
// the connection closes or 5s pass.
func smuggleExchange(entry, payload string, https bool) (statuses []int, closed bool, err error) {
	var c net.Conn
	d := &net.Dialer{Timeout: 5 * time.Second}
	if https {
		c, err = tls.DialWithDialer(d, "tcp", entry, &tls.Config{ServerName: "a.test", InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
	} else {
		c, err = d.Dial("tcp", entry)
	}
	if err != nil {
		return nil, false, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	first, rest, split := strings.Cut(payload, "\x00")
	if _, err := io.WriteString(c, first); err != nil {
		return nil, false, err
	}
	if split {
		time.Sleep(100 * time.Millisecond)
		if _, err := io.WriteString(c, rest); err != nil {
			return nil, false, err
		}
	}
	br := bufio.NewReader(c)
	for range 10 {
		_, err := br.Peek(1)
		if errors.Is(err, io.EOF) {
			return statuses, true, nil
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return statuses, false, nil
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return statuses, false, fmt.Errorf("after %v: %w", statuses, err)
		}
		statuses = append(statuses, resp.StatusCode)
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil {
			return statuses, false, fmt.Errorf("body of response %d: %w", len(statuses), err)
		}
	}
	return statuses, false, errors.New("more than 10 responses")
}

// The corpus runs on a plain entry with both handler backends, and on an
// HTTPS entry in a plugin process, where the upgrade hand-off of a TLS
// connection (no descriptor to pass) is gated inside the plugin.
func TestHTTPSmuggling(t *testing.T) {
	t.Parallel()
	for _, v := range []struct {
		name, backend string
		https         bool
	}{{"plugin", "plugin", false}, {"inprocess", "inprocess", false}, {"plugin https", "plugin", true}} {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			smuggleOn(t, v.backend, v.https)
		})
	}
}

func smuggleOn(t *testing.T, backend string, https bool) {
	f := framework.New(t)
	var m *framework.Master
	if backend == "plugin" {
		m = startPluginMaster(t, f, "master", framework.PluginDir(t), "http")
	} else {
		m = f.Master("master", "handlers=inprocess")
	}
	key := newKey(t)
	addr, rec := f.RecordingHTTPServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = fmt.Fprintf(w, "backend got %s", r.RequestURI) // ignores every upgrade
	}))
	ws, wsTraffic := f.WSEchoCounted()
	entry := framework.Addr(f.Port())
	ids := map[string]string{}
	for alias, q := range map[string]string{"public": "host=a.test&path=/public", "admin": "host=a.test&path=/admin&auth=admin:secret", "ws": "host=ws.test"} {
		if https {
			q += "&tls=1"
		}
		target := addr
		if alias == "ws" {
			target = ws
		}
		ids[alias] = m.Create(fmt.Sprintf("http://%s/%s?agent=%s&%s", entry, target, key, q), alias).ID
	}
	m.StartAgent("agent", key, "allow="+addr+","+ws)
	for _, id := range ids {
		m.WaitInstance(id, ready, "running with its agent", func(in framework.Instance) bool {
			return in.Status == "running" && in.Pool == 1
		})
	}
	for _, c := range smuggleCorpus() {
		statuses, closed, err := smuggleExchange(entry, c.payload, https)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if fmt.Sprint(statuses) != fmt.Sprint(c.want) || closed != c.closed {
			t.Errorf("%s: the client got %v (closed %v), want %v (closed %v)", c.name, statuses, closed, c.want, c.closed)
		}
	}
	// A plain request after the corpus: the entry still serves, and the
	// backend has answered everything it was sent.
	if statuses, _, err := smuggleExchange(entry, "GET /public?c=after HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n", https); err != nil || fmt.Sprint(statuses) != "[200]" {
		t.Fatalf("plain request after the corpus: %v %v", statuses, err)
	}

	// A real WebSocket on the same entry switches, echoes, and is counted
	// exactly (handshake and frames) once it has closed.
	wsURL := "ws://ws.test/echo"
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second, NetDialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var nd net.Dialer
		return nd.DialContext(ctx, network, entry)
	}}
	if https {
		wsURL = "wss://ws.test/echo"
		d.TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
	}
	wc, _, err := d.Dial(wsURL, nil)
	if err != nil {
		t.Fatalf("websocket through the entry: %v", err)
	}
	if err := wsEcho(wc, websocket.BinaryMessage, framework.RandomBytes(64<<10)); err != nil {
		t.Error(err)
	}
	if err := wsClose(wc); err != nil {
		t.Error(err)
	}
	_ = wc.Close()
	in := m.WaitInstance(ids["ws"], ready, "its WebSocket ended", func(in framework.Instance) bool {
		return in.TCPs == 0 && in.TCPRx >= 64<<10 && in.TCPTx >= 64<<10
	})
	if rx, tx := wsTraffic.Read.Load(), wsTraffic.Written.Load(); in.TCPRx != rx || in.TCPTx != tx {
		t.Errorf("instance counted rx %d tx %d; the WebSocket backend read %d and wrote %d", in.TCPRx, in.TCPTx, rx, tx)
	}

	reqs := rec.Requests()
	byCase := map[string][]framework.RecordedRequest{}
	for _, r := range reqs {
		if strings.HasPrefix(r.URI, "/admin") && !strings.Contains(r.URI, "c=authok") {
			t.Errorf("the backend got %s %s without the auth check", r.Method, r.URI)
		}
		if strings.Contains(strings.Join(r.Header.Values("X-Forwarded-For"), ","), forged) {
			t.Errorf("the backend got %s %s with the forged X-Forwarded-For %v", r.Method, r.URI, r.Header.Values("X-Forwarded-For"))
		}
		_, q, _ := strings.Cut(r.URI, "c=")
		byCase[q] = append(byCase[q], r)
	}
	for _, raw := range rec.Raw() {
		if strings.Contains(raw, forged) || strings.Contains(raw, "c=smuggled") {
			t.Errorf("raw bytes at the backend carry a smuggled request:\n%q", raw)
		}
	}
	for _, c := range smuggleCorpus() {
		marker := c.payload[strings.Index(c.payload, "c=")+2:]
		marker = marker[:strings.IndexAny(marker, " &")]
		got := byCase[marker]
		switch {
		case !c.reached && len(got) > 0:
			t.Errorf("%s: the backend got %d requests (%s %s), want none", c.name, len(got), got[0].Method, got[0].URI)
		case c.reached && len(got) != 1:
			t.Errorf("%s: the backend got %d requests, want 1", c.name, len(got))
		case c.reached && c.check != nil:
			t.Run(c.name, func(t *testing.T) { c.check(t, got[0]) })
		}
	}
	if t.Failed() && os.Getenv("BURROW_E2E_DUMP") != "" {
		for i, raw := range rec.Raw() {
			t.Logf("backend connection %d:\n%s", i, raw)
		}
	}
}
