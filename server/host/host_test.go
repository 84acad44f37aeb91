package host_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/burrowproject/burrow/client"
	"github.com/burrowproject/burrow/internal/allowlist"
	"github.com/burrowproject/burrow/internal/testutil"
	"github.com/burrowproject/burrow/internal/testutil/tunneltest"
	"github.com/burrowproject/burrow/plugins/sdk"
	"github.com/burrowproject/burrow/server/flow"
	"github.com/burrowproject/burrow/server/host"
)

func TestMain(m *testing.M) { testutil.VerifyNoLeaks(m) }

func add(t *testing.T, h *host.Host, inst host.Instance) {
	t.Helper()
	if inst.AgentKey == "" {
		inst.AgentKey = "k"
	}
	if inst.Spec.Listen == "" {
		inst.Spec.Listen = "127.0.0.1:0"
	}
	if err := h.Add(inst, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Remove(inst.Spec.ID, 0) })
}

// userConn returns the user's end of a loopback connection and the end the
// host is handed.
func userConn(t *testing.T) (user, handed net.Conn) {
	t.Helper()
	user, handed = testutil.TCPPair(t)
	_ = user.SetDeadline(time.Now().Add(testutil.Wait))
	return user, handed
}

func readN(t *testing.T, c net.Conn, n int) string {
	t.Helper()
	buf := make([]byte, n)
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatalf("read %d bytes: %v (got %q)", n, err, buf)
	}
	return string(buf)
}

// closedWithin fails unless c reaches EOF (or an error other than a
// timeout) within d, and returns what was read before.
func closedWithin(t *testing.T, c net.Conn, d time.Duration) string {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(d))
	b, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open after %v (read %q)", d, b)
	}
	return string(b)
}

