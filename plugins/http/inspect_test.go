package http

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/burrowproject/burrow/internal/testutil"
	"github.com/burrowproject/burrow/plugins/sdk"
	"github.com/burrowproject/burrow/server/host"
)

// records is a host.RecordSink that keeps what it is given.
type records struct {
	mu  sync.Mutex
	got []*sdk.Exchange
}

func (r *records) Record(ex *sdk.Exchange) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, ex)
}

func (r *records) Dropped(string, uint64) {}

func (r *records) list() []*sdk.Exchange {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*sdk.Exchange(nil), r.got...)
}

// wait returns the records once there are n.
func (r *records) wait(t *testing.T, n int) []*sdk.Exchange {
	t.Helper()
	testutil.Eventually(t, 5*time.Second, 5*time.Millisecond, func() bool { return len(r.list()) >= n }, "records arrive")
	return r.list()
}

var _ host.RecordSink = (*records)(nil)

// inspectEnv is an env whose host records into the returned sink, with a
// backend that echoes the request body, sets a cookie and answers 20 KiB
// for /big.
func inspectEnv(t *testing.T, mode string) (*env, *records, *http.Client, *backend) {
	e := newEnv(t)
	rec := &records{}
	e.records = rec
	e.agent("k")
	be := newBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(sdk.ReplayHeader) != "" {
			t.Errorf("the replay mark reached the backend")
		}
		w.Header().Set("Set-Cookie", "sid=s3cr3t; Path=/; HttpOnly")
		w.Header().Set("X-Backend", "yes")
		if r.URL.Path == "/big" {
			_, _ = w.Write(bytes.Repeat([]byte("b"), 20<<10))
			return
		}
		body, _ := io.ReadAll(r.Body)
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write(body)
	}))
	listen := e.listen()
	e.start("ins", listen, "k", []string{be.addr}, map[string]string{"host": "app.test", "inspect": mode})
	return e, rec, userClient(t, listen), be
}

func send(t *testing.T, c *http.Client, method, path, body string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, "http://app.test"+path, strings.NewReader(body))
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

func TestInspectRecordsRedactedHeadersAndBoundedBodies(t *testing.T) {
	_, rec, c, _ := inspectEnv(t, "body")
	big := strings.Repeat("x", 20<<10)
	res, echoed := send(t, c, http.MethodPost, "/upload?q=1&r=%20", big,
		"Authorization", "Bearer tok3n", "Cookie", "a=1; b=two", "Proxy-Authorization", "Basic dXNlcjpwYXNz", "X-Plain", "kept",
		sdk.ReplayHeader, "forged")
	if res.StatusCode != 201 || echoed != big {
		t.Fatalf("proxied: %d, %d bytes", res.StatusCode, len(echoed))
	}
	ex := rec.wait(t, 1)[0]
	if ex.Instance != "ins" || len(ex.ID) != 16 || ex.Method != "POST" || ex.Host != "app.test" || ex.Path != "/upload?q=1&r=%20" ||
		ex.Status != 201 || ex.ReqBytes != int64(len(big)) || ex.RespBytes != int64(len(big)) || ex.Client == "" || ex.Duration <= 0 ||
		ex.Proto != "HTTP/1.1" || !ex.BodiesRecorded || ex.Time.IsZero() {
		t.Errorf("record %+v", ex)
	}
	for name, want := range map[string]string{
		"Authorization": "Bearer [redacted]", "Cookie": "a=[redacted]; b=[redacted]", "Proxy-Authorization": "Basic [redacted]",
		"X-Plain": "kept", sdk.ReplayHeader: "forged",
	} {
		if got := ex.ReqHeader.Get(name); got != want {
			t.Errorf("request header %s = %q, want %q", name, got, want)
		}
	}
	if got := ex.RespHeader.Get("Set-Cookie"); got != "sid=[redacted]; Path=/; HttpOnly" || ex.RespHeader.Get("X-Backend") != "yes" {
		t.Errorf("response headers %v", ex.RespHeader)
	}
	if len(ex.ReqBody) != sdk.MaxInspectBody || !ex.ReqTruncated || len(ex.RespBody) != sdk.MaxInspectBody || !ex.RespTruncated {
		t.Errorf("bodies: %d %v, %d %v", len(ex.ReqBody), ex.ReqTruncated, len(ex.RespBody), ex.RespTruncated)
	}
	for _, ex := range []*sdk.Exchange{ex} {
		if strings.Contains(ex.ReqHeader.Get("Authorization")+ex.ReqHeader.Get("Cookie")+ex.RespHeader.Get("Set-Cookie"), "tok3n") ||
			strings.Contains(ex.RespHeader.Get("Set-Cookie"), "s3cr3t") {
			t.Error("a secret was recorded")
		}
	}

	send(t, c, http.MethodPost, "/small", "hello")
	ex = rec.wait(t, 2)[1]
	if string(ex.ReqBody) != "hello" || ex.ReqTruncated || string(ex.RespBody) != "hello" || ex.RespTruncated {
		t.Errorf("small bodies: %q %v %q %v", ex.ReqBody, ex.ReqTruncated, ex.RespBody, ex.RespTruncated)
	}
}

