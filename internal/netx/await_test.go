package netx_test

import (
	"bytes"
	"crypto/tls"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/burrowproject/burrow/internal/netx"
	"github.com/burrowproject/burrow/internal/testutil"
	"github.com/burrowproject/burrow/internal/tlsx"
)

// tlsLink is a link over TLS on a tlsx.RecordConn, as a pooled link over
// bridge TLS is: netx.Awaitable.
type tlsLink struct{ *tls.Conn }

func (l tlsLink) AwaitSocket() *net.TCPConn { return netx.TCP(tlsx.BelowRecords(l.Conn)) }
func (l tlsLink) Buffered() bool            { return tlsx.Buffered(l.Conn) }
func (l tlsLink) AwaitErr(err error) error  { return err }

// tlsJoined is a TLS connection (far) whose other end, over a RecordConn,
// is joined by Start to a TCP connection whose other end is user:
//
//	user <-> [a  Start  tlsLink] <-> far (TLS)
func tlsJoined(t *testing.T, cfg *tls.Config, o netx.JoinOptions) (user net.Conn, far *tls.Conn) {
	t.Helper()
	user, a := testutil.TCPPair(t)
	b, c := testutil.TCPPair(t)
	near, far := testutil.TLSPair(t, tlsx.NewRecordConn(b), c, cfg)
	done := make(chan struct{})
	netx.Start(a, tlsLink{near}, o, func(_, _ int64, _ error) { close(done) })
	t.Cleanup(func() {
		_ = user.Close()
		_ = far.Close()
		endsWithin(t, done)
	})
	return user, far
}

func serverTLS(t *testing.T) *tls.Config {
	t.Helper()
	cert, err := tlsx.SelfSigned("x")
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}}
}

// A copy from a TLS link it awaits at the socket carries every byte, in
// order, whether records arrive one by one, many at once, or larger than
// a read.
func TestStartFromAwaitableCarriesEveryByte(t *testing.T) {
	user, far := tlsJoined(t, serverTLS(t), netx.JoinOptions{})
	rng := rand.New(rand.NewPCG(3, 4))
	var sent bytes.Buffer
	var wg sync.WaitGroup
	wg.Go(func() {
		for burst := range 200 {
			for range 1 + rng.IntN(20) {
				msg := make([]byte, 1+rng.IntN(40<<10))
				for i := range msg {
					msg[i] = byte(rng.Uint32())
				}
				sent.Write(msg)
				if _, err := far.Write(msg); err != nil {
					t.Error(err)
					return
				}
			}
			if burst%10 == 0 {
				time.Sleep(time.Millisecond) // the copy goes idle and waits
			}
		}
		_ = far.CloseWrite()
	})
	_ = user.SetReadDeadline(time.Now().Add(6 * testutil.Wait))
	got, err := io.ReadAll(user)
	if err != nil {
		_ = far.Close() // the writer, blocked on a copy that stopped, ends too
	}
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, sent.Bytes()) {
		t.Fatalf("received %d bytes of %d, or changed", len(got), sent.Len())
	}
}

// An idle TLS link's copy waits at the socket in a fresh goroutine too,
// once it has been quiet for the hot window.
func TestStartedIdleTLSLinkHoldsMinimalStacks(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's instrumentation grows the stacks it measures")
	}
	cfg := serverTLS(t)
	checkIdleStacks(t, func(t *testing.T) {
		user, far := tlsJoined(t, cfg, netx.JoinOptions{Hot: stackTestHot})
		oneByte(t, far, user)
		oneByte(t, user, far)
	})
}

// A TLS link whose copies, busy, waited in place, and then (quiet past
// the hot window) in fresh goroutines, carries bytes both ways at every
// step: the window's deadline is gone once it ended, for the copy and for
// TLS.
func TestTLSLinkCarriesBytesAcrossTheHotWindow(t *testing.T) {
	user, far := tlsJoined(t, serverTLS(t), netx.JoinOptions{Hot: acrossHot})
	carryAcrossHotWindow(t, user, far)
}

// The same for a spliced link, whose busy copies wait in the splice
// itself: the bytes and the counts are exact, and the window's deadline
// does not outlive it.
func TestSplicedLinkCarriesBytesAcrossTheHotWindow(t *testing.T) {
	var j *joined
	j = newJoined(t, func(a, b net.Conn, j *joined) {
		netx.Start(a, b, netx.JoinOptions{Hot: acrossHot}, func(ab, ba int64, err error) {
			j.aToB, j.bToA, j.err = ab, ba, err
			close(j.done)
		})
	})
	carryAcrossHotWindow(t, j.user, j.target)
	_ = j.user.CloseWrite()
	_ = j.target.CloseWrite()
	select {
	case <-j.done:
	case <-time.After(testutil.Wait):
		t.Fatal("the link did not end after both ends closed their writes")
	}
	if want := int64(3 * 11); j.aToB != want || j.bToA != want || j.err != nil {
		t.Fatalf("copied %d and %d bytes, %v; want %d each way and no error", j.aToB, j.bToA, j.err, want)
	}
}

// acrossHot is the hot window of the links carryAcrossHotWindow drives.
const acrossHot = 20 * time.Millisecond

// carryAcrossHotWindow drives a link whose copies, busy, wait in place,
// and then (quiet past the hot window) in fresh goroutines: a byte each
// way at every step, 33 in all each way.
func carryAcrossHotWindow(t *testing.T, user, far net.Conn) {
	t.Helper()
	for range 3 {
		for range 10 { // busy: the copies wait in place
			oneByte(t, far, user)
			oneByte(t, user, far)
		}
		time.Sleep(3 * acrossHot) // quiet: they move to fresh goroutines
		oneByte(t, far, user)
		oneByte(t, user, far)
	}
}