func TestHandoffPreambleCountedAndDelivered(t *testing.T) {
	t.Parallel()
	h := tunneltest.Start(t, "k").Host()
	m := flow.NewMeter(0, 0)
	add(t, h, host.Instance{Spec: sdk.InstanceSpec{ID: "i", Targets: []string{testutil.ServeTCP(t, testutil.Echo)}}, Meter: m})
	user, handed := userConn(t)
	if err := h.Handoff(testutil.Context(t), handed, sdk.LinkRequest{Instance: "i", Network: "tcp"}, []byte("PRE:"), sdk.HandoffOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := user.Write([]byte("payload")); err != nil {
		t.Fatal(err)
	}
	if got := readN(t, user, 11); got != "PRE:payload" {
		t.Fatalf("echo %q", got)
	}
	testutil.Eventually(t, testutil.Wait, 5*time.Millisecond, func() bool { s := m.Snapshot(); return s.TCPs == 1 && s.TCPRx == 11 && s.TCPTx == 11 }, "11 bytes each way, one connection")
	_ = user.Close()
	testutil.Eventually(t, testutil.Wait, 5*time.Millisecond, func() bool { s := m.Snapshot(); return s.TCPs == 0 }, "slot released when the user leaves")
	if s := m.Snapshot(); s.TCPRx != 11 || s.TCPTx != 11 || s.UDPRx != 0 || s.UDPTx != 0 {
		t.Fatalf("final figures %+v", s)
	}
}

func TestHandoffSlotsFull(t *testing.T) {
	t.Parallel()
	h := tunneltest.Start(t, "k").Host()
	m := flow.NewMeter(1, 0)
	add(t, h, host.Instance{Spec: sdk.InstanceSpec{ID: "i", Targets: []string{testutil.ServeTCP(t, testutil.Echo)}}, Meter: m})
	release, ok := m.Acquire("udp")
	if !ok {
		t.Fatal("acquire")
	}
	defer release()
	user, handed := userConn(t)
	reply := []byte("HTTP/1.1 503 Service Unavailable\r\n\r\n")
	err := h.Handoff(testutil.Context(t), handed, sdk.LinkRequest{Instance: "i", Network: "tcp"}, nil, sdk.HandoffOptions{FailReply: reply})
	var le *sdk.LinkError
	if !errors.Is(err, sdk.ErrSlotsFull) || !errors.As(err, &le) || le.Instance != "i" {
		t.Fatalf("Handoff with every slot taken: %v", err)
	}
	if got := closedWithin(t, user, 2*time.Second); got != string(reply) {
		t.Fatalf("user got %q, want the fail reply", got)
	}
	if _, err := h.Dial(testutil.Context(t), sdk.LinkRequest{Instance: "i", Network: "tcp"}); !errors.Is(err, sdk.ErrSlotsFull) {
		t.Fatalf("Dial with every slot taken: %v", err)
	}
	if s := m.Snapshot(); s.TCPs != 0 || s.UDPs != 1 {
		t.Fatalf("a refused link holds a slot: %+v", s)
	}
}

func TestTargetNotInInstanceRefused(t *testing.T) {
	t.Parallel()
	h := tunneltest.Start(t, "k").Host()
	echoAddr := testutil.ServeTCP(t, testutil.Echo)
	add(t, h, host.Instance{Spec: sdk.InstanceSpec{ID: "i", Targets: []string{echoAddr}}})
	user, handed := userConn(t)
	err := h.Handoff(testutil.Context(t), handed, sdk.LinkRequest{Instance: "i", Network: "tcp", Target: "10.9.9.9:22"}, nil, sdk.HandoffOptions{FailReply: []byte("no")})
	if !errors.Is(err, sdk.ErrTargetNotAllowed) {
		t.Fatalf("Handoff to a foreign target: %v", err)
	}
	if got := closedWithin(t, user, 2*time.Second); got != "no" {
		t.Fatalf("user got %q", got)
	}
	if _, err := h.Dial(testutil.Context(t), sdk.LinkRequest{Instance: "i", Network: "tcp", Target: "10.9.9.9:22"}); !errors.Is(err, sdk.ErrTargetNotAllowed) {
		t.Fatalf("Dial to a foreign target: %v", err)
	}
	if _, err := h.Dial(testutil.Context(t), sdk.LinkRequest{Instance: "i", Network: "icmp"}); err == nil {
		t.Fatal("Dial with network icmp succeeded")
	}
	// Naming one of its own targets is fine.
	c, err := h.Dial(testutil.Context(t), sdk.LinkRequest{Instance: "i", Network: "tcp", Target: echoAddr})
	if err != nil {
		t.Fatal(err)
	}
	_ = c.Close()

	// Pattern targets: whatever the patterns permit, nothing else.
	patterns, err := allowlist.ParseAllow([]string{"*.lan:*", "127.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	add(t, h, host.Instance{Spec: sdk.InstanceSpec{ID: "any", Targets: []string{"*.lan:*", "127.0.0.0/8"}}, Patterns: patterns})
	c, err = h.Dial(testutil.Context(t), sdk.LinkRequest{Instance: "any", Network: "tcp", Target: echoAddr})
	if err != nil {
		t.Fatalf("pattern instance, permitted target: %v", err)
	}
	_ = c.Close()
	for _, target := range []string{"10.0.0.1:22", ""} {
		if _, err := h.Dial(testutil.Context(t), sdk.LinkRequest{Instance: "any", Network: "tcp", Target: target}); !errors.Is(err, sdk.ErrTargetNotAllowed) {
			t.Fatalf("pattern instance, target %q: err %v, want ErrTargetNotAllowed", target, err)
		}
	}

	if _, err := h.Dial(testutil.Context(t), sdk.LinkRequest{Instance: "nope", Network: "tcp"}); !errors.Is(err, sdk.ErrUnknownInstance) {
		t.Fatalf("Dial for an unknown instance: %v", err)
	}
}

func TestHandoffVerdictRefusedWritesFailReply(t *testing.T) {
	t.Parallel()
	h := tunneltest.Start(t, "k").Host()
	m := flow.NewMeter(0, 0)
	add(t, h, host.Instance{Spec: sdk.InstanceSpec{ID: "i", Targets: []string{testutil.ClosedAddr(t)}}, Meter: m})

	user, handed := userConn(t)
	if err := h.Handoff(testutil.Context(t), handed, sdk.LinkRequest{Instance: "i", Network: "tcp"}, []byte("GET / HTTP/1.1\r\n\r\n"), sdk.HandoffOptions{FailReply: []byte("502")}); err != nil {
		t.Fatalf("Handoff returns once the link is open: %v", err)
	}
	if got := closedWithin(t, user, 2*time.Second); got != "502" {
		t.Fatalf("user got %q, want the fail reply after the agent's refusal", got)
	}

	user2, handed2 := userConn(t)
	if err := h.Handoff(testutil.Context(t), handed2, sdk.LinkRequest{Instance: "i", Network: "tcp"}, nil, sdk.HandoffOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := closedWithin(t, user2, 2*time.Second); got != "" {
		t.Fatalf("user got %q, want a silent close", got)
	}
	testutil.Eventually(t, testutil.Wait, 5*time.Millisecond, func() bool { return m.Snapshot().TCPs == 0 }, "slots released")

	_, err := h.Dial(testutil.Context(t), sdk.LinkRequest{Instance: "i", Network: "tcp"})
	var le *sdk.LinkError
	if !errors.As(err, &le) || !strings.Contains(le.Reason, "refused") {
		t.Fatalf("Dial to a closed port: %v, want the agent's reason", err)
	}
	if m.Snapshot().TCPs != 0 {
		t.Fatal("failed Dial holds a slot")
	}
}

// With no agent online Handoff still returns at once (the link is opened in
// the host's goroutine); the user gets the fail reply and Dial says why.
func TestHandoffAgentOffline(t *testing.T) {
	t.Parallel()
	h := tunneltest.Start(t, "k").Host()
	m := flow.NewMeter(0, 0)
	add(t, h, host.Instance{Spec: sdk.InstanceSpec{ID: "i", Targets: []string{"127.0.0.1:1"}}, AgentKey: "nobody", Meter: m})
	user, handed := userConn(t)
	if err := h.Handoff(testutil.Context(t), handed, sdk.LinkRequest{Instance: "i", Network: "tcp"}, nil, sdk.HandoffOptions{FailReply: []byte("offline")}); err != nil {
		t.Fatalf("Handoff: %v", err)
	}
	if got := closedWithin(t, user, 2*time.Second); got != "offline" {
		t.Fatalf("user got %q", got)
	}
	_, err := h.Dial(testutil.Context(t), sdk.LinkRequest{Instance: "i", Network: "udp"})
	var le *sdk.LinkError
	if !errors.Is(err, sdk.ErrNoAgent) || !errors.As(err, &le) || le.Reason != "agent offline" {
		t.Fatalf("Dial with no agent: %v", err)
	}
	testutil.Eventually(t, testutil.Wait, 5*time.Millisecond, func() bool { s := m.Snapshot(); return s.TCPs == 0 && s.UDPs == 0 }, "slots released")
}

// A handoff whose link failed to open must not hold Remove up.
func TestRemoveAfterFailedHandoff(t *testing.T) {
	t.Parallel()
	h := tunneltest.Start(t, "k").Host()
	if err := h.Add(host.Instance{Spec: sdk.InstanceSpec{ID: "i", Listen: "127.0.0.1:0", Targets: []string{"127.0.0.1:1"}}, AgentKey: "nobody"}, nil); err != nil {
		t.Fatal(err)
	}
	user, handed := userConn(t)
	if err := h.Handoff(testutil.Context(t), handed, sdk.LinkRequest{Instance: "i", Network: "tcp"}, nil, sdk.HandoffOptions{}); err != nil {
		t.Fatalf("Handoff: %v", err)
	}
	closedWithin(t, user, 2*time.Second)
	removed := make(chan struct{})
	go func() { h.Remove("i", 50*time.Millisecond); close(removed) }()
	select {
	case <-removed:
	case <-time.After(2 * time.Second):
		t.Fatal("Remove hangs after a handoff whose link failed to open")
	}
}

func TestDialUDPCounted(t *testing.T) {
	t.Parallel()
	h := tunneltest.Start(t, "k").Host()
	m := flow.NewMeter(0, 0)
	add(t, h, host.Instance{Spec: sdk.InstanceSpec{ID: "u", Targets: []string{testutil.ServeUDPEcho(t)}}, Meter: m})
	c, err := h.Dial(testutil.Context(t), sdk.LinkRequest{Instance: "u", Network: "udp"})
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(testutil.Wait))
	if m.Snapshot().UDPs != 1 {
		t.Fatalf("UDP gauge %d with one link", m.Snapshot().UDPs)
	}
	total := 0
	buf := make([]byte, 65535)
	for _, size := range []int{1, 512, 1400} {
		if _, err := c.Write(make([]byte, size)); err != nil {
			t.Fatal(err)
		}
		n, err := c.Read(buf)
		if err != nil || n != size {
			t.Fatalf("datagram of %d came back as %d, %v", size, n, err)
		}
		total += size
	}
	if s := m.Snapshot(); s.UDPRx != int64(total) || s.UDPTx != int64(total) || s.TCPRx != 0 || s.TCPTx != 0 {
		t.Fatalf("figures %+v, want %d each way as UDP", s, total)
	}
	_ = c.Close()
	if m.Snapshot().UDPs != 0 {
		t.Fatal("UDP slot not released by Close")
	}
}

func TestRemoveGrace(t *testing.T) {
	t.Parallel()
	h := tunneltest.Start(t, "k").Host()
	echoAddr := testutil.ServeTCP(t, testutil.Echo)
	const grace = 400 * time.Millisecond

	// A connection still running when the grace ends is closed then.
	if err := h.Add(host.Instance{Spec: sdk.InstanceSpec{ID: "g", Listen: "127.0.0.1:0", Targets: []string{echoAddr}}, AgentKey: "k", TCP: true}, nil); err != nil {
		t.Fatal(err)
	}
	addr := h.Addr("g").String()
	user, handed := userConn(t)
	if err := h.Handoff(testutil.Context(t), handed, sdk.LinkRequest{Instance: "g", Network: "tcp"}, nil, sdk.HandoffOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := user.Write([]byte("a")); err != nil {
		t.Fatal(err)
	}
	readN(t, user, 1)
	start := time.Now()
	removed := make(chan struct{})
	go func() { h.Remove("g", grace); close(removed) }()
	// The listener goes at once.
	testutil.Eventually(t, testutil.Wait, 5*time.Millisecond, func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = c.Close()
		}
		return err != nil
	}, "listener closed by Remove")
	// The connection still works during the grace.
	if _, err := user.Write([]byte("b")); err != nil {
		t.Fatal(err)
	}
	if got := readN(t, user, 1); got != "b" {
		t.Fatalf("during grace: %q", got)
	}
	closedWithin(t, user, 3*time.Second)
	if el := time.Since(start); el < grace-50*time.Millisecond {
		t.Fatalf("connection closed %v into a %v grace", el, grace)
	}
	select {
	case <-removed:
	case <-time.After(2 * time.Second):
		t.Fatal("Remove did not return after the grace")
	}
	if h.Addr("g") != nil {
		t.Fatal("removed instance still has an address")
	}

	// A connection that ends within the grace lets Remove return early.
	add(t, h, host.Instance{Spec: sdk.InstanceSpec{ID: "e", Targets: []string{echoAddr}}})
	user2, handed2 := userConn(t)
	if err := h.Handoff(testutil.Context(t), handed2, sdk.LinkRequest{Instance: "e", Network: "tcp"}, nil, sdk.HandoffOptions{}); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	removed2 := make(chan struct{})
	go func() { h.Remove("e", 10*time.Second); close(removed2) }()
	time.Sleep(50 * time.Millisecond) // let Remove start waiting
	_ = user2.Close()
	select {
	case <-removed2:
		if el := time.Since(start); el > 3*time.Second {
			t.Fatalf("Remove took %v after the last connection ended", el)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Remove waited out the grace although no connection was left")
	}

	// A removed instance takes no more handoffs.
	user3, handed3 := userConn(t)
	if err := h.Handoff(testutil.Context(t), handed3, sdk.LinkRequest{Instance: "e", Network: "tcp"}, nil, sdk.HandoffOptions{}); !errors.Is(err, sdk.ErrUnknownInstance) {
		t.Fatalf("Handoff to a removed instance: %v", err)
	}
	closedWithin(t, user3, 2*time.Second)
}

func TestProxyFlagAndClientAddr(t *testing.T) {
	t.Parallel()
	h := tunneltest.Start(t, "k").Host()
	lines := make(chan string, 1)
	target := testutil.ServeTCP(t, func(c net.Conn) {
		line, err := bufio.NewReader(c).ReadString('\n')
		if err == nil {
			lines <- line
		}
	})
	add(t, h, host.Instance{Spec: sdk.InstanceSpec{ID: "p", Targets: []string{target}}, Proxy: true})
	user, handed := userConn(t)
	if err := h.Handoff(testutil.Context(t), handed, sdk.LinkRequest{Instance: "p", Network: "tcp"}, nil, sdk.HandoffOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case line := <-lines:
		_, port, _ := net.SplitHostPort(user.LocalAddr().String())
		if !strings.HasPrefix(line, "PROXY TCP4 127.0.0.1 127.0.0.1 "+port+" ") {
			t.Fatalf("PROXY line %q does not carry the user's address %s", line, user.LocalAddr())
		}
	case <-time.After(testutil.Wait):
		t.Fatal("no PROXY line")
	}
}

func TestTargetsRoundRobin(t *testing.T) {
	t.Parallel()
	h := tunneltest.Start(t, "k").Host()
	a := testutil.ServeTCP(t, func(c net.Conn) { _, _ = c.Write([]byte("A")) })
	b := testutil.ServeTCP(t, func(c net.Conn) { _, _ = c.Write([]byte("B")) })
	add(t, h, host.Instance{Spec: sdk.InstanceSpec{ID: "rr", Targets: []string{a, b}}})
	var seq string
	for range 4 {
		c, err := h.Dial(testutil.Context(t), sdk.LinkRequest{Instance: "rr", Network: "tcp"})
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(testutil.Wait))
		seq += readN(t, c, 1)
		_ = c.Close()
	}
	if seq != "ABAB" && seq != "BABA" {
		t.Fatalf("targets picked %q, want them to alternate", seq)
	}
}

func TestAddAndLookups(t *testing.T) {
	t.Parallel()
	h := host.New(nil, nil)
	if err := h.Add(host.Instance{Spec: sdk.InstanceSpec{ID: "x", Listen: "127.0.0.1:0"}, TCP: true, UDP: true}, nil); err != nil {
		t.Fatal(err)
	}
	defer h.Remove("x", 0)
	ln, err := h.Listener(context.Background(), "x")
	if err != nil || ln.Addr().String() != h.Addr("x").String() {
		t.Fatalf("Listener: %v, %v", ln, err)
	}
	pc, err := h.PacketConn(context.Background(), "x")
	if err != nil || pc == nil {
		t.Fatalf("PacketConn: %v", err)
	}
	if h.Logger("x") == nil || h.Logger("unknown") == nil {
		t.Fatal("nil logger")
	}
	if err := h.Add(host.Instance{Spec: sdk.InstanceSpec{ID: "x", Listen: "127.0.0.1:0"}}, nil); err == nil {
		t.Fatal("duplicate id accepted")
	}
	// The failed duplicate must not have touched the original's sockets.
	if _, err := h.Listener(context.Background(), "x"); err != nil {
		t.Fatal(err)
	}
	if err := h.Add(host.Instance{Spec: sdk.InstanceSpec{ID: "bad", Listen: "256.0.0.1:1"}, TCP: true}, nil); err == nil {
		t.Fatal("unbindable listen address accepted")
		h.Remove("bad", 0)
	}
	if err := h.Add(host.Instance{Spec: sdk.InstanceSpec{ID: "none", Listen: "127.0.0.1:0"}}, nil); err != nil {
		t.Fatal(err)
	}
	defer h.Remove("none", 0)
	if _, err := h.Listener(context.Background(), "none"); err == nil {
		t.Fatal("Listener of an instance without TCP")
	}
	if _, err := h.PacketConn(context.Background(), "none"); err == nil {
		t.Fatal("PacketConn of an instance without UDP")
	}
	if _, err := h.Listener(context.Background(), "missing"); !errors.Is(err, sdk.ErrUnknownInstance) {
		t.Fatalf("Listener of a missing instance: %v", err)
	}
	if h.Addr("missing") != nil {
		t.Fatal("Addr of a missing instance")
	}
	h.Remove("missing", time.Second) // no-op
}

func TestOnLinkErrorReasons(t *testing.T) {
	t.Parallel()
	h := tunneltest.Start(t, "k").Host()
	var mu sync.Mutex
	var reasons []string
	h.OnLinkError(func(r string) { mu.Lock(); reasons = append(reasons, r); mu.Unlock() })
	got := func() []string { mu.Lock(); defer mu.Unlock(); return slices.Clone(reasons) }
	expect := func(want string) {
		t.Helper()
		testutil.Eventually(t, testutil.Wait, 5*time.Millisecond, func() bool { r := got(); return len(r) > 0 && r[len(r)-1] == want }, "link error reason "+want)
		mu.Lock()
		reasons = nil
		mu.Unlock()
	}
	m := flow.NewMeter(1, 0)
	add(t, h, host.Instance{Spec: sdk.InstanceSpec{ID: "r", Targets: []string{testutil.ClosedAddr(t)}}, Meter: m})
	add(t, h, host.Instance{Spec: sdk.InstanceSpec{ID: "off", Targets: []string{"127.0.0.1:1"}}, AgentKey: "nobody"})

	_, _ = h.Dial(testutil.Context(t), sdk.LinkRequest{Instance: "r", Network: "tcp"})
	expect("agent_refused")
	_, _ = h.Dial(testutil.Context(t), sdk.LinkRequest{Instance: "r", Network: "tcp", Target: "10.0.0.1:1"})
	expect("target_not_allowed")
	_, _ = h.Dial(testutil.Context(t), sdk.LinkRequest{Instance: "off", Network: "tcp"})
	expect("no_agent")
	_, handed := userConn(t)
	_ = h.Handoff(testutil.Context(t), handed, sdk.LinkRequest{Instance: "off", Network: "tcp"}, nil, sdk.HandoffOptions{})
	expect("no_agent")
	release, _ := m.Acquire("tcp")
	defer release()
	_, _ = h.Dial(testutil.Context(t), sdk.LinkRequest{Instance: "r", Network: "tcp"})
	expect("slots_full")
	if c, err := h.Dial(testutil.Context(t), sdk.LinkRequest{Instance: "off", Network: "tcp"}); err == nil {
		_ = c.Close()
	}
	if r := got(); len(r) != 1 {
		t.Fatalf("one failed Dial reported %d times: %v", len(r), r)
	}
}

// A link the agent refuses by policy is counted as agent_not_allowed,
// apart from targets it could not reach.
func TestOnLinkErrorAgentNotAllowed(t *testing.T) {
	t.Parallel()
	tn := tunneltest.Serve(t, "k")
	only, err := allowlist.ParseAllow([]string{"192.0.2.1:80"})
	if err != nil {
		t.Fatal(err)
	}
	tn.Agent(client.Config{Allow: only})
	h := tn.Host()
	var mu sync.Mutex
	var reasons []string
	h.OnLinkError(func(r string) { mu.Lock(); reasons = append(reasons, r); mu.Unlock() })
	foreign := testutil.ServeTCP(t, testutil.Echo)
	add(t, h, host.Instance{Spec: sdk.InstanceSpec{ID: "f", Targets: []string{foreign}}})
	_, err = h.Dial(testutil.Context(t), sdk.LinkRequest{Instance: "f", Network: "tcp"})
	if err == nil || !strings.Contains(err.Error(), "target "+foreign+" is not allowed by this agent") {
		t.Fatalf("Dial of a target the agent does not allow: %v", err)
	}
	testutil.Eventually(t, testutil.Wait, 5*time.Millisecond, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return slices.Equal(reasons, []string{"agent_not_allowed"})
	}, "reason agent_not_allowed")
}
