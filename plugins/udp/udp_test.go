package udp_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/burrowproject/burrow/internal/testutil"
	"github.com/burrowproject/burrow/internal/testutil/tunneltest"
	"github.com/burrowproject/burrow/plugins/sdk"
	"github.com/burrowproject/burrow/plugins/udp"
	"github.com/burrowproject/burrow/server/flow"
	"github.com/burrowproject/burrow/server/host"
)

func TestMain(m *testing.M) { testutil.VerifyNoLeaks(m) }

func startInstance(t *testing.T, h *host.Host, hd *udp.Handler, id string, params map[string]string, targets []string, m *flow.Meter) string {
	t.Helper()
	spec := sdk.InstanceSpec{ID: id, Scheme: "udp", Listen: "127.0.0.1:0", Targets: targets, Params: params}
	return tunneltest.StartInstance(t, h, hd, host.Instance{Spec: spec, AgentKey: "k", Meter: m, UDP: true})
}

func peer(t *testing.T, addr string) *net.UDPConn {
	t.Helper()
	raddr, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.DialUDP("udp", nil, raddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(testutil.Wait))
	return c
}

func exchange(t *testing.T, c *net.UDPConn, msg []byte) {
	t.Helper()
	// UDP may drop the first datagram while the session's link opens; the
	// handler queues it, so one send must do. Retries would hide a bug.
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 65535)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("no reply to a %d-byte datagram: %v", len(msg), err)
	}
	if !bytes.Equal(buf[:n], msg) {
		t.Fatalf("reply of %d bytes differs from the %d-byte datagram", n, len(msg))
	}
}

func TestDescribeValidate(t *testing.T) {
	t.Parallel()
	hd := udp.New()
	d, err := hd.Describe(context.Background())
	if err != nil || d.Name != "udp" || !slices.Contains(d.Capabilities, sdk.CapUDP) || !slices.Contains(d.Capabilities, sdk.CapDial) {
		t.Fatalf("Describe = %+v, %v", d, err)
	}
	ok := []string{"", "1", "30", "500ms", "2m"}
	bad := []string{"0", "-1", "abc", "-5s", "0s"}
	for _, v := range ok {
		if err := hd.Validate(context.Background(), sdk.InstanceSpec{Listen: ":1", Params: map[string]string{"idle": v}}); err != nil {
			t.Errorf("idle=%q refused: %v", v, err)
		}
	}
	for _, v := range bad {
		if err := hd.Validate(context.Background(), sdk.InstanceSpec{Listen: ":1", Params: map[string]string{"idle": v}}); err == nil {
			t.Errorf("idle=%q accepted", v)
		}
	}
	if err := hd.Validate(context.Background(), sdk.InstanceSpec{}); err == nil {
		t.Error("no listen address accepted")
	}
	h := host.New(nil, nil)
	if err := hd.Start(context.Background(), sdk.InstanceSpec{ID: "x", Listen: ":1", Params: map[string]string{"idle": "zz"}}, h); err == nil {
		t.Error("Start with a bad idle")
	}
	if err := hd.Start(context.Background(), sdk.InstanceSpec{ID: "x", Listen: ":1"}, h); err == nil {
		t.Error("Start of an instance the host does not know")
	}
}

func TestSessionsPerPeer(t *testing.T) {
	t.Parallel()
	h := tunneltest.Start(t, "k").Host()
	hd := udp.New()
	m := flow.NewMeter(0, 0)
	addr := startInstance(t, h, hd, "u1", nil, []string{testutil.ServeUDPEcho(t)}, m)

	a, b := peer(t, addr), peer(t, addr)
	total := 0
	for i, size := range []int{1, 1400, 8000, 60000} {
		msgA := bytes.Repeat([]byte{'a', byte(i)}, size/2+1)[:size]
		msgB := bytes.Repeat([]byte{'b', byte(i)}, size/2+1)[:size]
		exchange(t, a, msgA)
		exchange(t, b, msgB)
		total += 2 * size
	}
	testutil.Eventually(t, testutil.Wait, 5*time.Millisecond, func() bool {
		s := m.Snapshot()
		return s.UDPs == 2 && s.UDPRx == int64(total) && s.UDPTx == int64(total)
	}, "two sessions and every datagram counted")
	if s := m.Snapshot(); s.TCPRx != 0 || s.TCPs != 0 {
		t.Fatalf("UDP counted as TCP: %+v", s)
	}
	// Many datagrams in a row from one peer arrive in order on one session.
	for i := range 50 {
		exchange(t, a, []byte{byte(i)})
	}
	if s := m.Snapshot(); s.UDPs != 2 {
		t.Fatalf("%d sessions after more traffic from a known peer", s.UDPs)
	}
}

