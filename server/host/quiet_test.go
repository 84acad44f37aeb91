package host_test

import (
	"context"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/burrowproject/burrow/internal/testutil"
	"github.com/burrowproject/burrow/internal/testutil/tunneltest"
	"github.com/burrowproject/burrow/plugins/sdk"
	"github.com/burrowproject/burrow/server/host"
)

// A flood of failed links (the agent is offline) writes at most LinkLog
// warnings per window; the rest are counted, told to OnLogSuppressed, and
// reported in one line at the end of the window.
func TestFailedLinkLogsAreBounded(t *testing.T) {
	t.Parallel()
	tn := tunneltest.Serve(t, "k") // no agent: every link fails
	h := tn.Host()
	var quieted atomic.Int64
	h.OnLogSuppressed(func(n int) { quieted.Add(int64(n)) })
	logs := &testutil.SyncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	inst := host.Instance{Spec: sdk.InstanceSpec{ID: "q", Listen: "127.0.0.1:0", Targets: []string{"127.0.0.1:1"}},
		AgentKey: "k", TCP: true, LinkLog: 3, LinkLogWindow: 500 * time.Millisecond}
	if err := h.Add(inst, log); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Remove("q", 0) })
	const flood = 40
	for range flood {
		if _, err := h.Dial(context.Background(), sdk.LinkRequest{Instance: "q", Network: "tcp"}); err == nil {
			t.Fatal("a link through an offline agent succeeded")
		}
	}
	if n := strings.Count(logs.String(), `msg="link failed"`); n != 3 {
		t.Fatalf("%d failed-link warnings for %d failures, want 3:\n%s", n, flood, logs.String())
	}
	if q := quieted.Load(); q != flood-3 {
		t.Fatalf("OnLogSuppressed told %d, want %d", q, flood-3)
	}
	testutil.Eventually(t, 5*time.Second, 10*time.Millisecond, func() bool {
		return strings.Contains(logs.String(), `msg="failed links not logged" suppressed=37`)
	}, "the count of what was held back reported at the end of the window")
	// The next window logs again, and says nothing more was held back.
	time.Sleep(600 * time.Millisecond)
	_, _ = h.Dial(context.Background(), sdk.LinkRequest{Instance: "q", Network: "tcp"})
	if n := strings.Count(logs.String(), `msg="link failed"`); n != 4 {
		t.Fatalf("%d failed-link warnings after a new window, want 4", n)
	}
}
