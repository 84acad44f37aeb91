package web

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/burrowproject/burrow/plugins/sdk"
	"github.com/burrowproject/burrow/server/inspect"
	"github.com/burrowproject/burrow/server/instances"
)

// inspectAPI is a test master with an inspector, and an http instance whose
// listen address is a server standing for its entry: it records every
// request it gets into the inspector, as the http handler does.
func inspectAPI(t *testing.T, mode string) (a *api, set *inspect.Set, id string, hits *atomic.Int64) {
	set = inspect.New(inspect.Config{})
	a = newAPI(t, func(c *instances.Config, o *Options) { o.Inspector, c.Forget = set, []instances.Forgetter{set} })
	hits = &atomic.Int64{}
	entry := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := hits.Add(1)
		body, _ := io.ReadAll(r.Body)
		w.WriteHeader(http.StatusTeapot)
		set.Record(&sdk.Exchange{Instance: id, ID: "replay" + string(rune('0'+n)), Method: r.Method, Host: r.Host, Path: r.RequestURI,
			ReqHeader: r.Header.Clone(), ReqBody: body, BodiesRecorded: true, Status: http.StatusTeapot, Time: time.Now()})
	}))
	t.Cleanup(entry.Close)
	_, port, _ := net.SplitHostPort(entry.Listener.Addr().String())
	var v instances.View
	r := a.do(http.MethodPost, "/instances", `{"url":"http://127.0.0.1:`+port+`/10.0.0.1:80?agent=k&host=app.test&auth=u:p&inspect=`+mode+`"}`)
	expectStatus(t, r, 201, "")
	r.json(t, &v)
	id = v.ID
	waitFor(t, func() bool { g, _ := a.m.Get(id); return g.Status == instances.StatusRunning })
	return a, set, id, hits
}

