package instances

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	"github.com/burrowproject/burrow/conf"
	"github.com/burrowproject/burrow/server/events"
	"github.com/burrowproject/burrow/server/store"
)

func TestHealthErrorAndRecovery(t *testing.T) {
	master, _ := conf.Parse(masterDebug)
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	rt := &healthRuntime{fakeRuntime: newFakeRuntime()}
	m, err := New(Config{Store: st, Bus: events.New(nil, 0), Runtime: rt, Master: master, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = m.Close(context.Background()) }()
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	v, _ := m.Create(context.Background(), "client://a:1/b:2", "")
	h := &harness{t: t, m: m}
	h.waitStatus(v.ID, StatusRunning)
	rt.mu.Lock()
	run := rt.last
	rt.mu.Unlock()
	sub := m.Subscribe()
	defer sub.Close()
	skipInitial(t, sub, 1)

	run.setHealth(errors.New("control connection lost"))
	got := h.get(v.ID)
	if got.Status != StatusError || got.Reason != "control connection lost" {
		t.Fatalf("unhealthy: %+v", got)
	}
	expect(t, sub, events.Update, StatusError)
	run.setHealth(nil)
	if got = h.get(v.ID); got.Status != StatusRunning {
		t.Fatalf("recovered: %+v", got)
	}
	expect(t, sub, events.Update, StatusRunning)
	stop := "stop"
	run.setHealth(errors.New("again"))
	h.get(v.ID)
	m.Patch(context.Background(), v.ID, Patch{Action: &stop})
	if got = h.waitStatus(v.ID, StatusStopped); got.Reason != "" {
		t.Errorf("stopped with reason %q", got.Reason)
	}
}
