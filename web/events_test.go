package web

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/burrowproject/burrow/server/events"
	"github.com/burrowproject/burrow/server/instances"
)

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSSEFramingAndInitialBurst(t *testing.T) {
	a := newAPI(t)
	var v instances.View
	a.do(http.MethodPost, "/instances", `{"url":"server://:1/b:2","alias":"one"}`).json(t, &v)
	s := a.subscribe()
	if s.res.StatusCode != 200 || s.res.Header.Get("Content-Type") != "text/event-stream" ||
		s.res.Header.Get("Cache-Control") != "no-cache" || s.res.Header.Get("Connection") != "keep-alive" ||
		s.res.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("SSE response %d %v", s.res.StatusCode, s.res.Header)
	}
	if l, _ := s.line(); l != "retry: 3000" {
		t.Fatalf("first line %q", l)
	}
	if l, _ := s.line(); l != "" {
		t.Fatalf("second line %q", l)
	}
	key := s.must()
	if key.Type != "initial" || key.Instance == nil || key.Instance.ID != instances.KeyID || key.Instance.URL != a.key ||
		key.Logs == nil || *key.Logs != "" {
		t.Fatalf("first event %+v", key)
	}
	if _, err := time.Parse(time.RFC3339Nano, key.Time); err != nil {
		t.Errorf("time %q: %v", key.Time, err)
	}
	for _, f := range []string{"type", "time", "instance", "logs"} {
		if _, ok := key.Raw[f]; !ok {
			t.Errorf("payload key %s missing", f)
		}
	}
	inst := s.must()
	if inst.Type != "initial" || inst.Instance.ID != v.ID || inst.Instance.Alias != "one" {
		t.Fatalf("second event %+v", inst)
	}
}

func TestSSEUpdatePerPatchField(t *testing.T) {
	a := newAPI(t)
	var v instances.View
	a.do(http.MethodPost, "/instances", `{"url":"server://:1/b:2"}`).json(t, &v)
	waitFor(t, func() bool { return a.rt.run(v.ID) != nil })
	s := a.subscribe()
	s.must()
	s.must()
	for _, body := range []string{`{"alias":"a1"}`, `{"restart":false}`, `{"meta":{"tags":{"k":"v"}}}`,
		`{"meta":{"peer":{"sid":"s","type":"1","alias":"p"}}}`, `{"action":"reset"}`} {
		expectStatus(t, a.do(http.MethodPatch, "/instances/"+v.ID, body), 200, "")
	}
	expectStatus(t, a.do(http.MethodPatch, "/instances/"+v.ID, `{"alias":"a2","restart":true}`), 200, "")
	checks := []func(*instances.View) bool{
		func(i *instances.View) bool { return i.Alias == "a1" && i.Restart },
		func(i *instances.View) bool { return !i.Restart && len(i.Meta.Tags) == 0 },
		func(i *instances.View) bool { return i.Meta.Tags["k"] == "v" && i.Meta.Peer.SID == "" },
		func(i *instances.View) bool { return i.Meta.Peer.SID == "s" && i.Meta.Peer.Alias == "p" },
		func(i *instances.View) bool { return i.Status == "running" },
		func(i *instances.View) bool { return i.Alias == "a2" && !i.Restart },
		func(i *instances.View) bool { return i.Alias == "a2" && i.Restart },
	}
	for n, check := range checks {
		ev := s.nextState()
		if ev.Type != "update" || ev.Instance.ID != v.ID || !check(ev.Instance) {
			t.Fatalf("update %d: %s %+v", n, ev.Type, ev.Instance)
		}
	}
	// stop, start, restart: update stopped / running / stopped+running.
	for _, step := range []struct {
		action string
		want   []instances.Status
	}{{"stop", []instances.Status{"stopped"}}, {"start", []instances.Status{"running"}},
		{"restart", []instances.Status{"stopped", "running"}}} {
		expectStatus(t, a.do(http.MethodPatch, "/instances/"+v.ID, `{"action":"`+step.action+`"}`), 200, "")
		for _, want := range step.want {
			if ev := s.nextState(); ev.Type != "update" || ev.Instance.Status != want {
				t.Fatalf("%s: %s %q, want update %q", step.action, ev.Type, ev.Instance.Status, want)
			}
		}
	}
	// PUT: update stopped, then running; DELETE: update stopped, delete.
	expectStatus(t, a.do(http.MethodPut, "/instances/"+v.ID, `{"url":"server://:1/b:3"}`), 200, "")
	for _, want := range []string{"update/stopped", "update/running"} {
		if ev := s.nextState(); ev.Type+"/"+string(ev.Instance.Status) != want {
			t.Fatalf("PUT: %s/%s, want %s", ev.Type, ev.Instance.Status, want)
		}
	}
	expectStatus(t, a.do(http.MethodDelete, "/instances/"+v.ID, ""), 204, "")
	for _, want := range []string{"update/stopped", "delete/stopped"} {
		if ev := s.nextState(); ev.Type+"/"+string(ev.Instance.Status) != want {
			t.Fatalf("DELETE: %s/%s, want %s", ev.Type, ev.Instance.Status, want)
		}
	}
}

