package runtime_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/burrowproject/burrow/conf"
	"github.com/burrowproject/burrow/internal/testutil"
	"github.com/burrowproject/burrow/internal/testutil/tunneltest"
	"github.com/burrowproject/burrow/plugins/sdk"
	"github.com/burrowproject/burrow/server/runtime"
)

func TestMain(m *testing.M) { testutil.VerifyNoLeaks(m) }

func parse(t *testing.T, raw string) *conf.Instance {
	t.Helper()
	inst, err := conf.Parse(raw)
	if err != nil {
		t.Fatalf("parse %s: %v", raw, err)
	}
	return inst
}

// start runs raw as instance id until the test ends.
func start(t *testing.T, rt *runtime.Runtime, id, raw string) *runtime.Running {
	t.Helper()
	r, err := rt.Start(context.Background(), id, parse(t, raw), nil)
	if err != nil {
		t.Fatalf("start %s: %v", raw, err)
	}
	t.Cleanup(func() { stop(t, r) })
	return r
}

func stop(t *testing.T, r *runtime.Running) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- r.Stop(ctx) }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Stop: %v", err)
		}
	case <-time.After(testutil.Wait):
		t.Fatal("Stop hung")
	}
	if err := r.Err(); err != nil {
		t.Errorf("Err after a requested stop: %v", err)
	}
}

// echoBoth serves a TCP echo and a UDP echo on the same loopback port.
func echoBoth(t *testing.T) int {
	t.Helper()
	var (
		ln  net.Listener
		pc  net.PacketConn
		err error
	)
	for range 20 {
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		if pc, err = net.ListenPacket("udp", ln.Addr().String()); err == nil {
			break
		}
		_ = ln.Close()
	}
	if pc == nil {
		t.Fatal("no port free for both TCP and UDP")
	}
	testutil.ServeListener(t, ln, testutil.Echo)
	testutil.EchoPackets(t, pc)
	return ln.Addr().(*net.TCPAddr).Port
}

func port(t *testing.T) int { return testutil.FreePort(t) }

func tcpEcho(t *testing.T, addr string, size int) {
	t.Helper()
	msg := bytes.Repeat([]byte("burrow"), size/6+1)[:size]
	if err := testutil.EchoStream(addr, msg); err != nil {
		t.Fatalf("tcp %v", err)
	}
}

func udpEcho(t *testing.T, addr string, sizes ...int) {
	t.Helper()
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(testutil.Wait))
	buf := make([]byte, 65535)
	for _, size := range sizes {
		msg := bytes.Repeat([]byte{'u'}, size)
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		n, err := c.Read(buf)
		if err != nil || n != size {
			t.Fatalf("udp echo via %s: %d of %d bytes, %v", addr, n, size, err)
		}
	}
}

func TestServerClientPair(t *testing.T) {
	t.Parallel()
	rt := runtime.New(runtime.Options{Version: "test"})
	echo := echoBoth(t)
	bridgePort, userPort := port(t), port(t)
	user := "127.0.0.1:" + strconv.Itoa(userPort)
	srv := start(t, rt, "srv", fmt.Sprintf("server://secret@127.0.0.1:%d/%s", bridgePort, user))
	cli := start(t, rt, "cli", fmt.Sprintf("client://secret@127.0.0.1:%d/127.0.0.1:%d", bridgePort, echo))
	testutil.Eventually(t, testutil.Wait, 10*time.Millisecond, func() bool { return srv.Stats().Pool == 1 && cli.Stats().Pool == 1 }, "agent connected")
	if err := cli.Health(); err != nil {
		t.Fatalf("Health of a connected client: %v", err)
	}
	if err := srv.Health(); err != nil {
		t.Fatalf("Health of a serving server: %v", err)
	}
	if s := srv.Stats(); s.Mode != 1 || cli.Stats().Mode != 2 {
		t.Fatalf("modes %d/%d, want 1 (server) and 2 (client)", s.Mode, cli.Stats().Mode)
	}

	tcpEcho(t, user, 100_000)
	tcpEcho(t, user, 1)
	udpEcho(t, user, 1, 1400, 5000)
	testutil.Eventually(t, testutil.Wait, 10*time.Millisecond, func() bool {
		s := srv.Stats()
		return s.TCPRx == 100_001 && s.TCPTx == 100_001 && s.UDPRx == 6401 && s.UDPTx == 6401 && s.TCPs == 0
	}, "server figures match the bytes sent")
	testutil.Eventually(t, testutil.Wait, 10*time.Millisecond, func() bool {
		s := cli.Stats()
		return s.TCPRx == 100_001 && s.TCPTx == 100_001 && s.UDPRx == 6401 && s.UDPTx == 6401
	}, "client figures match the bytes sent")

	stop(t, srv)
	if c, err := net.DialTimeout("tcp", user, time.Second); err == nil {
		_ = c.Close()
		t.Fatal("user port still open after Stop")
	}
	if c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(bridgePort), time.Second); err == nil {
		_ = c.Close()
		t.Fatal("bridge port still open after Stop")
	}
	testutil.Eventually(t, testutil.Wait, 10*time.Millisecond, func() bool { return cli.Stats().Pool == 0 }, "client notices the server is gone")
	stop(t, srv) // a second Stop is harmless
}

