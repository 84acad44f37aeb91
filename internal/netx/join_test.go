package netx_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/burrowproject/burrow/internal/netx"
	"github.com/burrowproject/burrow/internal/testutil"
)

func TestMain(m *testing.M) { testutil.VerifyNoLeaks(m) }

// joined is a user connection and a target connection with Join running
// between the two inner ends:
//
//	user <-> [a  Join  b] <-> target
type joined struct {
	user, target *net.TCPConn
	done         chan struct{}
	aToB, bToA   int64
	err          error
}

func join(t *testing.T, o netx.JoinOptions) *joined {
	t.Helper()
	return newJoined(t, func(a, b net.Conn, j *joined) {
		go func() {
			defer close(j.done)
			j.aToB, j.bToA, j.err = netx.Join(a, b, o)
		}()
	})
}

// start is join with the copy handed over (netx.Start): done reports it.
func start(t *testing.T, o netx.JoinOptions) *joined {
	t.Helper()
	return newJoined(t, func(a, b net.Conn, j *joined) {
		netx.Start(a, b, o, func(aToB, bToA int64, err error) {
			j.aToB, j.bToA, j.err = aToB, bToA, err
			close(j.done)
		})
	})
}

// newJoined makes the two connection pairs and has run copy between their
// inner ends, closing j.done once the copy is over.
func newJoined(t *testing.T, run func(a, b net.Conn, j *joined)) *joined {
	t.Helper()
	user, a := testutil.TCPPair(t)
	b, target := testutil.TCPPair(t)
	j := &joined{user: user, target: target, done: make(chan struct{})}
	run(a, b, j)
	j.cleanup(t)
	return j
}

// forBoth runs test with Join and with Start.
func forBoth(t *testing.T, test func(t *testing.T, join func(*testing.T, netx.JoinOptions) *joined)) {
	t.Run("Join", func(t *testing.T) { test(t, join) })
	t.Run("Start", func(t *testing.T) { test(t, start) })
}

func (j *joined) cleanup(t *testing.T) {
	t.Cleanup(func() {
		_ = j.user.Close()
		_ = j.target.Close()
		endsWithin(t, j.done)
	})
}

// endsWithin fails unless done is closed within testutil.Wait: a copy
// that never ends fails its test, not the whole run by its timeout.
func endsWithin(t *testing.T, done <-chan struct{}) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(testutil.Wait):
		t.Errorf("the copy did not end within %v of both connections' close", testutil.Wait)
	}
}

func (j *joined) wait(t *testing.T, within time.Duration) {
	t.Helper()
	select {
	case <-j.done:
	case <-time.After(within):
		t.Fatalf("Join still running after %v", within)
	}
}

func randomBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestJoinCopiesBothWaysAndCounts(t *testing.T) { forBoth(t, testJoinCopiesBothWaysAndCounts) }

func testJoinCopiesBothWaysAndCounts(t *testing.T, join func(*testing.T, netx.JoinOptions) *joined) {
	t.Parallel()
	var up, down atomic.Int64
	j := join(t, netx.JoinOptions{AToB: netx.Flow{Count: &up}, BToA: netx.Flow{Count: &down}})
	toTarget := randomBytes(t, 3<<20+17)
	toUser := randomBytes(t, 2<<20+5)

	var wg sync.WaitGroup
	var gotTarget, gotUser []byte
	var errs [4]error
	wg.Add(4)
	go func() { defer wg.Done(); _, errs[0] = j.user.Write(toTarget); _ = j.user.CloseWrite() }()
	go func() { defer wg.Done(); _, errs[1] = j.target.Write(toUser); _ = j.target.CloseWrite() }()
	go func() { defer wg.Done(); gotTarget, errs[2] = io.ReadAll(j.target) }()
	go func() { defer wg.Done(); gotUser, errs[3] = io.ReadAll(j.user) }()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(testutil.Wait):
		_ = j.user.Close()
		_ = j.target.Close()
		<-done
		t.Fatal("copy did not finish")
	}
	if err := errors.Join(errs[:]...); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(gotTarget, toTarget) || !bytes.Equal(gotUser, toUser) {
		t.Fatalf("data corrupted: target got %d/%d bytes, user got %d/%d", len(gotTarget), len(toTarget), len(gotUser), len(toUser))
	}
	j.wait(t, testutil.Wait)
	if j.err != nil {
		t.Fatalf("Join error after an orderly end: %v", j.err)
	}
	if j.aToB != int64(len(toTarget)) || j.bToA != int64(len(toUser)) {
		t.Fatalf("Join returned %d/%d, want %d/%d", j.aToB, j.bToA, len(toTarget), len(toUser))
	}
	if up.Load() != int64(len(toTarget)) || down.Load() != int64(len(toUser)) {
		t.Fatalf("counters %d/%d, want %d/%d", up.Load(), down.Load(), len(toTarget), len(toUser))
	}
}

