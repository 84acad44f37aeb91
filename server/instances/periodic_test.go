package instances

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/burrowproject/burrow/conf"
	"github.com/burrowproject/burrow/server/events"
	"github.com/burrowproject/burrow/server/store"
)

func timeAfter() <-chan time.Time { return time.After(5 * time.Second) }

func TestPeriodicUpdates(t *testing.T) {
	master, _ := conf.Parse(masterDebug)
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	bus := events.New(nil, 0)
	rt := newFakeRuntime()
	m, err := New(Config{Store: st, Bus: bus, Runtime: rt, Master: master, ReportInterval: 20 * time.Millisecond, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = m.Close(context.Background()) }()
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	loud, _ := m.Create(context.Background(), "server://:1/b:2", "")
	quiet, _ := m.Create(context.Background(), "server://:2/b:2?log=none", "")
	sub := m.Subscribe()
	defer sub.Close()
	deadline := timeAfter()
	var loudUpdates int
	var lastRx int64
	for loudUpdates < 3 {
		select {
		case ev := <-sub.Events():
			v, _ := ev.Instance.(View)
			if ev.Type != events.Update || v.Status != StatusRunning {
				continue
			}
			if v.ID == quiet.ID {
				t.Fatal("periodic update for a log=none instance")
			}
			if v.ID == loud.ID {
				loudUpdates++
				lastRx = v.TCPRx
				if r := rt.run(loud.ID); r != nil {
					r.add(Stats{TCPRx: 1})
				}
			}
		case <-deadline:
			t.Fatalf("%d periodic updates", loudUpdates)
		}
	}
	if lastRx < 1 {
		t.Errorf("periodic update without fresh counters: tcprx %d", lastRx)
	}
}
