package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/burrowproject/burrow/test/e2e/framework"
)

// The HTTP inspector against the real binary: an http instance with
// inspect=body in the master's http plugin process, a real agent and a
// real backend; records reach the master in batches over the plugin's
// Events stream.

// inspectBackend counts the requests it gets per path and answers with a
// cookie and the request body.
type inspectBackend struct {
	mu   sync.Mutex
	hits map[string]int
	last map[string]http.Header
}

func (b *inspectBackend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	b.mu.Lock()
	b.hits[r.URL.Path]++
	b.last[r.URL.Path] = r.Header.Clone()
	b.mu.Unlock()
	w.Header().Set("Set-Cookie", "sid=backend-secret; Path=/")
	w.Header().Set("Content-Type", "text/plain")
	_, _ = fmt.Fprintf(w, "got %s %s", r.Method, body)
}

func (b *inspectBackend) count(path string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.hits[path]
}

// inspected starts a master, a backend, an agent and an http instance with
// inspect=mode on host app.test; it returns the entry's client.
func inspected(t *testing.T, mode string) (*framework.Framework, *framework.Master, framework.Instance, *inspectBackend, *http.Client) {
	f := framework.New(t)
	m := f.Master("master")
	be := &inspectBackend{hits: map[string]int{}, last: map[string]http.Header{}}
	backend := f.HTTPServer(be)
	key := newKey(t)
	entry := framework.Addr(f.Port())
	in := m.Create(fmt.Sprintf("http://%s/%s?agent=%s&host=app.test&inspect=%s", entry, backend, key, mode), "inspected")
	m.WaitInstance(in.ID, ready, "running", func(v framework.Instance) bool { return v.Status == "running" })
	startDashboardAgent(f, m, "agent", key, backend).MustWaitLog(logConnected, ready)
	return f, m, in, be, entryClient(t, entry, 10*time.Second)
}

type apiRecord struct {
	ID        string `json:"id"`
	Method    string `json:"method"`
	Path      string `json:"path"`
	Status    int    `json:"status"`
	ReqBytes  int64  `json:"req_bytes"`
	RespBytes int64  `json:"resp_bytes"`
	Client    string `json:"client"`
	ReplayOf  string `json:"replay_of"`
	Headers   []struct {
		Name, Value string
	} `json:"req_headers"`
	RespHeaders []struct {
		Name, Value string
	} `json:"resp_headers"`
	ReqBody *struct {
		Text   string `json:"text"`
		Binary bool   `json:"binary"`
		Size   int    `json:"size"`
	} `json:"req_body"`
}

func (r apiRecord) header(name string, resp bool) string {
	list := r.Headers
	if resp {
		list = r.RespHeaders
	}
	for _, h := range list {
		if strings.EqualFold(h.Name, name) {
			return h.Value
		}
	}
	return ""
}