// Counters move while bytes flow, not only when the connection ends.
func TestJoinCountsLive(t *testing.T) {
	t.Parallel()
	var up atomic.Int64
	j := join(t, netx.JoinOptions{AToB: netx.Flow{Count: &up}})
	if _, err := j.user.Write([]byte("12345")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	_ = j.target.SetReadDeadline(time.Now().Add(testutil.Wait))
	if _, err := io.ReadFull(j.target, buf); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, testutil.Wait, time.Millisecond, func() bool { return up.Load() == 5 }, "5 bytes counted while the pair is open")
	select {
	case <-j.done:
		t.Fatal("Join ended early")
	default:
	}
}

func TestJoinHalfClose(t *testing.T) { forBoth(t, testJoinHalfClose) }

func testJoinHalfClose(t *testing.T, join func(*testing.T, netx.JoinOptions) *joined) {
	t.Parallel()
	j := join(t, netx.JoinOptions{})
	_ = j.user.SetDeadline(time.Now().Add(testutil.Wait))
	_ = j.target.SetDeadline(time.Now().Add(testutil.Wait))
	if _, err := j.user.Write([]byte("request")); err != nil {
		t.Fatal(err)
	}
	if err := j.user.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	req, err := io.ReadAll(j.target) // ends only if the half-close got through
	if err != nil || string(req) != "request" {
		t.Fatalf("target read %q, %v", req, err)
	}
	// The user, having half-closed, still gets the reply.
	if _, err := j.target.Write([]byte("reply")); err != nil {
		t.Fatalf("target reply after the user's half-close: %v", err)
	}
	_ = j.target.CloseWrite()
	resp, err := io.ReadAll(j.user)
	if err != nil || string(resp) != "reply" {
		t.Fatalf("user read %q, %v after half-closing", resp, err)
	}
	j.wait(t, testutil.Wait)
	if j.err != nil || j.aToB != 7 || j.bToA != 5 {
		t.Fatalf("Join = %d, %d, %v", j.aToB, j.bToA, j.err)
	}
}

func TestJoinErrorClosesBoth(t *testing.T) { forBoth(t, testJoinErrorClosesBoth) }

func testJoinErrorClosesBoth(t *testing.T, join func(*testing.T, netx.JoinOptions) *joined) {
	t.Parallel()
	j := join(t, netx.JoinOptions{})
	roundTripOnce(t, j)
	// The user resets its connection: Join's read on a fails with an error,
	// which must close the target side too.
	_ = j.user.SetLinger(0)
	_ = j.user.Close()
	_ = j.target.SetReadDeadline(time.Now().Add(testutil.Wait))
	start := time.Now()
	_, err := io.ReadAll(j.target)
	if isTimeout(err) {
		t.Fatal("target still open after the user's connection failed")
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("target closed %v after the failure", el)
	}
	j.wait(t, testutil.Wait)
	if j.err == nil {
		t.Fatal("Join reported no error for a reset connection")
	}
}