func TestServerDefaultTunnelKey(t *testing.T) {
	t.Parallel()
	rt := runtime.New(runtime.Options{})
	echo := echoBoth(t)
	bridgePort, userPort := port(t), port(t)
	user := "127.0.0.1:" + strconv.Itoa(userPort)
	// No key on either side: both derive it from the bridge port.
	srv := start(t, rt, "srv", fmt.Sprintf("server://127.0.0.1:%d/%s", bridgePort, user))
	start(t, rt, "cli", fmt.Sprintf("client://127.0.0.1:%d/127.0.0.1:%d", bridgePort, echo))
	testutil.Eventually(t, testutil.Wait, 10*time.Millisecond, func() bool { return srv.Stats().Pool == 1 }, "agent connected with the default key")
	tcpEcho(t, user, 10)
}

func TestNoTCPNoUDP(t *testing.T) {
	t.Parallel()
	rt := runtime.New(runtime.Options{})
	echo := echoBoth(t)
	for _, c := range []struct{ param, free string }{{"notcp=1", "tcp"}, {"noudp=1", "udp"}} {
		bridgePort, userPort := port(t), port(t)
		user := "127.0.0.1:" + strconv.Itoa(userPort)
		srv := start(t, rt, c.param, fmt.Sprintf("server://k@127.0.0.1:%d/%s?%s", bridgePort, user, c.param))
		start(t, rt, c.param+"-cli", fmt.Sprintf("client://k@127.0.0.1:%d/127.0.0.1:%d", bridgePort, echo))
		testutil.Eventually(t, testutil.Wait, 10*time.Millisecond, func() bool { return srv.Stats().Pool == 1 }, "agent connected")
		// The disabled protocol's port is not bound: the test can take it.
		if c.free == "tcp" {
			ln, err := net.Listen("tcp", user)
			if err != nil {
				t.Fatalf("%s: TCP user port is bound: %v", c.param, err)
			}
			_ = ln.Close()
			udpEcho(t, user, 100)
		} else {
			pc, err := net.ListenPacket("udp", user)
			if err != nil {
				t.Fatalf("%s: UDP user port is bound: %v", c.param, err)
			}
			_ = pc.Close()
			tcpEcho(t, user, 100)
		}
	}
}

func TestStandaloneTCPWithBridge(t *testing.T) {
	t.Parallel()
	rt := runtime.New(runtime.Options{})
	echo := echoBoth(t)
	bridgePort, userPort := port(t), port(t)
	user := "127.0.0.1:" + strconv.Itoa(userPort)
	crt, key, fp := testutil.CertFiles(t, "localhost")
	tcpInst := start(t, rt, "t", fmt.Sprintf("tcp://%s/127.0.0.1:%d?agent=ak&bridge=127.0.0.1:%d&bridgetls=2&bridgecrt=%s&bridgekey=%s", user, echo, bridgePort, crt, key))
	// The agent has no default target: the link names the tcp instance's,
	// which its allow= list permits.
	cli := start(t, rt, "c", fmt.Sprintf("client://ak@127.0.0.1:%d?fp=%s&allow=127.0.0.1:%d", bridgePort, fp, echo))
	testutil.Eventually(t, testutil.Wait, 10*time.Millisecond, func() bool { return tcpInst.Stats().Pool == 1 && cli.Stats().Pool == 1 }, "agent connected")
	tcpEcho(t, user, 4321)
	testutil.Eventually(t, testutil.Wait, 10*time.Millisecond, func() bool { s := tcpInst.Stats(); return s.TCPRx == 4321 && s.TCPTx == 4321 }, "tcp instance figures")

	// A standalone udp instance on its own bridge too.
	bridge2, userPort2 := port(t), port(t)
	user2 := "127.0.0.1:" + strconv.Itoa(userPort2)
	udpInst := start(t, rt, "u", fmt.Sprintf("udp://%s/127.0.0.1:%d?agent=uk&bridge=127.0.0.1:%d&bridgetls=0", user2, echo, bridge2))
	start(t, rt, "c2", fmt.Sprintf("client://uk@127.0.0.1:%d?tls=0&allow=127.0.0.1:%d", bridge2, echo))
	testutil.Eventually(t, testutil.Wait, 10*time.Millisecond, func() bool { return udpInst.Stats().Pool == 1 }, "udp agent connected")
	udpEcho(t, user2, 10, 20)
	testutil.Eventually(t, testutil.Wait, 10*time.Millisecond, func() bool { s := udpInst.Stats(); return s.UDPRx == 30 && s.UDPTx == 30 && s.UDPs == 1 }, "udp instance figures")
}

