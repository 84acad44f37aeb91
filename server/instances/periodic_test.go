package instances

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/burrowproject/burrow/conf"
	"github.com/burrowproject/burrow/server/events"
	"github.com/burrowproject/burrow/server/history"
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

// The report loop feeds the history of every running instance, log=none
// too (it is the dashboard's, not the event stream's), and a deleted
// instance's history is gone with it.
func TestHistoryFromReports(t *testing.T) {
	master, _ := conf.Parse(masterDebug)
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	rt := newFakeRuntime()
	m, err := New(Config{Store: st, Bus: events.New(nil, 0), Runtime: rt, Master: master, ReportInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = m.Close(context.Background()) }()
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	v, _ := m.Create(context.Background(), "server://:2/b:2?log=none", "")
	deadline := timeAfter()
	var sum int64
	for sum < 3000 {
		if r := rt.run(v.ID); r != nil {
			r.add(Stats{TCPRx: 1000, UDPTx: 10})
		}
		select {
		case <-deadline:
			t.Fatalf("history holds %d bytes received after 5 s", sum)
		case <-time.After(25 * time.Millisecond):
		}
		pts, err := m.History(v.ID, history.Hour)
		if err != nil {
			t.Fatal(err)
		}
		sum = 0
		for _, p := range pts {
			sum += p.Rx
			if p.Tx%10 != 0 {
				t.Fatalf("tx %d is not made of the 10-byte udp steps", p.Tx)
			}
		}
	}
	if _, err := m.History(KeyID, history.Hour); err == nil {
		t.Error("history of the key record")
	}
	if err := m.Delete(context.Background(), v.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := m.History(v.ID, history.Day); err == nil {
		t.Error("history of a deleted instance")
	}
}
