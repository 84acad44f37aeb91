//go:build linux

package netx_test

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/burrowproject/burrow/internal/netx"
	"github.com/burrowproject/burrow/internal/testutil"
)

// Parker timings in these tests: copies park after parkTestAfter; the
// sweep for sockets closed by others runs every parkTestSweep, or never
// within a test (parkNoSweep) where only the link's own wake may end it.
const (
	parkTestAfter = 20 * time.Millisecond
	parkTestSweep = 50 * time.Millisecond
	parkNoSweep   = time.Hour
)

// waitParked waits (at most testutil.Wait) until k holds n copies.
func waitParked(t *testing.T, k *netx.Parker, n int) {
	t.Helper()
	for deadline := time.Now().Add(testutil.Wait); k.Parked() != n; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d copies parked, want %d", k.Parked(), n)
		}
	}
}

// A quiet link's copies from sockets park and hold no goroutine, and once
// bytes arrive they carry them, every byte in order, and park again:
// spliced, buffered (one copy is from a connection that is not a socket:
// it waits in its read) and over TLS (awaited at the socket below it).
func TestQuietLinkParksAndCarriesBytesAgain(t *testing.T) {
	for _, tc := range []struct {
		name  string
		parks int
		open  func(t *testing.T, o netx.JoinOptions) (user, far net.Conn)
	}{
		{"spliced", 2, func(t *testing.T, o netx.JoinOptions) (net.Conn, net.Conn) {
			j := start(t, o)
			return j.user, j.target
		}},
		{"buffered", 1, func(t *testing.T, o netx.JoinOptions) (net.Conn, net.Conn) {
			j := newJoined(t, func(a, b net.Conn, j *joined) {
				netx.Start(a, plainConn{b}, o, func(_, _ int64, _ error) { close(j.done) })
			})
			return j.user, j.target
		}},
		{"tls", 2, func(t *testing.T, o netx.JoinOptions) (net.Conn, net.Conn) {
			return tlsJoined(t, serverTLS(t), o)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := netx.NewParker(parkTestAfter, parkTestSweep)
			user, far := tc.open(t, netx.JoinOptions{Park: k, Hot: stackTestHot})
			for round := range 3 {
				oneByte(t, user, far)
				oneByte(t, far, user)
				waitParked(t, k, tc.parks)
				// Bigger than a socket's buffers: many reads and waits.
				up, down := randomBytes(t, 1<<20+round), randomBytes(t, 300<<10)
				exchange(t, user, far, up, down)
				waitParked(t, k, tc.parks)
			}
		})
	}
}

// exchange writes up from user to far and down from far to user at once
// and fails unless each arrives whole and unchanged.
func exchange(t *testing.T, user, far net.Conn, up, down []byte) {
	t.Helper()
	var wg sync.WaitGroup
	var gotUp, gotDown []byte
	var errs [4]error
	wg.Go(func() { _, errs[0] = user.Write(up) })
	wg.Go(func() { _, errs[1] = far.Write(down) })
	wg.Go(func() {
		gotUp = make([]byte, len(up))
		_ = far.SetReadDeadline(time.Now().Add(testutil.Wait))
		_, errs[2] = io.ReadFull(far, gotUp)
		_ = far.SetReadDeadline(time.Time{})
	})
	wg.Go(func() {
		gotDown = make([]byte, len(down))
		_ = user.SetReadDeadline(time.Now().Add(testutil.Wait))
		_, errs[3] = io.ReadFull(user, gotDown)
		_ = user.SetReadDeadline(time.Time{})
	})
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(gotUp, up) || !bytes.Equal(gotDown, down) {
		t.Fatal("bytes changed on the way")
	}
}

// Parked idle links hold no goroutines: 100 of them add only the
// Parker's own.
func TestParkedLinksHoldNoGoroutines(t *testing.T) {
	const n = 100
	k := netx.NewParker(parkTestAfter, parkTestSweep)
	before := runtime.NumGoroutine()
	for range n {
		j := start(t, netx.JoinOptions{Park: k, Hot: stackTestHot})
		roundTripOnce(t, j)
		roundTripBack(t, j)
	}
	waitParked(t, k, 2*n)
	if extra := runtime.NumGoroutine() - before; extra > 1 {
		t.Fatalf("%d idle parked links hold %d goroutines, want at most the Parker's one", n, extra)
	}
}