func roundTripOnce(t *testing.T, j *joined) { t.Helper(); oneByte(t, j.user, j.target) }

// roundTripBack is roundTripOnce the other way: target to user.
func roundTripBack(t *testing.T, j *joined) { t.Helper(); oneByte(t, j.target, j.user) }

// oneByte writes a byte to from and reads it from to.
func oneByte(t *testing.T, from, to net.Conn) {
	t.Helper()
	if _, err := from.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	one := make([]byte, 1)
	_ = to.SetReadDeadline(time.Now().Add(testutil.Wait))
	if _, err := io.ReadFull(to, one); err != nil {
		t.Fatal(err)
	}
	_ = to.SetReadDeadline(time.Time{})
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestJoinIdle(t *testing.T) {
	t.Parallel()
	const idle = 150 * time.Millisecond

	// A quiet pair is closed between one and two periods after its last byte.
	quiet := join(t, netx.JoinOptions{Idle: idle})
	roundTripOnce(t, quiet)
	start := time.Now()
	_ = quiet.target.SetReadDeadline(time.Now().Add(testutil.Wait))
	if _, err := io.ReadAll(quiet.target); isTimeout(err) {
		t.Fatal("idle pair not closed")
	}
	if el := time.Since(start); el < idle/2 || el > 2*time.Second {
		t.Fatalf("idle pair closed after %v, idle %v", el, idle)
	}
	quiet.wait(t, testutil.Wait)

	// A pair with a byte every idle/3 stays open for several periods.
	busy := join(t, netx.JoinOptions{Idle: idle})
	for range 15 {
		roundTripOnce(t, busy)
		time.Sleep(idle / 3)
	}
	select {
	case <-busy.done:
		t.Fatal("an active pair was closed as idle")
	default:
	}
	roundTripOnce(t, busy)
}

func TestJoinRateLimit(t *testing.T) {
	t.Parallel()
	const bps = 1 << 20 // 8 Mbit/s
	lim := rate.NewLimiter(bps, netx.ChunkSize)
	j := join(t, netx.JoinOptions{AToB: netx.Flow{Limit: lim}})
	data := randomBytes(t, 1<<20)
	start := time.Now()
	go func() { _, _ = j.user.Write(data); _ = j.user.CloseWrite() }()
	_ = j.target.SetReadDeadline(time.Now().Add(testutil.Wait))
	got, err := io.ReadAll(j.target)
	el := time.Since(start)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes, %v", len(got), err)
	}
	// 1 MiB minus the initial burst at 1 MiB/s is 0.94 s.
	if el < 800*time.Millisecond || el > 4*time.Second {
		t.Fatalf("1 MiB at 8 Mbit/s took %v, want about 0.94s", el)
	}
}

func TestWaitSplitsIntoBursts(t *testing.T) {
	t.Parallel()
	if err := netx.Wait(nil, 1<<30); err != nil {
		t.Fatal(err)
	}
	// n larger than the burst must not fail (WaitN refuses n > burst).
	l := rate.NewLimiter(rate.Inf, 10)
	if err := netx.Wait(l, 1000); err != nil {
		t.Fatalf("Wait for 100 bursts: %v", err)
	}
}