// waitRecords polls the list until cond holds (bounded) and returns it.
func waitRecords(t *testing.T, m *framework.Master, id string, cond func([]apiRecord) bool) []apiRecord {
	t.Helper()
	var list struct {
		Records []apiRecord `json:"records"`
	}
	for range 100 {
		if err := m.MustDo(http.StatusOK, http.MethodGet, "/instances/"+id+"/requests", nil).JSON(&list); err != nil {
			t.Fatal(err)
		}
		if cond(list.Records) {
			return list.Records
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("records never matched; last %+v", list.Records)
	return nil
}

func entryPost(t *testing.T, c *http.Client, url, body string, hdr ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func TestInspectorRecordsRedactsAndReplays(t *testing.T) {
	t.Parallel()
	f, m, in, be, c := inspected(t, "body")

	// The live stream sees new records as they happen.
	stream := openRequestStream(t, m, in.ID)
	status, body := entryPost(t, c, "http://app.test/submit?x=1", "hello inspector",
		"Authorization", "Bearer user-secret", "Cookie", "session=cookie-secret", "X-Trace", "t1")
	if status != 200 || body != "got POST hello inspector" {
		t.Fatalf("through the entry: %d %q", status, body)
	}
	live := stream.next(t)
	if live.Path != "/submit?x=1" || live.Method != "POST" || live.Status != 200 {
		t.Errorf("live record %+v", live)
	}

	recs := waitRecords(t, m, in.ID, func(r []apiRecord) bool { return len(r) == 1 })
	var rec apiRecord
	if err := m.MustDo(http.StatusOK, http.MethodGet, "/instances/"+in.ID+"/requests/"+recs[0].ID, nil).JSON(&rec); err != nil {
		t.Fatal(err)
	}
	if rec.Method != "POST" || rec.Path != "/submit?x=1" || rec.Status != 200 || rec.ReqBytes != 15 || rec.RespBytes != int64(len(body)) ||
		!strings.HasPrefix(rec.Client, "127.0.0.1:") || rec.ReqBody == nil || rec.ReqBody.Text != "hello inspector" {
		t.Errorf("record %+v", rec)
	}
	if rec.header("Authorization", false) != "Bearer [redacted]" || rec.header("Cookie", false) != "session=[redacted]" ||
		rec.header("X-Trace", false) != "t1" || rec.header("Set-Cookie", true) != "sid=[redacted]; Path=/" {
		t.Errorf("headers %+v / %+v", rec.Headers, rec.RespHeaders)
	}
	raw := m.MustDo(http.StatusOK, http.MethodGet, "/instances/"+in.ID+"/requests/"+rec.ID, nil).String()
	for _, secret := range []string{"user-secret", "cookie-secret", "backend-secret"} {
		if strings.Contains(raw, secret) {
			t.Errorf("the record holds %q", secret)
		}
	}

	// Replay: the backend sees the request a second time, without the
	// redacted headers; the replay is recorded and marked.
	var res struct {
		ReplayOf    string     `json:"replay_of"`
		Status      int        `json:"status"`
		NotReplayed []string   `json:"not_replayed"`
		Record      *apiRecord `json:"record"`
	}
	if err := m.MustDo(http.StatusOK, http.MethodPost, "/instances/"+in.ID+"/requests/"+rec.ID+"/replay", nil).JSON(&res); err != nil {
		t.Fatal(err)
	}
	if be.count("/submit") != 2 || res.Status != 200 || res.ReplayOf != rec.ID || strings.Join(res.NotReplayed, ",") != "Authorization,Cookie" {
		t.Errorf("replay %+v, backend saw /submit %d times", res, be.count("/submit"))
	}
	be.mu.Lock()
	second := be.last["/submit"]
	be.mu.Unlock()
	if second.Get("Authorization") != "" || second.Get("Cookie") != "" || second.Get("X-Trace") != "t1" || second.Get("X-Burrow-Replay") != "" {
		t.Errorf("the backend's second request: %v", second)
	}
	recs = waitRecords(t, m, in.ID, func(r []apiRecord) bool { return len(r) == 2 })
	if recs[0].ReplayOf != rec.ID || recs[0].Path != "/submit?x=1" {
		t.Errorf("newest record %+v, want the replay of %s", recs[0], rec.ID)
	}
	if next := stream.next(t); next.ReplayOf != rec.ID {
		t.Errorf("the stream's replay record %+v", next)
	}

	if !strings.Contains(m.RunOutput(), "handlers run as plugin processes") {
		t.Error("the master does not run its handlers as plugin processes")
	}
	// Clear errors.
	inspectError(t, m, http.MethodPost, "/instances/"+in.ID+"/requests/0000000000000000/replay", 404, "is not kept")
	inspectError(t, m, http.MethodGet, "/instances/ffffffff/requests", 404, "Instance not found")
	tcp := m.Create(fmt.Sprintf("tcp://127.0.0.1:%d/127.0.0.1:9?agent=%s", f.Port(), newKey(t)), "")
	inspectError(t, m, http.MethodGet, "/instances/"+tcp.ID+"/requests", 400, "is not an http instance")
	m.MustDo(http.StatusOK, http.MethodPut, "/instances/"+in.ID, map[string]string{"url": strings.Replace(m.Get(in.ID).URL, "inspect=body", "inspect=0", 1)})
	inspectError(t, m, http.MethodGet, "/instances/"+in.ID+"/requests", 409, "does not record requests")
	inspectError(t, m, http.MethodPut, "/instances/"+in.ID, 400, "", map[string]string{"url": strings.Replace(m.Get(in.ID).URL, "inspect=0", "inspect=yes", 1)})

	// Deleting the instance ends its stream and drops its ring.
	m.MustDo(http.StatusNoContent, http.MethodDelete, "/instances/"+in.ID, nil)
	stream.ended(t)
}

func inspectError(t *testing.T, m *framework.Master, method, path string, status int, msg string, body ...any) {
	t.Helper()
	var b any
	if len(body) > 0 {
		b = body[0]
	}
	r, err := m.Do(method, path, b)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != status || !strings.Contains(r.ErrorMessage(), msg) {
		t.Errorf("%s %s: %s; want %d with %q", method, path, r, status, msg)
	}
}

// requestStream reads GET .../requests/stream.
type requestStream struct {
	cancel context.CancelFunc
	lines  chan string
}

func openRequestStream(t *testing.T, m *framework.Master, id string) *requestStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, m.Root+"/instances/"+id+"/requests/stream", nil)
	req.Header.Set("X-API-Key", m.Key())
	res, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if res.StatusCode != 200 {
		cancel()
		res.Body.Close()
		t.Fatalf("stream: %d", res.StatusCode)
	}
	s := &requestStream{cancel: cancel, lines: make(chan string, 64)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(s.lines)
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			select {
			case s.lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return s
}

// next returns the next record of the stream (bounded wait).
func (s *requestStream) next(t *testing.T) apiRecord {
	t.Helper()
	timeout := time.After(15 * time.Second)
	event := ""
	for {
		select {
		case l, ok := <-s.lines:
			if !ok {
				t.Fatal("the request stream ended")
			}
			if v, found := strings.CutPrefix(l, "event: "); found {
				event = v
			}
			if v, found := strings.CutPrefix(l, "data: "); found && event == "request" {
				var r apiRecord
				if err := json.Unmarshal([]byte(v), &r); err != nil {
					t.Fatalf("stream data %q: %v", v, err)
				}
				return r
			}
		case <-timeout:
			t.Fatal("no record on the stream within 15s")
		}
	}
}

// ended waits (bounded) for the stream to end.
func (s *requestStream) ended(t *testing.T) {
	t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		select {
		case _, ok := <-s.lines:
			if !ok {
				return
			}
		case <-timeout:
			t.Fatal("the request stream did not end")
		}
	}
}
