package instances

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/burrowproject/burrow/conf"
	"github.com/burrowproject/burrow/internal/testutil"
	"github.com/burrowproject/burrow/server/events"
	"github.com/burrowproject/burrow/server/store"
)

func TestMain(m *testing.M) { testutil.VerifyNoLeaks(m) }

type harness struct {
	t    *testing.T
	m    *Manager
	rt   *fakeRuntime
	bus  *events.Bus
	dir  string
	logs *testutil.SyncBuffer
}

// newHarness builds and starts a manager on dir (a fresh temp dir when "").
func newHarness(t *testing.T, masterURL, dir string, rt *fakeRuntime) *harness {
	t.Helper()
	h := buildHarness(t, masterURL, dir, rt)
	if err := h.m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return h
}

// buildHarness is newHarness without Start.
func buildHarness(t *testing.T, masterURL, dir string, rt *fakeRuntime) *harness {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	if rt == nil {
		rt = newFakeRuntime()
	}
	master, err := conf.Parse(masterURL)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	logs := &testutil.SyncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	bus := events.New(log, 4096)
	m, err := New(Config{
		Store: st, Bus: bus, Runtime: rt, Log: log, Master: master,
		ReportInterval: time.Hour, RestartDelay: 5 * time.Millisecond, ErrorRetry: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, m: m, rt: rt, bus: bus, dir: dir, logs: logs}
	t.Cleanup(h.close)
	return h
}

func (h *harness) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.m.Close(ctx); err != nil {
		h.t.Errorf("close: %v", err)
	}
	h.bus.Shutdown()
}

// drain waits until every queued lifecycle operation ran.
func (m *Manager) drain() {
	m.mu.RLock()
	list := make([]*instance, 0, len(m.byID))
	for _, in := range m.byID {
		list = append(list, in)
	}
	m.mu.RUnlock()
	for _, in := range list {
		in.ops.DoWait(func() {})
	}
}

func (h *harness) create(url string) View {
	h.t.Helper()
	v, err := h.m.Create(context.Background(), url, "")
	if err != nil {
		h.t.Fatalf("create %s: %v", url, err)
	}
	return v
}

func (h *harness) get(id string) View {
	h.t.Helper()
	v, err := h.m.Get(id)
	if err != nil {
		h.t.Fatalf("get %s: %v", id, err)
	}
	return v
}

// waitStatus polls until the instance has the status.
func (h *harness) waitStatus(id string, want Status) View {
	h.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		v := h.get(id)
		if v.Status == want {
			return v
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("instance %s: status %q, want %q", id, v.Status, want)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// next returns the next non-log event of sub.
func next(t *testing.T, sub *events.Subscription) events.Event {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case ev, ok := <-sub.Events():
			if !ok {
				t.Fatalf("subscription closed: %v", sub.Err())
			}
			if ev.Type == events.Log {
				continue
			}
			return ev
		case <-timeout:
			t.Fatal("no event within 5s")
		}
	}
}

// expect reads the next non-log event and checks its type and status.
func expect(t *testing.T, sub *events.Subscription, typ events.Type, status Status) View {
	t.Helper()
	ev := next(t, sub)
	v, _ := ev.Instance.(View)
	if ev.Type != typ || v.Status != status {
		t.Fatalf("event %s/%q (instance %+v), want %s/%q", ev.Type, v.Status, v, typ, status)
	}
	return v
}

// skipInitial consumes the initial burst (n instances plus the key record).
func skipInitial(t *testing.T, sub *events.Subscription, n int) {
	t.Helper()
	for range n + 1 {
		if ev := next(t, sub); ev.Type != events.Initial {
			t.Fatalf("got %s, want initial", ev.Type)
		}
	}
}
