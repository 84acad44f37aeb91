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

// A forward of a udp socket serves its senders' sessions through the
// tunnel. The sessions outlive the forward: after a second forward
// replaces the first, and after a forward's life ended (nobody reads the
// socket, a datagram waits in it) and another began, a sender goes on in
// the same session (the backend sees the same peer); removing the
// instance ends them.
func TestForwardedUDPSessionsOutliveTheForward(t *testing.T) {
	t.Parallel()
	h := tunneltest.Start(t, "k").Host()
	m := flow.NewMeter(0, 0)
	add(t, h, host.Instance{Spec: sdk.InstanceSpec{ID: "u", Targets: []string{serveUDPWho(t)}}, Meter: m, UDP: true})
	addr := h.Addr("u").String()
	var replied int64 // bytes of the replies read
	// reply reads a reply to msg and returns the peer the backend saw.
	reply := func(c net.Conn, msg string) (string, error) {
		buf := make([]byte, 128)
		_ = c.SetReadDeadline(time.Now().Add(testutil.Wait))
		n, err := c.Read(buf)
		if err != nil {
			return "", err
		}
		replied += int64(n)
		got, peer, _ := strings.Cut(string(buf[:n]), "@")
		if got != msg {
			return "", errors.New("reply " + string(buf[:n]) + ", want " + msg + "@<peer>")
		}
		return peer, nil
	}
	exchange := func(c net.Conn, msg string) (string, error) {
		if _, err := c.Write([]byte(msg)); err != nil {
			return "", err
		}
		return reply(c, msg)
	}
	dial := func() net.Conn {
		c, err := net.Dial("udp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	forward := func(life context.Context) {
		t.Helper()
		if err := h.ForwardWhile(life, sdk.LinkRequest{Instance: "u", Network: "udp"}, sdk.HandoffOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	samePeer := func(c net.Conn, msg, want string) {
		t.Helper()
		if peer, err := exchange(c, msg); err != nil {
			t.Fatal(err)
		} else if peer != want {
			t.Fatalf("%s: the backend saw peer %s, want %s: a new session", msg, peer, want)
		}
	}

	life, end := context.WithCancel(context.Background())
	defer end()
	forward(life)
	a, b := dial(), dial()
	var peerA string
	for _, msg := range []string{"one", "two", "three"} {
		var err error
		if peerA, err = exchange(a, "a-"+msg); err != nil {
			t.Fatal(err)
		}
		if _, err := exchange(b, "b-"+msg); err != nil {
			t.Fatal(err)
		}
	}
	if s := m.Snapshot(); s.UDPs != 2 || s.UDPRx != 2*(5+5+7) || s.UDPTx != replied {
		t.Fatalf("figures %+v, want two sessions, 34 bytes in and %d out", s, replied)
	}
	forward(life) // replaces the first
	samePeer(a, "after the second forward", peerA)
	end()
	// Nobody reads the socket now: a datagram waits in it, and is served
	// by the next forward, in its sender's session.
	if _, err := a.Write([]byte("waited")); err != nil {
		t.Fatal(err)
	}
	if s := m.Snapshot(); s.UDPs != 2 {
		t.Fatalf("%d sessions once the forward's life ended, want both still open", s.UDPs)
	}
	forward(context.Background())
	if peer, err := reply(a, "waited"); err != nil || peer != peerA {
		t.Fatalf("datagram sent while nobody served: peer %q, %v; want its session's %s", peer, err, peerA)
	}
	h.Remove("u", 0)
	if s := m.Snapshot(); s.UDPs != 0 {
		t.Fatalf("%d sessions after the instance was removed", s.UDPs)
	}
}

// serveUDPWho serves a UDP backend that answers each datagram with itself,
// "@" and the address of its sender, and returns its address.
func serveUDPWho(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	testutil.AnswerPackets(t, pc, func(p []byte, from net.Addr) []byte { return append(p, "@"+from.String()...) })
	return pc.LocalAddr().String()
}

func TestForwardRefusals(t *testing.T) {
	t.Parallel()
	h := tunneltest.Start(t, "k").Host()
	echo := testutil.ServeTCP(t, testutil.Echo)
	add(t, h, host.Instance{Spec: sdk.InstanceSpec{ID: "own", Targets: []string{echo}}, TCP: true})
	add(t, h, host.Instance{Spec: sdk.InstanceSpec{ID: "shared", Targets: []string{echo}}, TCP: true, SharedTCP: true})
	add(t, h, host.Instance{Spec: sdk.InstanceSpec{ID: "udp", Targets: []string{echo}}, UDP: true})
	add(t, h, host.Instance{Spec: sdk.InstanceSpec{ID: "udpbad", Targets: []string{echo}, Params: map[string]string{"sessions": "0"}}, UDP: true})
	ctx := testutil.Context(t)
	for _, c := range []struct {
		name string
		req  sdk.LinkRequest
		want string
		is   error
	}{
		{"unknown instance", sdk.LinkRequest{Instance: "nope", Network: "tcp"}, "unknown instance", sdk.ErrUnknownInstance},
		{"foreign target", sdk.LinkRequest{Instance: "own", Network: "tcp", Target: "10.9.9.9:22"}, "not allowed", sdk.ErrTargetNotAllowed},
		{"udp of a tcp instance", sdk.LinkRequest{Instance: "own", Network: "udp"}, "no udp socket to forward", nil},
		{"udp with a target", sdk.LinkRequest{Instance: "udp", Network: "udp", Target: echo}, "takes no target, meta or options", nil},
		{"udp with meta", sdk.LinkRequest{Instance: "udp", Network: "udp", Meta: map[string]string{sdk.MetaClientAddr: "1.2.3.4:5"}}, "takes no target, meta or options", nil},
		{"udp with bad limits", sdk.LinkRequest{Instance: "udpbad", Network: "udp"}, "forward of its udp socket", nil},
		{"other network", sdk.LinkRequest{Instance: "own", Network: "sctp"}, "only tcp listeners and udp sockets", nil},
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
