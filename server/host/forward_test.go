package host_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/burrowproject/burrow/internal/testutil"
	"github.com/burrowproject/burrow/internal/testutil/tunneltest"
	"github.com/burrowproject/burrow/plugins/sdk"
	"github.com/burrowproject/burrow/server/flow"
	"github.com/burrowproject/burrow/server/host"
)

// A forward serves the instance's listener from the host: every connection
// is linked and counted, the client's address reaches the agent, and the
// forward ends with its life while the listener stays open for the next.
func TestForwardServesListenerUntilLifeEnds(t *testing.T) {
	t.Parallel()
	h := tunneltest.Start(t, "k").Host()
	m := flow.NewMeter(0, 0)
	add(t, h, host.Instance{Spec: sdk.InstanceSpec{ID: "f", Targets: []string{testutil.ServeTCP(t, testutil.Echo)}}, Meter: m, TCP: true})
	addr := h.Addr("f").String()

	life, end := context.WithCancel(context.Background())
	if err := h.ForwardWhile(life, sdk.LinkRequest{Instance: "f", Network: "tcp"}, sdk.HandoffOptions{}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := testutil.EchoStream(addr, []byte("through the forward")); err != nil {
			t.Fatal(err)
		}
	}
	testutil.Eventually(t, testutil.Wait, 5*time.Millisecond, func() bool {
		s := m.Snapshot()
		return s.TCPs == 0 && s.TCPRx == 3*19 && s.TCPTx == 3*19
	}, "three connections counted exactly")

	held, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if err := testutil.EchoOnce(held, []byte("held"), testutil.Wait); err != nil {
		t.Fatal(err)
	}
	end()
	// Once the loop has stopped (it may take a moment), a new connection
	// waits in the backlog: accepted by the kernel, not served.
	var waiting net.Conn
	for try := 0; try < 20 && waiting == nil; try++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("listener closed when the forward's life ended: %v", err)
		}
		if err := testutil.EchoOnce(c, []byte("x"), 200*time.Millisecond); err == nil {
			_ = c.Close() // served: the loop had not stopped yet
			continue
		}
		waiting = c
	}
	if waiting == nil {
		t.Fatal("connections still served 20 tries after the forward's life ended")
	}
	defer waiting.Close()
	// Connections already handed off keep going.
	if err := testutil.EchoOnce(held, []byte("still"), testutil.Wait); err != nil {
		t.Fatalf("handed-off connection after the forward ended: %v", err)
	}
	// A new forward (the plugin restarted) picks up the waiting connection.
	if err := h.Forward(testutil.Context(t), sdk.LinkRequest{Instance: "f", Network: "tcp"}, sdk.HandoffOptions{}); err != nil {
		t.Fatal(err)
	}
	_ = waiting.SetReadDeadline(time.Now().Add(testutil.Wait))
	if got := readN(t, waiting, 1); got != "x" {
		t.Fatalf("waiting connection got %q, want the x it sent while waiting", got)
	}
	if err := testutil.EchoOnce(waiting, []byte("y"), testutil.Wait); err != nil {
		t.Fatalf("waiting connection after the second forward: %v", err)
	}
	// Asking again replaces the forward; it keeps serving.
	if err := h.Forward(testutil.Context(t), sdk.LinkRequest{Instance: "f", Network: "tcp"}, sdk.HandoffOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := testutil.EchoStream(addr, []byte("replaced")); err != nil {
		t.Fatal(err)
	}
}

func TestForwardRefusals(t *testing.T) {
	t.Parallel()
	h := tunneltest.Start(t, "k").Host()
	echo := testutil.ServeTCP(t, testutil.Echo)
	add(t, h, host.Instance{Spec: sdk.InstanceSpec{ID: "own", Targets: []string{echo}}, TCP: true})
	add(t, h, host.Instance{Spec: sdk.InstanceSpec{ID: "shared", Targets: []string{echo}}, TCP: true, SharedTCP: true})
	add(t, h, host.Instance{Spec: sdk.InstanceSpec{ID: "udp", Targets: []string{echo}}, UDP: true})
	ctx := testutil.Context(t)
	for _, c := range []struct {
		name string
		req  sdk.LinkRequest
		want string
		is   error
	}{
		{"unknown instance", sdk.LinkRequest{Instance: "nope", Network: "tcp"}, "unknown instance", sdk.ErrUnknownInstance},
		{"foreign target", sdk.LinkRequest{Instance: "own", Network: "tcp", Target: "10.9.9.9:22"}, "not allowed", sdk.ErrTargetNotAllowed},
		{"udp network", sdk.LinkRequest{Instance: "own", Network: "udp"}, "only tcp", nil},
		{"shared listener", sdk.LinkRequest{Instance: "shared", Network: "tcp"}, "no tcp listener of its own", nil},
		{"no listener", sdk.LinkRequest{Instance: "udp", Network: "tcp"}, "no tcp listener of its own", nil},
	} {
		err := h.Forward(ctx, c.req, sdk.HandoffOptions{})
		if err == nil || !strings.Contains(err.Error(), c.want) || (c.is != nil && !errors.Is(err, c.is)) {
			t.Errorf("%s: err %v, want %q", c.name, err, c.want)
		}
	}
	// Once removed, the instance can no longer be forwarded, and a running
	// forward ended with it (goleak checks the loop is gone).
	if err := h.Forward(ctx, sdk.LinkRequest{Instance: "own", Network: "tcp"}, sdk.HandoffOptions{}); err != nil {
		t.Fatal(err)
	}
	h.Remove("own", 0)
	if err := h.Forward(ctx, sdk.LinkRequest{Instance: "own", Network: "tcp"}, sdk.HandoffOptions{}); !errors.Is(err, sdk.ErrUnknownInstance) {
		t.Fatalf("forward of a removed instance: %v", err)
	}
}
