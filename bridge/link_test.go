package bridge_test

import (
	"context"
	"testing"
	"time"

	"github.com/burrowproject/burrow/bridge"
	"github.com/burrowproject/burrow/internal/testutil"
)

// A context cancelled around the moment the verdict arrives must not leave
// a deadline behind on a link that got its ok: every such link keeps
// working. The cancel lands at varied points of the wait.
func TestCancelAfterVerdictLeavesLinkUsable(t *testing.T) {
	t.Parallel()
	srv, addr := startBridge(t, bridge.Config{Keys: bridge.NewKeySet("k")})
	rawAgent(t, addr, "k", "raw", echoLink)
	testutil.Eventually(t, testutil.Wait, 5*time.Millisecond, func() bool { return srv.Online("k") }, "agent online")
	usable := 0
	for i := range 200 {
		ctx, cancel := context.WithCancel(context.Background())
		l, err := srv.OpenLink(ctx, "k", bridge.LinkHeader{Network: bridge.NetworkTCP}, nil)
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		time.AfterFunc(time.Duration(i%20)*10*time.Microsecond, cancel)
		if err := l.AwaitVerdict(ctx); err == nil {
			usable++
			testutil.RoundTrip(t, l, "still usable")
		}
		cancel()
		_ = l.Close()
	}
	if usable == 0 {
		t.Fatal("no link got its verdict before the cancel: the test exercised nothing")
	}
}
