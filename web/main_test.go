package web

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/burrowproject/burrow/bridge"
	"github.com/burrowproject/burrow/conf"
	"github.com/burrowproject/burrow/server/events"
	"github.com/burrowproject/burrow/server/instances"
	"github.com/burrowproject/burrow/server/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeRuntime starts fakeRuns that serve nothing.
type fakeRuntime struct {
	mu   sync.Mutex
	runs map[string]*fakeRun
}

func (f *fakeRuntime) Validate(inst *conf.Instance) error {
	switch inst.Scheme {
	case conf.SchemeServer, conf.SchemeClient, conf.SchemeTCP, conf.SchemeUDP, conf.SchemeHTTP:
		return nil
	}
	return fmt.Errorf("no handler for %q: %w", inst.Scheme, instances.ErrUnknownScheme)
}

func (f *fakeRuntime) Start(_ context.Context, id string, _ *conf.Instance, log *slog.Logger) (instances.Running, error) {
	r := &fakeRun{done: make(chan struct{})}
	f.mu.Lock()
	f.runs[id] = r
	f.mu.Unlock()
	log.Info("started")
	return r, nil
}

func (f *fakeRuntime) run(id string) *fakeRun {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.runs[id]
}

type fakeRun struct {
	mu    sync.Mutex
	stats instances.Stats
	done  chan struct{}
}

func (r *fakeRun) Stats() instances.Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stats
}
func (r *fakeRun) set(s instances.Stats) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stats = s
}
func (r *fakeRun) Done() <-chan struct{}      { return r.done }
func (r *fakeRun) Err() error                 { return nil }
func (r *fakeRun) Stop(context.Context) error { return nil }

type fakeAgents []bridge.AgentInfo

func (f fakeAgents) Agents() []bridge.AgentInfo { return f }

// api is a test master: a real manager and gin engine behind httptest.
type api struct {
	t      *testing.T
	m      *instances.Manager
	bus    *events.Bus
	rt     *fakeRuntime
	srv    *httptest.Server
	client *http.Client
	root   string
	key    string
}

type apiOption func(*instances.Config, *Options)

func newAPI(t *testing.T, opts ...apiOption) *api {
	t.Helper()
	master, err := conf.Parse("master://127.0.0.1:9090/api?log=debug")
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	bus := events.New(nil, 0)
	rt := &fakeRuntime{runs: map[string]*fakeRun{}}
	cfg := instances.Config{Store: st, Bus: bus, Runtime: rt, Master: master, ReportInterval: time.Hour, RestartDelay: time.Millisecond}
	o := Options{Master: master, Version: "test", Heartbeat: time.Hour, AuthFreeFailures: 1000}
	for _, f := range opts {
		f(&cfg, &o)
	}
	m, err := instances.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	o.Manager = m
	e, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	a := &api{t: t, m: m, bus: bus, rt: rt, srv: httptest.NewServer(e), root: "/api/v1", key: m.APIKey()}
	a.client = a.srv.Client()
	t.Cleanup(func() {
		bus.Shutdown()
		a.client.CloseIdleConnections()
		a.srv.Close()
		if err := m.Close(context.Background()); err != nil {
			t.Errorf("close manager: %v", err)
		}
	})
	return a
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r reply) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %q: %v", r.body, err)
	}
}

func (r reply) errMsg(t *testing.T) string {
	t.Helper()
	var e struct {
		Error *string `json:"error"`
	}
	r.json(t, &e)
	if e.Error == nil {
		t.Fatalf("no error field in %s", r.body)
	}
	return *e.Error
}

// call sends a request; key "-" sends no X-API-Key.
func (a *api) call(method, path, body, key string) reply {
	a.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, a.srv.URL+path, rd)
	if err != nil {
		a.t.Fatal(err)
	}
	if key != "-" {
		req.Header.Set("X-API-Key", key)
	}
	res, err := a.client.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		a.t.Fatal(err)
	}
	return reply{status: res.StatusCode, header: res.Header, body: b}
}

// do sends an authenticated request under the API root.
func (a *api) do(method, path, body string) reply {
	a.t.Helper()
	return a.call(method, a.root+path, body, a.key)
}

// expectStatus checks a reply's status and, for errors, its message.
func expectStatus(t *testing.T, r reply, status int, msg string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d (%s), want %d", r.status, r.body, status)
	}
	if msg != "" {
		if got := r.errMsg(t); !strings.HasPrefix(got, msg) {
			t.Fatalf("error %q, want prefix %q", got, msg)
		}
		if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("error content type %q", ct)
		}
	}
}

// sse is a client reading an event stream.
type sse struct {
	t    *testing.T
	res  *http.Response
	rd   *bufio.Reader
	stop context.CancelFunc
}

type sseEvent struct {
	Type     string              `json:"type"`
	Time     string              `json:"time"`
	Instance *instances.View     `json:"instance"`
	Logs     *string             `json:"logs"`
	Raw      map[string]any      `json:"-"`
	Fields   map[string]struct{} `json:"-"`
}

func (a *api) subscribe() *sse {
	a.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // bounds a hung test
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, a.srv.URL+a.root+"/events", nil)
	req.Header.Set("X-API-Key", a.key)
	res, err := a.client.Do(req)
	if err != nil {
		cancel()
		a.t.Fatal(err)
	}
	s := &sse{t: a.t, res: res, rd: bufio.NewReader(res.Body), stop: cancel}
	a.t.Cleanup(s.close)
	return s
}

func (s *sse) close() {
	s.stop()
	_ = s.res.Body.Close()
}

// line reads one line (without the newline); io.EOF at the end.
func (s *sse) line() (string, error) {
	l, err := s.rd.ReadString('\n')
	return strings.TrimSuffix(l, "\n"), err
}

// next returns the next event, skipping comments and retry lines. ok is
// false at the end of the stream.
func (s *sse) next() (ev sseEvent, ok bool) {
	s.t.Helper()
	var name, data string
	for {
		l, err := s.line()
		if err != nil {
			return sseEvent{}, false
		}
		switch {
		case l == "":
			if data == "" {
				continue
			}
			if name != "instance" {
				s.t.Fatalf("event name %q", name)
			}
			if err := json.Unmarshal([]byte(data), &ev); err != nil {
				s.t.Fatalf("event data %q: %v", data, err)
			}
			_ = json.Unmarshal([]byte(data), &ev.Raw)
			return ev, true
		case strings.HasPrefix(l, ":"), strings.HasPrefix(l, "retry:"):
		case strings.HasPrefix(l, "event: "):
			name = strings.TrimPrefix(l, "event: ")
		case strings.HasPrefix(l, "data: "):
			if data != "" {
				s.t.Fatal("more than one data line")
			}
			data = strings.TrimPrefix(l, "data: ")
		default:
			s.t.Fatalf("unexpected line %q", l)
		}
	}
}

// must returns the next event or fails.
func (s *sse) must() sseEvent {
	s.t.Helper()
	ev, ok := s.next()
	if !ok {
		s.t.Fatal("stream ended")
	}
	return ev
}

// nextState returns the next event that is not a log event.
func (s *sse) nextState() sseEvent {
	s.t.Helper()
	for {
		if ev := s.must(); ev.Type != "log" {
			return ev
		}
	}
}