func TestCopy(t *testing.T) {
	t.Parallel()
	var n atomic.Int64
	data := randomBytes(t, 300<<10)
	var dst bytes.Buffer
	got, err := netx.Copy(&dst, bytes.NewReader(data), netx.Flow{Count: &n})
	if err != nil || got != int64(len(data)) || n.Load() != got || !bytes.Equal(dst.Bytes(), data) {
		t.Fatalf("Copy: %d, %v, counted %d", got, err, n.Load())
	}
	// Through the pooled loop (a reader without WriteTo) with a limiter.
	n.Store(0)
	dst.Reset()
	got, err = netx.Copy(&dst, io.LimitReader(bytes.NewReader(data), int64(len(data))), netx.Flow{Count: &n, Limit: rate.NewLimiter(rate.Inf, 1)})
	if err != nil || got != int64(len(data)) || n.Load() != got || !bytes.Equal(dst.Bytes(), data) {
		t.Fatalf("Copy (pooled): %d, %v, counted %d", got, err, n.Load())
	}
	// A writer error is returned.
	_, err = netx.Copy(failWriter{}, bytes.NewReader(data), netx.Flow{})
	if err == nil {
		t.Fatal("Copy into a failing writer returned nil")
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestAcceptLoopStopsOnCancel(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var handled atomic.Int32
	done := make(chan struct{})
	go func() {
		defer close(done)
		netx.AcceptLoop(ctx, ln, slog.New(slog.DiscardHandler), func(c net.Conn) {
			handled.Add(1)
			_ = c.Close()
		})
	}()
	for range 3 {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		_ = c.Close()
	}
	testutil.Eventually(t, testutil.Wait, time.Millisecond, func() bool { return handled.Load() == 3 }, "three connections handled")
	cancel()
	select {
	case <-done:
	case <-time.After(testutil.Wait):
		t.Fatal("AcceptLoop did not stop on cancel")
	}
	if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("listener not closed by AcceptLoop: %v", err)
	}

	// It also ends when the listener is closed by its owner.
	ln2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done2 := make(chan struct{})
	go func() {
		defer close(done2)
		netx.AcceptLoop(context.Background(), ln2, slog.New(slog.DiscardHandler), func(c net.Conn) { _ = c.Close() })
	}()
	_ = ln2.Close()
	select {
	case <-done2:
	case <-time.After(testutil.Wait):
		t.Fatal("AcceptLoop did not stop when its listener closed")
	}
}

// onlyReader hides every method of its reader but Read, so Copy takes its
// buffered loop.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

// keepingWriter remembers the first byte of every buffer it is handed, as a
// smux stream whose Write timed out still holds its queued frame; fail makes
// Write fail after taking the buffer.
type keepingWriter struct {
	seen []*byte
	fail bool
}

func (w *keepingWriter) Write(p []byte) (int, error) {
	w.seen = append(w.seen, &p[0])
	if w.fail {
		return 0, errors.New("write timed out")
	}
	return len(p), nil
}

// A buffer whose Write failed may still be read by the writer later, so
// Copy must not lend it to the next copy (which would read another
// connection's bytes into it).
func TestCopyDoesNotReuseABufferAWriteFailedOn(t *testing.T) {
	kept := map[*byte]bool{}
	for range 200 {
		failing := &keepingWriter{fail: true}
		if _, err := netx.Copy(failing, onlyReader{bytes.NewReader([]byte("secret"))}, netx.Flow{}); err == nil {
			t.Fatal("Copy to a failing writer returned no error")
		}
		for _, p := range failing.seen {
			kept[p] = true
		}
		next := &keepingWriter{}
		if _, err := netx.Copy(next, onlyReader{bytes.NewReader([]byte("other"))}, netx.Flow{}); err != nil {
			t.Fatalf("Copy: %v", err)
		}
		for _, p := range next.seen {
			if kept[p] {
				t.Fatal("a buffer a failed Write still holds was lent to the next copy")
			}
		}
	}
}

// An idle link started with Start waits in fresh goroutines: after bytes
// passed both ways (its copies' stacks grew), each of its two waiting
// goroutines holds a minimal stack (2 KiB), not the 4 KiB or more of the
// goroutine that copied: a socket joined to a link whose verdict is read
// first (as a pooled link's is), with and without a rate limit.
func TestStartedIdleLinkHoldsMinimalStacks(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's instrumentation grows the stacks it measures")
	}
	unlimited := func() netx.Flow { return netx.Flow{Limit: rate.NewLimiter(rate.Inf, 1<<20)} }
	for _, tc := range []struct {
		name string
		o    netx.JoinOptions
	}{
		{"spliced", netx.JoinOptions{Hot: stackTestHot}},
		{"limited", netx.JoinOptions{AToB: unlimited(), BToA: unlimited(), Hot: stackTestHot}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkIdleStacks(t, func(t *testing.T) {
				j := newJoined(t, func(a, b net.Conn, j *joined) {
					netx.Start(a, verdictLink{b.(*net.TCPConn)}, tc.o, func(_, _ int64, _ error) { close(j.done) })
				})
				roundTripOnce(t, j)
				roundTripBack(t, j)
			})
		})
	}
}

