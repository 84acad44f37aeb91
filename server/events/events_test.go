package events

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func recv(t *testing.T, s *Subscription) (Event, bool) {
	t.Helper()
	select {
	case ev, ok := <-s.Events():
		return ev, ok
	case <-time.After(2 * time.Second):
		t.Fatal("no event")
		return Event{}, false
	}
}

func TestInitialThenLiveInOrder(t *testing.T) {
	b := New(nil, 4)
	s := b.Subscribe([]Event{{Type: Initial, Instance: 1}, {Type: Initial, Instance: 2}, {Type: Initial, Instance: 3},
		{Type: Initial, Instance: 4}, {Type: Initial, Instance: 5}})
	defer s.Close()
	for i := range 4 {
		b.Publish(Event{Type: Update, Instance: 10 + i})
	}
	for i, want := range []any{1, 2, 3, 4, 5, 10, 11, 12, 13} {
		ev, ok := recv(t, s)
		if !ok || ev.Instance != want {
			t.Fatalf("event %d: %+v", i, ev)
		}
		if ev.Type == Update && ev.Time.IsZero() {
			t.Error("publish did not set the time")
		}
	}
}

func TestSlowSubscriberDroppedOthersUnaffected(t *testing.T) {
	var logs bytes.Buffer
	b := New(slog.New(slog.NewTextHandler(&logs, nil)), 2)
	slow, fast := b.Subscribe(nil), b.Subscribe(nil)
	defer fast.Close()
	var got []any
	var mu sync.Mutex
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range fast.Events() {
			mu.Lock()
			got = append(got, ev.Instance)
			n := len(got)
			mu.Unlock()
			if n == 100 {
				return
			}
		}
	}()
	for i := range 100 {
		b.Publish(Event{Type: Update, Instance: i})
		for fast.ch != nil && len(fast.ch) == cap(fast.ch) { // let the fast reader keep up
			time.Sleep(time.Millisecond)
		}
	}
	<-done
	if len(got) != 100 {
		t.Fatalf("fast subscriber got %d events", len(got))
	}
	n := 0
	for range slow.Events() {
		n++
	}
	if n != 2 || !errors.Is(slow.Err(), ErrSlow) {
		t.Errorf("slow subscriber: %d events, err %v", n, slow.Err())
	}
	if !strings.Contains(logs.String(), "too slow") {
		t.Errorf("no log line: %q", logs.String())
	}
	if b.Len() != 1 {
		t.Errorf("%d subscribers", b.Len())
	}
}

func TestResetAndShutdown(t *testing.T) {
	b := New(nil, 8)
	s := b.Subscribe(nil)
	b.Reset()
	if ev, ok := recv(t, s); !ok || ev.Type != Shutdown || ev.Instance != nil {
		t.Fatalf("reset: %+v", ev)
	}
	if _, ok := recv(t, s); ok || !errors.Is(s.Err(), ErrShutdown) {
		t.Fatal("stream open after reset")
	}
	s2 := b.Subscribe(nil) // still usable after Reset
	b.Shutdown()
	if ev, _ := recv(t, s2); ev.Type != Shutdown {
		t.Fatal("no shutdown")
	}
	s3 := b.Subscribe([]Event{{Type: Initial}})
	if ev, _ := recv(t, s3); ev.Type != Initial {
		t.Fatal("initial lost after shutdown")
	}
	if ev, _ := recv(t, s3); ev.Type != Shutdown {
		t.Fatal("late subscriber not told")
	}
	if _, ok := recv(t, s3); ok {
		t.Fatal("late subscriber stream open")
	}
	b.Publish(Event{Type: Update}) // no subscribers: nothing happens
	s.Close()                      // idempotent on ended subscriptions
}

func TestCloseIsIdempotentAndConcurrentSafe(t *testing.T) {
	b := New(nil, 0)
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(2)
		s := b.Subscribe(nil)
		go func() { defer wg.Done(); s.Close(); s.Close() }()
		go func() { defer wg.Done(); b.Publish(Event{Type: Update}) }()
	}
	wg.Wait()
	if b.Len() != 0 {
		t.Errorf("%d subscribers left", b.Len())
	}
}
