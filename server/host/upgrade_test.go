package host_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/burrowproject/burrow/internal/testutil"
	"github.com/burrowproject/burrow/internal/testutil/tunneltest"
	"github.com/burrowproject/burrow/plugins/sdk"
	"github.com/burrowproject/burrow/server/flow"
	"github.com/burrowproject/burrow/server/host"
)

const (
	upHead    = "GET /ws HTTP/1.1\r\nHost: a.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
	upPending = "GET /admin HTTP/1.1\r\nHost: a.test\r\n\r\n"
)

// upgradeBackend reads one request head, writes answer, then echoes
// everything else it receives (nothing, if the gate works, unless it
// switched). answer "" means never answer. heads gets a value per head read.
func upgradeBackend(t *testing.T, answer string, heads ...chan struct{}) string {
	return testutil.ServeTCP(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		for _, ch := range heads {
			ch <- struct{}{}
		}
		if answer == "" {
			_, _ = io.Copy(io.Discard, br)
			return
		}
		if _, err := io.WriteString(c, answer); err != nil {
			return
		}
		_, _ = io.Copy(c, br)
	})
}

func upgradeInstance(t *testing.T, target string) (*host.Host, *flow.Meter) {
	h := tunneltest.Start(t, "k").Host()
	m := flow.NewMeter(0, 0)
	add(t, h, host.Instance{Spec: sdk.InstanceSpec{ID: "i", Targets: []string{target}}, Meter: m})
	return h, m
}

var upOpts = sdk.HandoffOptions{FailReply: []byte("502"), Upgrade: "websocket", Pending: []byte(upPending), HeadTimeout: 2 * time.Second}

func TestHandoffUpgradeSwitches(t *testing.T) {
	t.Parallel()
	const ok101 = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
	h, m := upgradeInstance(t, upgradeBackend(t, ok101))
	user, handed := userConn(t)
	req := sdk.LinkRequest{Instance: "i", Network: "tcp", Meta: map[string]string{sdk.MetaRequestID: "r1"}}
	if err := h.Handoff(testutil.Context(t), handed, req, []byte(upHead), upOpts); err != nil {
		t.Fatal(err)
	}
	if got := readN(t, user, len(ok101)+len(upPending)); got != ok101+upPending {
		t.Fatalf("user got %q, want the 101 and then its own early bytes echoed", got)
	}
	if _, err := io.WriteString(user, "frame"); err != nil {
		t.Fatal(err)
	}
	if got := readN(t, user, 5); got != "frame" {
		t.Fatalf("echo %q", got)
	}
	_ = user.Close()
	rx, tx := int64(len(upHead)+len(upPending)+5), int64(len(ok101)+len(upPending)+5)
	testutil.Eventually(t, testutil.Wait, 5*time.Millisecond, func() bool {
		s := m.Snapshot()
		return s.TCPs == 0 && s.TCPRx == rx && s.TCPTx == tx
	}, "exact counts once the socket ends")
}

func TestHandoffUpgradeRefusedRelaysAndCloses(t *testing.T) {
	t.Parallel()
	const answer = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nKeep-Alive: timeout=9\r\n\r\nhello"
	h, m := upgradeInstance(t, upgradeBackend(t, answer))
	user, handed := userConn(t)
	if err := h.Handoff(testutil.Context(t), handed, sdk.LinkRequest{Instance: "i", Network: "tcp"}, []byte(upHead), upOpts); err != nil {
		t.Fatal(err)
	}
	// The client pipelines another request; it is never forwarded.
	if _, err := io.WriteString(user, upPending); err != nil {
		t.Fatal(err)
	}
	got := closedWithin(t, user, 5*time.Second)
	resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(got)), nil)
	if err != nil || resp.StatusCode != 200 || !resp.Close || resp.Header.Get("Keep-Alive") != "" {
		t.Fatalf("user got %q (%v), want the 200 with Connection: close", got, err)
	}
	if body, _ := io.ReadAll(resp.Body); string(body) != "hello" {
		t.Fatalf("body %q", body)
	}
	testutil.Eventually(t, testutil.Wait, 5*time.Millisecond, func() bool {
		s := m.Snapshot()
		return s.TCPs == 0 && s.TCPRx == int64(len(upHead)) && s.TCPTx == int64(len(got))
	}, "the head counted up, the relayed answer down, nothing of the pipelined request")
}

// A backend that never answers an upgrade holds neither the user nor
// Remove: the head timeout answers 504, and Remove ends a gate waiting.
func TestHandoffUpgradeSilentBackend(t *testing.T) {
	t.Parallel()
	heads := make(chan struct{}, 2)
	h, _ := upgradeInstance(t, upgradeBackend(t, "", heads))
	user, handed := userConn(t)
	opts := upOpts
	opts.HeadTimeout = 200 * time.Millisecond
	if err := h.Handoff(testutil.Context(t), handed, sdk.LinkRequest{Instance: "i", Network: "tcp"}, []byte(upHead), opts); err != nil {
		t.Fatal(err)
	}
	if got := closedWithin(t, user, 5*time.Second); !strings.HasPrefix(got, "HTTP/1.1 504 ") {
		t.Fatalf("user got %q, want a 504", got)
	}

	user2, handed2 := userConn(t)
	opts.HeadTimeout = time.Minute
	if err := h.Handoff(testutil.Context(t), handed2, sdk.LinkRequest{Instance: "i", Network: "tcp"}, []byte(upHead), opts); err != nil {
		t.Fatal(err)
	}
	<-heads
	<-heads // the second head reached the backend: the gate waits for its answer
	removed := make(chan struct{})
	go func() { h.Remove("i", 50*time.Millisecond); close(removed) }()
	select {
	case <-removed:
	case <-time.After(5 * time.Second):
		t.Fatal("Remove waits for a backend that never answers an upgrade")
	}
	closedWithin(t, user2, 2*time.Second)
}
