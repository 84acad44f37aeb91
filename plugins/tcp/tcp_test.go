package tcp_test

import (
	"context"
	"errors"
	"io"
	"net"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/burrowproject/burrow/internal/testutil"
	"github.com/burrowproject/burrow/internal/testutil/tunneltest"
	"github.com/burrowproject/burrow/plugins/sdk"
	"github.com/burrowproject/burrow/plugins/tcp"
	"github.com/burrowproject/burrow/server/flow"
	"github.com/burrowproject/burrow/server/host"
)

func TestMain(m *testing.M) { testutil.VerifyNoLeaks(m) }

func serveEcho(t *testing.T) string { return testutil.ServeTCP(t, testutil.Echo) }

// startInstance adds an instance to h and starts the handler on it; both
// are undone when the test ends.
func startInstance(t *testing.T, h *host.Host, hd *tcp.Handler, id, key string, targets []string, m *flow.Meter) string {
	t.Helper()
	spec := sdk.InstanceSpec{ID: id, Scheme: "tcp", Listen: "127.0.0.1:0", Targets: targets}
	return tunneltest.StartInstance(t, h, hd, host.Instance{Spec: spec, AgentKey: key, Meter: m, TCP: true})
}

func TestDescribeValidate(t *testing.T) {
	t.Parallel()
	hd := tcp.New()
	d, err := hd.Describe(context.Background())
	if err != nil || d.Name != "tcp" || d.SDKVersion != sdk.Version || !slices.Contains(d.Schemes, "tcp") ||
		!slices.Contains(d.Capabilities, sdk.CapHandoff) || !slices.Contains(d.Capabilities, sdk.CapNeedsListener) {
		t.Fatalf("Describe = %+v, %v", d, err)
	}
	if err := hd.Validate(context.Background(), sdk.InstanceSpec{ID: "x"}); err == nil {
		t.Fatal("Validate without a listen address")
	}
}

func TestEchoThroughTunnel(t *testing.T) {
	t.Parallel()
	h := tunneltest.Start(t, "k").Host()
	hd := tcp.New()
	m := flow.NewMeter(0, 0)
	addr := startInstance(t, h, hd, "t1", "k", []string{serveEcho(t)}, m)

	const conns, size = 5, 100_000
	testutil.Concurrently(t, conns, func(i int) error {
		msg := make([]byte, size)
		for j := range msg {
			msg[j] = byte(i + j)
		}
		return testutil.EchoStream(addr, msg)
	})
	testutil.Eventually(t, testutil.Wait, 5*time.Millisecond, func() bool {
		s := m.Snapshot()
		return s.TCPs == 0 && s.TCPRx == conns*size && s.TCPTx == conns*size
	}, "every byte counted once and every slot released")
	if s := m.Snapshot(); s.UDPRx != 0 || s.UDPTx != 0 {
		t.Fatalf("TCP counted as UDP: %+v", s)
	}
}

func TestStartStop(t *testing.T) {
	t.Parallel()
	h := tunneltest.Start(t, "k").Host()
	hd := tcp.New()
	spec := sdk.InstanceSpec{ID: "s", Listen: "127.0.0.1:0", Targets: []string{serveEcho(t)}}
	if err := hd.Start(context.Background(), spec, h); err == nil {
		t.Fatal("Start of an instance the host does not know")
	}
	if err := h.Add(host.Instance{Spec: spec, AgentKey: "k", TCP: true}, nil); err != nil {
		t.Fatal(err)
	}
	defer h.Remove("s", 0)
	if err := hd.Start(context.Background(), spec, h); err != nil {
		t.Fatal(err)
	}
	if err := hd.Start(context.Background(), spec, h); err == nil {
		t.Fatal("second Start of a running instance")
	}
	addr := h.Addr("s").String()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(testutil.Wait))
	if _, err := c.Write([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2)
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testutil.Wait)
	defer cancel()
	if err := hd.Stop(ctx, "s"); err != nil {
		t.Fatal(err)
	}
	if err := hd.Stop(ctx, "s"); !errors.Is(err, sdk.ErrUnknownInstance) {
		t.Fatalf("second Stop: %v", err)
	}
	// The host removes the instance after Stop: that ends the forward and
	// closes the listener, while connections handed off before keep going
	// for the grace period.
	removed := make(chan struct{})
	go func() { defer close(removed); h.Remove("s", testutil.Wait) }()
	testutil.Eventually(t, testutil.Wait, 5*time.Millisecond, func() bool {
		c2, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = c2.Close()
		}
		return err != nil
	}, "listener closed once the instance is removed")
	if _, err := c.Write([]byte("on")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "on" {
		t.Fatalf("handed-off connection after Stop: %q, %v", buf, err)
	}
	_ = c.Close()
	<-removed
}

func TestAgentOfflineClosesUser(t *testing.T) {
	t.Parallel()
	h := tunneltest.Start(t, "k").Host()
	hd := tcp.New()
	addr := startInstance(t, h, hd, "off", "nobody", []string{serveEcho(t)}, nil)
	c, err := net.Dial("tcp", addr)
	if errors.Is(err, syscall.ECONNRESET) {
		return // reset before the connect returned
	}
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	// A reset: the user hears that the connection failed, not an empty
	// answer that looks like a service with nothing to say.
	if b, err := io.ReadAll(c); !errors.Is(err, syscall.ECONNRESET) || len(b) != 0 {
		t.Fatalf("user of an instance with no agent: %q, %v; want a prompt reset", b, err)
	}
}

// hostWithoutForward is a Host from before sdk 1.1.0: it cannot forward.
type hostWithoutForward struct{ sdk.Host }

// On a host that cannot forward, the handler accepts and hands off every
// connection itself, counted the same; its Stop ends the accept loop.
func TestHandsOffEachConnectionWhenHostCannotForward(t *testing.T) {
	t.Parallel()
	h := tunneltest.Start(t, "k").Host()
	m := flow.NewMeter(0, 0)
	spec := sdk.InstanceSpec{ID: "old", Scheme: "tcp", Listen: "127.0.0.1:0", Targets: []string{serveEcho(t)}}
	if err := h.Add(host.Instance{Spec: spec, AgentKey: "k", Meter: m, TCP: true}, nil); err != nil {
		t.Fatal(err)
	}
	defer h.Remove("old", 0)
	hd := tcp.New()
	if err := hd.Start(testutil.Context(t), spec, hostWithoutForward{h}); err != nil {
		t.Fatal(err)
	}
	addr := h.Addr("old").String()
	for range 2 {
		if err := testutil.EchoStream(addr, []byte("handed off")); err != nil {
			t.Fatal(err)
		}
	}
	testutil.Eventually(t, testutil.Wait, 5*time.Millisecond, func() bool {
		s := m.Snapshot()
		return s.TCPs == 0 && s.TCPRx == 20 && s.TCPTx == 20
	}, "both connections counted exactly")
	if err := hd.Stop(testutil.Context(t), "old"); err != nil {
		t.Fatal(err)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		_ = c.Close()
		t.Fatal("the handler's own accept loop still accepting after Stop")
	}
}
