package bridge_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/burrowproject/burrow/bridge"
	"github.com/burrowproject/burrow/internal/testutil"
)

// A ping is answered with a pong; a pong after our ping gives the round
// trip; other messages are not heartbeats.
func TestHeartbeat(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var sent []uint32
	hb := bridge.NewHeartbeat(func(msg uint32) error {
		mu.Lock()
		defer mu.Unlock()
		sent = append(sent, msg)
		return nil
	})
	if !hb.Handle(bridge.PingMarker) || !hb.Handle(bridge.PongMarker) || hb.Handle(7) {
		t.Fatal("Handle misclassified a message")
	}
	if hb.RTT() != 0 {
		t.Fatal("a pong nobody asked for measured a round trip")
	}
	done := make(chan struct{})
	ran := make(chan struct{})
	go func() { defer close(ran); hb.Run(done) }() // pings at once
	deadline := time.Now().Add(5 * time.Second)
	for hb.RTT() == 0 && time.Now().Before(deadline) {
		mu.Lock()
		pinged := len(sent) > 1
		mu.Unlock()
		if pinged {
			hb.Handle(bridge.PongMarker)
		}
		time.Sleep(time.Millisecond)
	}
	close(done)
	<-ran
	if hb.RTT() <= 0 {
		t.Fatal("no round trip measured")
	}
	mu.Lock()
	defer mu.Unlock()
	if sent[0] != bridge.PongMarker || sent[1] != bridge.PingMarker {
		t.Fatalf("sent %x, want a pong then a ping", sent)
	}
	for d, want := range map[time.Duration]int{0: 0, time.Microsecond: 1, time.Millisecond: 1, 1500 * time.Microsecond: 2} {
		if got := bridge.PingMillis(d); got != want {
			t.Errorf("PingMillis(%v) = %d, want %d", d, got, want)
		}
	}
}

// Confirm is true once the peer answers, false when it does not within the
// timeout or the session ends first.
func TestHeartbeatConfirm(t *testing.T) {
	t.Parallel()
	var hb *bridge.Heartbeat
	answer := true
	hb = bridge.NewHeartbeat(func(msg uint32) error {
		if msg == bridge.PingMarker && answer {
			go hb.Handle(bridge.PongMarker)
		}
		return nil
	})
	if !hb.Confirm(nil, time.Second) {
		t.Fatal("Confirm false although the peer answered")
	}
	answer = false
	if hb.Confirm(nil, 50*time.Millisecond) {
		t.Fatal("Confirm true although the peer did not answer")
	}
	done := make(chan struct{})
	close(done)
	if hb.Confirm(done, time.Minute) {
		t.Fatal("Confirm true after the session ended")
	}
}

// Confirms that overlap share one ping and its pong; one that fails to
// send its ping fails alone, and the next one pings again.
func TestHeartbeatConfirmShared(t *testing.T) {
	t.Parallel()
	var (
		mu    sync.Mutex
		pings int
		fail  bool
		hb    *bridge.Heartbeat
	)
	release := make(chan struct{})
	hb = bridge.NewHeartbeat(func(msg uint32) error {
		mu.Lock()
		if fail {
			mu.Unlock()
			return errors.New("control stream gone")
		}
		pings++
		first := pings == 1
		mu.Unlock()
		if first {
			<-release // the others come while this ping is on its way
		}
		go hb.Handle(bridge.PongMarker)
		return nil
	})
	const waiters = 8
	results := make(chan bool, waiters)
	var started sync.WaitGroup
	for range waiters {
		started.Add(1)
		go func() {
			started.Done()
			results <- hb.Confirm(nil, testutil.Wait)
		}()
	}
	started.Wait()
	time.Sleep(20 * time.Millisecond) // let them reach Confirm
	close(release)
	for range waiters {
		if !<-results {
			t.Fatal("a Confirm sharing an answered ping failed")
		}
	}
	mu.Lock()
	if pings >= waiters/2 {
		t.Errorf("%d overlapping Confirms sent %d pings, want them to share", waiters, pings)
	}
	fail = true
	mu.Unlock()
	if hb.Confirm(nil, testutil.Wait) {
		t.Fatal("Confirm true although its ping could not be sent")
	}
	mu.Lock()
	fail = false
	mu.Unlock()
	if !hb.Confirm(nil, testutil.Wait) {
		t.Fatal("Confirm after a failed send did not ping again")
	}
}

// A Confirm whose own done closes gives up alone: the others waiting on
// its ping still get the pong.
func TestHeartbeatConfirmFirstGivesUpAlone(t *testing.T) {
	t.Parallel()
	pinged := make(chan struct{}, 1)
	var hb *bridge.Heartbeat
	hb = bridge.NewHeartbeat(func(msg uint32) error {
		if msg == bridge.PingMarker {
			pinged <- struct{}{}
		}
		return nil
	})
	firstDone := make(chan struct{})
	first := make(chan bool, 1)
	go func() { first <- hb.Confirm(firstDone, testutil.Wait) }()
	<-pinged
	second := make(chan bool, 1)
	go func() { second <- hb.Confirm(nil, testutil.Wait) }()
	time.Sleep(20 * time.Millisecond) // let the second reach Confirm and share the ping
	close(firstDone)
	if <-first {
		t.Fatal("Confirm true after its done closed")
	}
	select {
	case ok := <-second:
		t.Fatalf("the other waiter ended (%v) when the first gave up", ok)
	case <-time.After(50 * time.Millisecond):
	}
	hb.Handle(bridge.PongMarker)
	select {
	case ok := <-second:
		if !ok {
			t.Fatal("the other waiter failed although the pong came")
		}
	case <-time.After(testutil.Wait):
		t.Fatal("the other waiter never heard the pong")
	}
	select {
	case <-pinged:
		t.Fatal("the second Confirm sent a ping of its own")
	default:
	}
}