func TestSSEPeriodicUpdatesLogsAndHeartbeat(t *testing.T) {
	a := newAPI(t, func(c *instances.Config, o *Options) {
		c.ReportInterval = 30 * time.Millisecond
		o.Heartbeat = 20 * time.Millisecond
	})
	s := a.subscribe()
	s.must()
	var v instances.View
	a.do(http.MethodPost, "/instances", `{"url":"server://:1/b:2"}`).json(t, &v)
	var created, running, logs, periodic int
	pings := 0
	deadline := time.Now().Add(10 * time.Second)
	for periodic < 3 || pings == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("created %d running %d logs %d periodic %d pings %d", created, running, logs, periodic, pings)
		}
		l, err := s.line()
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case l == ": ping":
			pings++
		case strings.HasPrefix(l, "data: "):
			switch {
			case strings.Contains(l, `"type":"create"`):
				created++
			case strings.Contains(l, `"type":"log"`):
				logs++
				if !strings.Contains(l, "started") {
					t.Errorf("log event %s", l)
				}
			case strings.Contains(l, `"type":"update"`) && running == 0:
				running++
			case strings.Contains(l, `"type":"update"`):
				periodic++
			}
		}
	}
	if created != 1 || logs < 1 {
		t.Errorf("created %d logs %d", created, logs)
	}
}

func TestKeyRotationClosesStreams(t *testing.T) {
	a := newAPI(t)
	s1, s2 := a.subscribe(), a.subscribe()
	s1.must()
	s2.must()
	old := a.key
	r := a.do(http.MethodPatch, "/instances/********", `{"action":"restart"}`)
	expectStatus(t, r, 200, "")
	var kv instances.View
	r.json(t, &kv)
	if kv.URL == old || len(kv.URL) != 32 {
		t.Fatalf("new key %q", kv.URL)
	}
	for _, s := range []*sse{s1, s2} {
		// Streams opened with the old key end; the new key never reaches them.
		if ev := s.must(); ev.Type != "shutdown" || ev.Instance != nil || ev.Raw["instance"] != nil {
			t.Errorf("first event after rotation %+v", ev)
		}
		if _, ok := s.next(); ok {
			t.Error("stream not closed after shutdown")
		}
	}
	expectStatus(t, a.do(http.MethodGet, "/instances", ""), 401, "Unauthorized: Invalid API key")
	a.key = kv.URL
	expectStatus(t, a.do(http.MethodGet, "/instances", ""), 200, "")
}

func TestConcurrentCreateDeleteWhileWatching(t *testing.T) {
	a := newAPI(t)
	s := a.subscribe()
	s.must()
	const n = 200
	ids := make(chan string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := a.do(http.MethodPost, "/instances", fmt.Sprintf(`{"url":"server://:%d/b:2"}`, 20000+i))
			if r.status != 201 {
				t.Errorf("create: %d %s", r.status, r.body)
				return
			}
			var v instances.View
			r.json(t, &v)
			ids <- v.ID
			if r := a.do(http.MethodDelete, "/instances/"+v.ID, ""); r.status != 204 {
				t.Errorf("delete: %d %s", r.status, r.body)
			}
		}()
	}
	wg.Wait()
	close(ids)
	want := map[string]bool{}
	for id := range ids {
		want[id] = true
	}
	if len(want) != n {
		t.Fatalf("%d distinct ids, want %d", len(want), n)
	}
	seq := map[string][]string{}
	for deleted := 0; deleted < n; {
		ev := s.must()
		if ev.Instance == nil {
			t.Fatalf("event %s without instance", ev.Type)
		}
		seq[ev.Instance.ID] = append(seq[ev.Instance.ID], ev.Type)
		if ev.Type == "delete" {
			deleted++
		}
	}
	for id := range want {
		got := seq[id]
		if len(got) < 2 || got[0] != "create" || got[len(got)-1] != "delete" {
			t.Errorf("instance %s events %v", id, got)
			continue
		}
		for _, typ := range got[1 : len(got)-1] {
			if typ != "update" && typ != "log" {
				t.Errorf("instance %s events %v", id, got)
			}
		}
	}
	var list []instances.View
	a.do(http.MethodGet, "/instances", "").json(t, &list)
	if len(list) != 1 {
		t.Errorf("%d instances left", len(list)-1)
	}
}

func TestEncodeEventStaysSmall(t *testing.T) {
	ev := events.Event{Type: events.Log, Time: time.Now(), Instance: instances.View{ID: "x"}, Logs: strings.Repeat("<\x01>", 40000)}
	b, err := encodeEvent(ev)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > 64*1024 || !strings.HasPrefix(string(b), "event: instance\ndata: {") || !strings.HasSuffix(string(b), "}\n\n") ||
		strings.Count(string(b), "\n") != 3 {
		t.Errorf("encoded event of %d bytes: %.80q", len(b), b)
	}
}