// stackTestHot is the hot window of the links whose idle stacks are
// measured: they are measured once it is over.
const stackTestHot = 20 * time.Millisecond

// checkIdleStacks opens 200 links with open (each carries bytes both ways
// and stays open) and, once they were quiet past stackTestHot, fails
// unless their goroutines hold two minimal stacks per link, with a little
// slack.
func checkIdleStacks(t *testing.T, open func(t *testing.T)) {
	t.Helper()
	const n = 200
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	before := ms.StackInuse
	for range n {
		open(t)
	}
	time.Sleep(10 * stackTestHot) // the last link's copies shed their stacks
	runtime.GC()
	runtime.ReadMemStats(&ms)
	perLink := (int64(ms.StackInuse) - int64(before)) / n
	t.Logf("goroutine stacks per idle link: %d B", perLink)
	if limit := int64(2*2048 + 1024); perLink > limit {
		t.Fatalf("an idle link holds %d B of goroutine stacks, want at most %d (two fresh 2 KiB stacks)", perLink, limit)
	}
}

// verdictLink is a spliceable link that, like a pooled tunnel link, does
// work with a deep stack (reading its verdict) before its bytes flow.
type verdictLink struct{ *net.TCPConn }

func (l verdictLink) SpliceConn(bool) (*net.TCPConn, error) {
	if deepStack(8) == 0 {
		return nil, errors.New("unreachable")
	}
	return l.TCPConn, nil
}

func (l verdictLink) SpliceErr(err error) error { return err }

// deepStack uses about n KiB of stack.
func deepStack(n int) int {
	var pad [1024]byte
	pad[n] = byte(n + 1)
	if n == 0 {
		return int(pad[0])
	}
	return deepStack(n-1) + int(pad[n])
}

// Waiting for a socket and splicing allocate nothing: a started link
// carrying one byte each way at a time, waiting between them in place or
// in fresh goroutines (a fresh goroutine's stack comes from the runtime's
// cache, not the heap), allocates no more than the same round trips over
// a plain connection (the test's own writes and reads).
func TestWaitingForASocketAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	a, b := testutil.TCPPair(t)
	own := testing.AllocsPerRun(200, func() {
		oneByte(t, a, b)
		oneByte(t, b, a)
	})
	for _, tc := range []struct {
		name string
		hot  time.Duration
		wrap func(net.Conn) net.Conn
	}{
		{"spliced", -1, nil},
		{"spliced/hot", time.Minute, nil},
		{"buffered", -1, func(c net.Conn) net.Conn { return plainConn{c} }},
		{"buffered/hot", time.Minute, func(c net.Conn) net.Conn { return plainConn{c} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := newJoined(t, func(a, b net.Conn, j *joined) {
				if tc.wrap != nil {
					b = tc.wrap(b)
				}
				netx.Start(a, b, netx.JoinOptions{Hot: tc.hot}, func(_, _ int64, _ error) { close(j.done) })
			})
			for range 20 { // warm: buffers and pipes pooled, the copies' stacks grown
				roundTripOnce(t, j)
				roundTripBack(t, j)
			}
			allocs := testing.AllocsPerRun(200, func() {
				roundTripOnce(t, j)
				roundTripBack(t, j)
			})
			if allocs > own+0.5 {
				t.Fatalf("%.2f allocations per round trip each way, %.2f of them the test's own: want no more", allocs, own)
			}
		})
	}
}

// plainConn hides a TCP connection's type: a copy to it cannot splice.
type plainConn struct{ net.Conn }
