package bridge_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/burrowproject/burrow/bridge"
	"github.com/burrowproject/burrow/internal/testutil"
)

// closedAtOnce reports whether the bridge closed c without a word.
func closedAtOnce(c net.Conn) bool {
	_ = c.SetReadDeadline(time.Now().Add(testutil.Wait))
	n, err := c.Read(make([]byte, 1))
	return n == 0 && (errors.Is(err, io.EOF) || isReset(err))
}

// Idle connections beyond the per-source cap are closed at once, beyond
// the global cap the oldest makes room, all counted; the refusals of a
// source whose handshakes fail wait; an agent with the right key still
// gets in at once, even from that source.
func TestStrangersAreBounded(t *testing.T) {
	t.Parallel()
	var r testutil.Counts
	const maxHS, perSource = 6, 4
	srv, addr := startBridge(t, bridge.Config{
		Keys: bridge.NewKeySet("k"), HandshakeTimeout: time.Second,
		MaxHandshakes: maxHS, SourceHandshakes: perSource, OnRefuse: r.Add,
	})
	var idle []net.Conn
	t.Cleanup(func() {
		for _, c := range idle {
			_ = c.Close()
		}
	})
	open := func(src string) net.Conn {
		t.Helper()
		c, err := dialFrom(src, addr)
		if err != nil {
			t.Fatal(err)
		}
		idle = append(idle, c)
		return c
	}
	for range perSource {
		open("127.0.0.2")
	}
	// The handshakes above are taken in their own time: wait until the
	// next one from that source is refused for being one too many.
	testutil.Eventually(t, testutil.Wait, 10*time.Millisecond, func() bool {
		return closedAtOnce(open("127.0.0.2")) && r.Get(bridge.RefusedSourceBusy) > 0
	}, "a fifth handshake from one source refused")
	open("127.0.0.3")
	open("127.0.0.3")
	// Every slot taken: the next connection gets one, and the oldest
	// handshake is closed to make room.
	testutil.Eventually(t, testutil.Wait, 10*time.Millisecond, func() bool {
		open("127.0.0.4")
		return r.Get(bridge.RefusedBusy) > 0
	}, "a handshake beyond the global cap makes room")
	if !closedAtOnce(idle[0]) {
		t.Fatal("the oldest handshake was not closed")
	}
	newest := idle[len(idle)-1]
	_ = newest.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := newest.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the newest handshake was not kept: %v", err)
	}

	// The idle ones time out: failures.
	testutil.Eventually(t, testutil.Wait, 20*time.Millisecond, func() bool { return r.Get(bridge.RefusedFailed) >= maxHS }, "idle handshakes time out")
	// Junk from the agent's own address: after a few failures its
	// refusals wait (and still come)...
	for i := range 5 {
		got, _ := rawExchange(t, addr, []byte("JUNK / HTTP/1.1\r\n\r\n"), true)
		if rep, err := bridge.ReadHelloReply(bytes.NewReader(got)); err != nil || rep.Status != bridge.StatusBadHello {
			t.Fatalf("junk %d: reply %+v, %v", i, rep, err)
		}
	}
	if r.Get(bridge.RefusedDelayed) == 0 {
		t.Fatal("a failing source's refusals did not wait")
	}
	// ...while an agent with the right key from that address gets in at once.
	sess, err := dial(testutil.Context(t), addr, "k")
	if err != nil {
		t.Fatalf("agent after the strangers: %v", err)
	}
	defer sess.Close()
	testutil.Eventually(t, testutil.Wait, 5*time.Millisecond, func() bool { return srv.Online("k") }, "agent online")
}
