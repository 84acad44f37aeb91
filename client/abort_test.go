package client

import (
	"net"
	"testing"
	"time"

	"github.com/burrowproject/burrow/bridge"
	"github.com/burrowproject/burrow/internal/testutil"
)

// A link the bridge closes while the backend is still sending (a user who
// abandoned a download) is aborted on the control stream: the agent drops
// its target connection at once, instead of reading the FIN as a
// half-close and blocking on a stream nobody reads.
func TestBridgeCloseAbortsTargetConnection(t *testing.T) {
	t.Parallel()
	srv, addr := startBridge(t, "k")
	released := make(chan time.Duration, 1)
	source := testutil.ServeTCP(t, func(c net.Conn) {
		buf := make([]byte, 32<<10)
		start := time.Now()
		for range 100_000 { // far more than any window: only an abort ends this early
			_ = c.SetWriteDeadline(time.Now().Add(30 * time.Second))
			if _, err := c.Write(buf); err != nil {
				break
			}
		}
		released <- time.Since(start)
	})
	startAgent(t, Config{Bridge: addr, Key: "k", Allow: loopback(t)})
	online(t, srv, "k")

	l, err := srv.Open(testutil.Context(t), "k", bridge.LinkHeader{Network: bridge.NetworkTCP, Target: source})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Read(make([]byte, 1024)); err != nil { // the download is under way
		t.Fatal(err)
	}
	closed := time.Now()
	_ = l.Close()
	select {
	case <-released:
		if d := time.Since(closed); d > 2*time.Second {
			t.Fatalf("backend released %v after the bridge closed the link", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("backend still writing 10s after the bridge closed the link: the agent did not abort it")
	}
}