func TestSharedBridgeKeys(t *testing.T) {
	t.Parallel()
	shared := runtime.NewSharedBridge(nil, false, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tunneltest.ServeOn(t, shared.Server, ln)
	rt := runtime.New(runtime.Options{Shared: shared})
	echo := echoBoth(t)

	u1, u2 := "127.0.0.1:"+strconv.Itoa(port(t)), "127.0.0.1:"+strconv.Itoa(port(t))
	a := start(t, rt, "a", fmt.Sprintf("tcp://%s/127.0.0.1:%d?agent=pool", u1, echo))
	b := start(t, rt, "b", fmt.Sprintf("tcp://%s/127.0.0.1:%d?agent=pool", u2, echo))
	start(t, rt, "cli", fmt.Sprintf("client://pool@%s?tls=0&allow=127.0.0.1:%d", ln.Addr(), echo))
	testutil.Eventually(t, testutil.Wait, 10*time.Millisecond, func() bool { return shared.Server.Online("pool") }, "agent online")
	tcpEcho(t, u1, 10)
	tcpEcho(t, u2, 20)
	if a.Stats().TCPRx != 10 || b.Stats().TCPRx != 20 {
		testutil.Eventually(t, testutil.Wait, 10*time.Millisecond, func() bool { return a.Stats().TCPRx == 10 && b.Stats().TCPRx == 20 }, "each instance counts its own bytes")
	}

	// The key stays while one instance names it.
	stop(t, a)
	if !shared.Keys.Accepts("pool") || !shared.Server.Online("pool") {
		t.Fatal("stopping one of two instances dropped the shared key")
	}
	tcpEcho(t, u2, 5)
	// The last one takes the key and its agents with it.
	stop(t, b)
	if shared.Keys.Accepts("pool") {
		t.Fatal("key still accepted after its last instance stopped")
	}
	testutil.Eventually(t, testutil.Wait, 10*time.Millisecond, func() bool { return !shared.Server.Online("pool") }, "agent revoked")
	if testutil.Poll(300*time.Millisecond, 10*time.Millisecond, func() bool { return shared.Server.Online("pool") }) {
		t.Fatal("revoked agent came back")
	}
}

func TestClientHealthWhenRefused(t *testing.T) {
	t.Parallel()
	rt := runtime.New(runtime.Options{})
	bridgePort := port(t)
	srv := start(t, rt, "srv", fmt.Sprintf("server://right@127.0.0.1:%d/127.0.0.1:%d", bridgePort, port(t)))
	cli := start(t, rt, "cli", fmt.Sprintf("client://wrong@127.0.0.1:%d/127.0.0.1:1", bridgePort))
	testutil.Eventually(t, testutil.Wait, 10*time.Millisecond, func() bool {
		err := cli.Health()
		return err != nil && strings.Contains(err.Error(), "unknown key")
	}, "client health names the refusal")
	if err := cli.Health(); strings.Contains(err.Error(), "wrong") {
		t.Fatalf("health shows the key: %v", err)
	}
	if cli.Stats().Pool != 0 || srv.Stats().Pool != 0 {
		t.Fatal("refused client counted in a pool")
	}

	// A client whose bridge is not there says so too.
	lost := start(t, rt, "lost", fmt.Sprintf("client://k@127.0.0.1:%d", port(t)))
	testutil.Eventually(t, testutil.Wait, 10*time.Millisecond, func() bool { return lost.Health() != nil }, "client health reports an unreachable bridge")
}

func TestValidateErrors(t *testing.T) {
	t.Parallel()
	alone := runtime.New(runtime.Options{})
	withShared := runtime.New(runtime.Options{Shared: runtime.NewSharedBridge(nil, false, nil)})
	cases := []struct {
		rt   *runtime.Runtime
		url  string
		want string // "" = valid
	}{
		{alone, "master://127.0.0.1:9090/api", "master"},
		{alone, "myproto://127.0.0.1:9000/x?agent=k", `no handler for scheme "myproto"`},
		{alone, "tcp://127.0.0.1:9000/127.0.0.1:22?agent=k", "bridge="},
		{alone, "udp://127.0.0.1:9000/127.0.0.1:53?agent=k", "bridge="},
		{alone, "udp://127.0.0.1:9000/127.0.0.1:53?agent=k&bridge=127.0.0.1:1", ""},
		{withShared, "tcp://127.0.0.1:9000/127.0.0.1:22?agent=k", ""},
		{alone, "server://k@127.0.0.1:10101/127.0.0.1:8080", ""},
		{alone, "client://k@127.0.0.1:10101", ""},
	}
	for _, c := range cases {
		err := c.rt.Validate(parse(t, c.url))
		if strings.HasPrefix(c.url, "master:") || strings.HasPrefix(c.url, "myproto:") {
			if !errors.Is(err, runtime.ErrUnknownScheme) {
				t.Errorf("Validate(%s) = %v, want ErrUnknownScheme", c.url, err)
			}
		}
		switch {
		case c.want == "" && err != nil:
			t.Errorf("Validate(%s): %v", c.url, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("Validate(%s) = %v, want an error mentioning %q", c.url, err, c.want)
		}
	}
	// Start refuses what Validate refuses, and a port in use.
	if _, err := alone.Start(context.Background(), "x", parse(t, "master://127.0.0.1:9090/api"), nil); err == nil {
		t.Fatal("Start of a master")
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	if _, err := alone.Start(context.Background(), "x", parse(t, "server://k@"+busy.Addr().String()+"/127.0.0.1:"+strconv.Itoa(port(t))), nil); err == nil {
		t.Fatal("server on a bridge port in use started")
	}
	// mode=1 (reverse) must bind its target; mode=0 would fall back to
	// forward mode, where the client listens for users instead.
	if _, err := alone.Start(context.Background(), "x", parse(t, fmt.Sprintf("server://k@127.0.0.1:%d/%s?mode=1", port(t), busy.Addr())), nil); err == nil {
		t.Fatal("server on a user port in use started")
	}
}

// hangingHandler is a plugin that never answers Validate.
type hangingHandler struct{ sdk.Handler }

func (hangingHandler) Describe(context.Context) (sdk.Descriptor, error) {
	return sdk.Descriptor{Name: "hang", Schemes: []string{"hang"}}, nil
}

func (hangingHandler) Validate(ctx context.Context, _ sdk.InstanceSpec) error {
	<-ctx.Done()
	return ctx.Err()
}

type hangingPlugins struct{}

func (hangingPlugins) Schemes() []string                   { return []string{"hang"} }
func (hangingPlugins) Handler(string) (sdk.Handler, error) { return hangingHandler{}, nil }

// A plugin that never answers Validate cannot hang the caller (the API):
// the call ends at CallTimeout with an error that says so.
func TestValidateHasADeadline(t *testing.T) {
	t.Parallel()
	rt := runtime.New(runtime.Options{Shared: runtime.NewSharedBridge(nil, false, nil), Plugins: hangingPlugins{}, CallTimeout: 50 * time.Millisecond})
	done := make(chan error, 1)
	go func() { done <- rt.Validate(parse(t, "hang://127.0.0.1:9000/10.0.0.0/8?agent=k")) }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "no answer to validate within 50ms") {
			t.Fatalf("Validate of a hanging plugin = %v, want the deadline named", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Validate of a hanging plugin still waiting after 5s")
	}
}

// A plugin host's report of an error is about one run: a manual restart
// that serves again reports healthy, not the stale error.
func TestRestartClearsPluginError(t *testing.T) {
	t.Parallel()
	rt := runtime.New(runtime.Options{Shared: runtime.NewSharedBridge(nil, false, nil)})
	raw := fmt.Sprintf("tcp://127.0.0.1:%d/127.0.0.1:22?agent=k", port(t))
	r, err := rt.Start(context.Background(), "p", parse(t, raw), nil)
	if err != nil {
		t.Fatal(err)
	}
	rt.PluginState("p", "error", "plugin burrow-tcp (pid 1) died")
	if r.Health() == nil {
		t.Fatal("no error after the plugin host reported one")
	}
	stop(t, r)
	r = start(t, rt, "p", raw)
	if err := r.Health(); err != nil {
		t.Fatalf("health after a manual restart that serves: %v", err)
	}
}