func TestInspectHeadersOnlyAndErrorPages(t *testing.T) {
	e, rec, c, _ := inspectEnv(t, "1")
	send(t, c, http.MethodGet, "/big", "")
	ex := rec.wait(t, 1)[0]
	if ex.BodiesRecorded || ex.ReqBody != nil || ex.RespBody != nil || ex.RespBytes != 20<<10 || ex.Status != 200 {
		t.Errorf("inspect=1 record: %+v", ex)
	}
	// A page the proxy answers itself names the same request id as its record.
	e.keys.Add("gone")
	listen := e.listen()
	e.start("off", listen, "gone", []string{"127.0.0.1:1"}, map[string]string{"host": "off.test", "inspect": "1"})
	oc := userClient(t, listen)
	req, _ := http.NewRequest(http.MethodGet, "http://off.test/x", nil)
	res, err := oc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	ex = rec.wait(t, 2)[1]
	if res.StatusCode != 502 || ex.Status != 502 || ex.ID != res.Header.Get("X-Request-Id") || ex.Error != msgAgentOffline {
		t.Errorf("error page %d %s, record %+v", res.StatusCode, res.Header.Get("X-Request-Id"), ex)
	}
}

// hiddenRecorder is a host that keeps no records (a host before sdk 1.3.0).
type hiddenRecorder struct{ sdk.Host }

func TestInspectOffRecordsNothingAndNeedsARecordingHost(t *testing.T) {
	e := newEnv(t)
	rec := &records{}
	e.records = rec
	e.agent("k")
	be := newBackend(t, whoami("be"))
	listen := e.listen()
	e.start("plain", listen, "k", []string{be.addr}, map[string]string{"host": "plain.test"})
	if status, _, _ := get(t, userClient(t, listen), "plain.test", "/"); status != 200 {
		t.Fatalf("status %d", status)
	}
	if n := len(rec.list()); n != 0 {
		t.Errorf("inspect off recorded %d", n)
	}
	spec := sdk.InstanceSpec{ID: "x", Scheme: "http", Listen: e.listen(), Params: map[string]string{"host": "x.test", "inspect": "1"}}
	err := e.h.Start(context.Background(), spec, hiddenRecorder{e.host})
	if err == nil || !strings.Contains(err.Error(), "needs a host that keeps records") {
		t.Errorf("start on a host without Recorder: %v", err)
	}
}

// An inspected WebSocket upgrade still switches (through the host) and is
// recorded as an upgrade handed off.
func TestInspectWebSocketUpgrade(t *testing.T) {
	e := newEnv(t)
	rec := &records{}
	e.records = rec
	e.agent("k")
	b := newBackend(t, echoWS(t))
	listen := e.listen()
	e.start("ws", listen, "k", []string{b.addr}, map[string]string{"host": "ws.test", "inspect": "body"})
	c := dialWS(t, listen, "ws.test")
	defer c.Close()
	if err := c.WriteMessage(1, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	if _, msg, err := c.ReadMessage(); err != nil || string(msg) != "hi" {
		t.Fatalf("echo: %q %v", msg, err)
	}
	ex := rec.wait(t, 1)[0]
	if ex.Upgrade != "websocket" || ex.Status != 0 || ex.Path != "/ws" || ex.ReqHeader.Get("Upgrade") != "websocket" {
		t.Errorf("upgrade record %+v", ex)
	}
}