func TestRequestsEndpoints(t *testing.T) {
	a, set, id, hits := inspectAPI(t, "body")
	for _, rid := range []string{"aaaa000000000001", "aaaa000000000002"} {
		set.Record(&sdk.Exchange{Instance: id, ID: rid, Method: "POST", Host: "app.test", Path: "/x?y=1", Status: 200, Time: time.Now(),
			ReqHeader: http.Header{"Authorization": {"Bearer t"}, "X-A": {"1"}}, BodiesRecorded: true, ReqBody: []byte("hi"), ReqBytes: 2})
	}
	var list Requests
	a.do(http.MethodGet, "/instances/"+id+"/requests?limit=1", "").json(t, &list)
	if list.ID != id || list.Inspect != "body" || len(list.Records) != 1 || list.Records[0].ID != "aaaa000000000002" || list.Kept != 2 {
		t.Fatalf("list %+v", list)
	}
	var rec inspect.Record
	a.do(http.MethodGet, "/instances/"+id+"/requests/aaaa000000000001", "").json(t, &rec)
	if rec.ReqBody == nil || rec.ReqBody.Text != "hi" || len(rec.ReqHeaders) != 2 || rec.ReqHeaders[0].Value != "Bearer [redacted]" {
		t.Errorf("record %+v", rec)
	}

	var res inspect.ReplayResult
	r := a.do(http.MethodPost, "/instances/"+id+"/requests/aaaa000000000001/replay", "")
	expectStatus(t, r, 200, "")
	r.json(t, &res)
	if hits.Load() != 1 || res.Status != http.StatusTeapot || res.ReplayOf != "aaaa000000000001" || res.Record == nil ||
		res.Record.ReplayOf != "aaaa000000000001" || strings.Join(res.NotReplayed, ",") != "Authorization" {
		t.Errorf("replay %+v (entry hit %d times)", res, hits.Load())
	}
	// The instance's own auth= went along; the record's Authorization did not.
	for _, h := range res.Record.ReqHeaders {
		if h.Name == "Authorization" && h.Value != "Basic [redacted]" {
			t.Errorf("replayed Authorization %q", h.Value)
		}
	}

	expectStatus(t, a.do(http.MethodGet, "/instances/"+id+"/requests?limit=0", ""), 400, "Invalid limit: want 1 to 200")
	expectStatus(t, a.do(http.MethodGet, "/instances/"+id+"/requests/ffff", ""), 404,
		"Record ffff of instance "+id+" is not kept (the master keeps the last 200 requests of each instance)")
	expectStatus(t, a.do(http.MethodPost, "/instances/"+id+"/requests/ffff/replay", ""), 404, "")
	expectStatus(t, a.do(http.MethodGet, "/instances/nothere1/requests", ""), 404, msgNotFound)
	expectStatus(t, a.call(http.MethodGet, a.root+"/instances/"+id+"/requests", "", "-"), 401, "")

	var tcp instances.View
	a.do(http.MethodPost, "/instances", `{"url":"tcp://127.0.0.1:1/10.0.0.1:2?agent=k"}`).json(t, &tcp)
	expectStatus(t, a.do(http.MethodGet, "/instances/"+tcp.ID+"/requests", ""), 400,
		"Instance "+tcp.ID+" is not an http instance: only http instances record requests")
	var off instances.View
	a.do(http.MethodPost, "/instances", `{"url":"http://127.0.0.1:2?agent=k&host=b.test"}`).json(t, &off)
	expectStatus(t, a.do(http.MethodGet, "/instances/"+off.ID+"/requests", ""), 409,
		"Instance "+off.ID+" does not record requests: add inspect=1 (or inspect=body) to its URL")

	set.Record(&sdk.Exchange{Instance: id, ID: "bbbb000000000001", Method: "GET", Path: "/", ReqBytes: 9, Time: time.Now()})
	expectStatus(t, a.do(http.MethodPost, "/instances/"+id+"/requests/bbbb000000000001/replay", ""), 409, "")
	expectStatus(t, a.do(http.MethodPatch, "/instances/"+id, `{"action":"stop"}`), 200, "")
	waitFor(t, func() bool { g, _ := a.m.Get(id); return g.Status == instances.StatusStopped })
	expectStatus(t, a.do(http.MethodPost, "/instances/"+id+"/requests/aaaa000000000001/replay", ""), 409,
		"Instance "+id+" is not running (stopped): start it to replay its requests")

	// Deleting the instance drops its ring.
	expectStatus(t, a.do(http.MethodDelete, "/instances/"+id, ""), 204, "")
	if l, _ := set.List(id, 0); len(l) != 0 {
		t.Errorf("ring kept after delete: %d", len(l))
	}
}

func TestRequestStream(t *testing.T) {
	a, set, id, _ := inspectAPI(t, "1")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, a.srv.URL+a.root+"/instances/"+id+"/requests/stream", nil)
	req.Header.Set("X-API-Key", a.key)
	res, err := a.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	lines := bufio.NewScanner(res.Body)
	next := func() string {
		for lines.Scan() {
			if l := lines.Text(); l != "" && !strings.HasPrefix(l, "retry:") {
				return l
			}
		}
		return ""
	}
	set.Record(&sdk.Exchange{Instance: id, ID: "cccc000000000001", Method: "GET", Path: "/live", Status: 204, Time: time.Now()})
	if l := next(); l != "event: request" {
		t.Fatalf("got %q", l)
	}
	if l := next(); !strings.Contains(l, `"id":"cccc000000000001"`) || !strings.Contains(l, `"path":"/live"`) || strings.Contains(l, "req_headers") {
		t.Errorf("data %q", l)
	}
	// A rotated key ends the stream, as it ends /events.
	expectStatus(t, a.do(http.MethodPatch, "/instances/********", `{"action":"restart"}`), 200, "")
	if l := next(); l != "event: shutdown" {
		t.Errorf("after rotation: %q", l)
	}
	next()
	if l := next(); l != "" {
		t.Errorf("stream went on: %q", l)
	}
}