// A parked link ends when its connections close, each way they can:
// the user closes (the Parker hears it), the link's idle timeout closes
// both ends, the far end resets it (the other copy fails and resets
// both), or someone else closes one of its connections (the sweep finds
// it, or at once when they call Sweep). Only that one may wait for a
// sweep: the others end at once.
func TestParkedLinkEnds(t *testing.T) {
	for _, tc := range []struct {
		name  string
		sweep time.Duration
		o     netx.JoinOptions
		end   func(t *testing.T, j *joined, a net.Conn)
	}{
		{"both ends close", parkNoSweep, netx.JoinOptions{}, func(t *testing.T, j *joined, _ net.Conn) {
			_ = j.user.Close()
			// The end reaches the target (the Parker heard it), whose
			// close then ends the other copy.
			_ = j.target.SetReadDeadline(time.Now().Add(testutil.Wait))
			if n, err := j.target.Read(make([]byte, 1)); n != 0 || err != io.EOF {
				t.Fatalf("target read %d, %v after the user closed; want EOF", n, err)
			}
			_ = j.target.Close()
		}},
		{"idle timeout", parkNoSweep, netx.JoinOptions{Idle: 300 * time.Millisecond}, func(*testing.T, *joined, net.Conn) {}},
		{"far end resets", parkNoSweep, netx.JoinOptions{}, func(_ *testing.T, j *joined, _ net.Conn) {
			_ = j.target.SetLinger(0)
			_ = j.target.Close()
		}},
		{"closed by another", parkTestSweep, netx.JoinOptions{}, func(_ *testing.T, _ *joined, a net.Conn) { _ = a.Close() }},
		{"closed by another who sweeps", parkNoSweep, netx.JoinOptions{}, func(_ *testing.T, _ *joined, a net.Conn) { _ = a.Close() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := netx.NewParker(parkTestAfter, tc.sweep)
			o := tc.o
			o.Park, o.Hot = k, stackTestHot
			var a net.Conn
			j := newJoined(t, func(inner, b net.Conn, j *joined) {
				a = inner
				netx.Start(inner, b, o, func(_, _ int64, _ error) { close(j.done) })
			})
			roundTripOnce(t, j)
			roundTripBack(t, j)
			waitParked(t, k, 2)
			tc.end(t, j, a)
			if strings.HasSuffix(tc.name, "who sweeps") {
				k.Sweep()
			}
			j.wait(t, 2*time.Second)
			waitParked(t, k, 0)
		})
	}
}

// Many links parking and waking at once, their copies parked and woken
// by bytes, by their own ends and by others' closes found by sweeps, all
// carry their bytes intact and all end: the Parker's slots, generations
// and re-armed registrations under churn (and, with -race, its locking).
func TestParkerUnderChurn(t *testing.T) {
	const links, rounds = 40, 8
	k := netx.NewParker(time.Millisecond, 5*time.Millisecond)
	var wg sync.WaitGroup
	errs := make(chan error, links)
	for i := range links {
		var a net.Conn
		j := newJoined(t, func(inner, b net.Conn, j *joined) {
			a = inner
			var o netx.JoinOptions
			o.Park, o.Hot = k, time.Millisecond
			if i%2 == 1 {
				b = plainConn{b} // buffered, one copy not from a socket
			}
			netx.Start(inner, b, o, func(_, _ int64, _ error) { close(j.done) })
		})
		wg.Go(func() {
			for r := range rounds {
				msg := bytes.Repeat([]byte{byte(i), byte(r)}, 1+(i*r)%3000)
				if err := echoOnce(j.user, j.target, msg); err != nil {
					errs <- err
					return
				}
				if err := echoOnce(j.target, j.user, msg); err != nil {
					errs <- err
					return
				}
				time.Sleep(time.Duration((i+r)%4) * 2 * time.Millisecond) // some rounds park
			}
			switch i % 3 { // end it one way or another
			case 0:
				_ = j.user.Close()
				_ = j.target.Close()
			case 1:
				_ = j.target.SetLinger(0)
				_ = j.target.Close()
			case 2:
				_ = a.Close() // found by a sweep
			}
			select {
			case <-j.done:
			case <-time.After(testutil.Wait):
				errs <- fmt.Errorf("link %d did not end", i)
			}
		})
	}
	done := make(chan struct{})
	most := 0 // the most copies seen parked at once: the churn did park
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			most = max(most, k.Parked())
			select {
			case <-done:
				return
			case <-time.After(200 * time.Microsecond):
			}
		}
	}()
	wg.Wait()
	close(done)
	<-sampled
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if most == 0 {
		t.Error("no copy parked during the churn")
	}
	t.Logf("at most %d copies parked at once", most)
	waitParked(t, k, 0)
}

// echoOnce writes msg to from and reads it whole from to, within
// testutil.Wait.
func echoOnce(from, to net.Conn, msg []byte) error {
	errc := make(chan error, 1)
	go func() { _, err := from.Write(msg); errc <- err }()
	got := make([]byte, len(msg))
	_ = to.SetReadDeadline(time.Now().Add(testutil.Wait))
	_, err := io.ReadFull(to, got)
	_ = to.SetReadDeadline(time.Time{})
	if werr := <-errc; err == nil {
		err = werr
	}
	if err == nil && !bytes.Equal(got, msg) {
		err = fmt.Errorf("%d bytes changed on the way", len(msg))
	}
	return err
}