func TestIdleSessionReaped(t *testing.T) {
	t.Parallel()
	h := tunneltest.Start(t, "k").Host()
	hd := udp.New()
	m := flow.NewMeter(0, 0)
	addr := startInstance(t, h, hd, "idle", map[string]string{"idle": "1"}, []string{testutil.ServeUDPEcho(t)}, m)
	c := peer(t, addr)
	exchange(t, c, []byte("hello"))
	if m.Snapshot().UDPs != 1 {
		t.Fatal("no session")
	}
	start := time.Now()
	testutil.Eventually(t, 4*time.Second, 20*time.Millisecond, func() bool { return m.Snapshot().UDPs == 0 }, "idle session reaped")
	if el := time.Since(start); el < 900*time.Millisecond {
		t.Fatalf("session reaped %v after its last datagram with idle=1s", el)
	}
	// The peer can start a new session.
	exchange(t, c, []byte("again"))
	if m.Snapshot().UDPs != 1 {
		t.Fatal("no new session")
	}
}

// On Burrow's host the handler forwards the socket: the host serves the
// sessions until it removes the instance (after the handler's Stop). On a
// host that cannot forward, the handler serves them and Stop ends them.
func TestStopAndRemoveEndSessions(t *testing.T) {
	t.Parallel()
	for _, forwards := range []bool{true, false} {
		t.Run(fmt.Sprintf("forwarded=%v", forwards), func(t *testing.T) {
			t.Parallel()
			h := tunneltest.Start(t, "k").Host()
			var on sdk.Host = h
			if !forwards {
				on = plainHost{h}
			}
			hd := udp.New()
			m := flow.NewMeter(0, 0)
			spec := sdk.InstanceSpec{ID: "s", Listen: "127.0.0.1:0", Targets: []string{testutil.ServeUDPEcho(t)}}
			if err := h.Add(host.Instance{Spec: spec, AgentKey: "k", Meter: m, UDP: true}, nil); err != nil {
				t.Fatal(err)
			}
			removed := false
			defer func() {
				if !removed {
					h.Remove("s", 0)
				}
			}()
			if err := hd.Start(context.Background(), spec, on); err != nil {
				t.Fatal(err)
			}
			c := peer(t, h.Addr("s").String())
			exchange(t, c, bytes.Repeat([]byte("x"), 1000))
			exchange(t, c, []byte("y"))
			if s := m.Snapshot(); s.UDPs != 1 || s.UDPRx != 1001 {
				t.Fatalf("figures %+v, want one session and 1001 bytes each way", s)
			}
			ctx, cancel := context.WithTimeout(context.Background(), testutil.Wait)
			defer cancel()
			if err := hd.Stop(ctx, "s"); err != nil {
				t.Fatal(err)
			}
			if forwards {
				if s := m.Snapshot(); s.UDPs != 1 {
					t.Fatalf("%d sessions after Stop; the host serves them until it removes the instance", s.UDPs)
				}
				h.Remove("s", 0)
				removed = true
			}
			if s := m.Snapshot(); s.UDPs != 0 {
				t.Fatalf("%d sessions after the instance ended", s.UDPs)
			}
		})
	}
}

// plainHost is a host that can do no more than sdk.Host (one from before
// sdk 1.5.0, a test fake): no forward, no counts.
type plainHost struct{ sdk.Host }

func TestAgentOfflineDropsDatagrams(t *testing.T) {
	t.Parallel()
	h := tunneltest.Start(t, "k").Host()
	hd := udp.New()
	var d testutil.Counts
	countDrops(h, &d)
	m := flow.NewMeter(0, 0)
	spec := sdk.InstanceSpec{ID: "off", Listen: "127.0.0.1:0", Targets: []string{testutil.ServeUDPEcho(t)}}
	if err := h.Add(host.Instance{Spec: spec, AgentKey: "nobody", Meter: m, UDP: true}, nil); err != nil {
		t.Fatal(err)
	}
	defer h.Remove("off", 0)
	if err := hd.Start(context.Background(), spec, h); err != nil {
		t.Fatal(err)
	}
	defer hd.Stop(context.Background(), "off")
	c := peer(t, h.Addr("off").String())
	_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, err := c.Write([]byte("lost")); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Read(make([]byte, 10)); err == nil {
		t.Fatalf("reply of %d bytes with no agent", n)
	}
	if s := m.Snapshot(); s.UDPs != 0 || s.UDPRx != 0 {
		t.Fatalf("figures with no agent: %+v", s)
	}
	testutil.Eventually(t, testutil.Wait, 5*time.Millisecond, func() bool { return d.Get(udp.DropNoLink) == 1 }, "the datagram counted as dropped: no link")
}
