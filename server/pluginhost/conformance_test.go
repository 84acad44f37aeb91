package pluginhost

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-plugin"

	"github.com/burrowproject/burrow/internal/testutil"
	"github.com/burrowproject/burrow/plugins/sdk"
	"github.com/burrowproject/burrow/plugins/sdk/fdlink"
	"github.com/burrowproject/burrow/plugins/tcp"
	"github.com/burrowproject/burrow/plugins/udp"
	"github.com/burrowproject/burrow/server/flow"
)

// A backend gives the handler for a scheme three ways: linked in
// (in-process), through the real gRPC shim and fd link inside this process
// (plugin.TestPluginGRPCConn), and as a real plugin process.
type backend struct {
	name    string
	handler func(t *testing.T, scheme string) sdk.Handler
}

var backends = []backend{
	{"inprocess", func(_ *testing.T, scheme string) sdk.Handler { return builtin(scheme) }},
	{"grpcshim", func(t *testing.T, scheme string) sdk.Handler { return mustHandler(t, shimHost(t, scheme), scheme) }},
	{"process", func(t *testing.T, scheme string) sdk.Handler {
		return mustHandler(t, processHost(t, Config{}, scheme), scheme)
	}},
}

func builtin(scheme string) sdk.Handler {
	if scheme == "udp" {
		return udp.New()
	}
	return tcp.New()
}

func mustHandler(t *testing.T, h *Host, scheme string) sdk.Handler {
	t.Helper()
	hd, err := h.Handler(scheme)
	if err != nil {
		t.Fatal(err)
	}
	return hd
}

// processHost runs the test binary as plugin processes for modes.
func processHost(t testing.TB, cfg Config, modes ...string) *Host {
	t.Helper()
	cfg.Dir = pluginDir(t, modes...)
	// A race-enabled plugin otherwise sleeps 1s at exit.
	cfg.Env = append(cfg.Env, "GORACE=atexit_sleep_ms=0")
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return h
}

// shimHost is a Host whose plugin for scheme runs in this process behind
// go-plugin's gRPC test connection and a real fd link.
func shimHost(t testing.TB, scheme string) *Host { return shimHostFor(t, scheme, builtin(scheme)) }

// shimHostFor is shimHost serving handler hd for scheme.
func shimHostFor(t testing.TB, scheme string, hd sdk.Handler) *Host {
	cfg := Config{Logger: testLogger(t), PingInterval: -1}
	cfg.complete()
	h := &Host{cfg: cfg, log: cfg.Logger, secure: secureConfig, procs: map[string]*proc{}}
	p := newProc(h, binary{name: scheme})
	p.launcher = func() (*launch, error) { return shimLaunch(t, p, hd) }
	h.procs[scheme] = p
	t.Cleanup(func() { _ = h.Close() })
	return h
}

type shimProc struct {
	once sync.Once
	kill func()
}

func (s *shimProc) Exited() bool { return false }
func (s *shimProc) Ping() error  { return nil }
func (s *shimProc) Kill()        { s.once.Do(s.kill) }

func shimLaunch(t testing.TB, p *proc, h sdk.Handler) (*launch, error) {
	hostEnd, pf, err := fdlink.Pair()
	if err != nil {
		return nil, err
	}
	pluginEnd, err := fdlink.FromFile(pf)
	if err != nil {
		return nil, err
	}
	srv := sdk.NewPluginServer(h, pluginEnd, testLogger(t))
	runDone := make(chan struct{})
	go func() {
		defer close(runDone)
		_ = srv.Run()
	}()
	gc, _ := plugin.TestPluginGRPCConn(t, false, srv.Plugins())
	l := newLaunch(&shimProc{kill: func() {
		_ = gc.Close() // its Shutdown RPC stops gs
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		srv.Shutdown(ctx)
		cancel()
		_ = pluginEnd.Close()
		<-runDone
	}}, hostEnd)
	raw, err := gc.Dispense(sdk.PluginName)
	if err != nil {
		l.kill()
		return nil, err
	}
	l.remote = raw.(*sdk.Remote)
	if err := p.ready(l); err != nil {
		l.kill()
		return nil, err
	}
	return l, nil
}

func TestConformance(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Run("describe", func(t *testing.T) { testDescribe(t, b) })
			t.Run("validate", func(t *testing.T) { testValidate(t, b) })
			t.Run("tcp_echo", func(t *testing.T) { testTCPEcho(t, b) })
			t.Run("tcp_refused_target", func(t *testing.T) { testTCPRefused(t, b) })
			t.Run("udp_echo", func(t *testing.T) { testUDPEcho(t, b) })
			t.Run("stop_frees_port", func(t *testing.T) { testStopFreesPort(t, b) })
		})
	}
}

func testDescribe(t *testing.T, b backend) {
	for _, scheme := range []string{"tcp", "udp"} {
		d, err := b.handler(t, scheme).Describe(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		want, _ := builtin(scheme).Describe(context.Background())
		if d.Name != want.Name || d.SDKVersion != sdk.Version || fmt.Sprint(d.Capabilities) != fmt.Sprint(want.Capabilities) ||
			fmt.Sprint(d.Params) != fmt.Sprint(want.Params) {
			t.Fatalf("%s: got %+v, want %+v", scheme, d, want)
		}
	}
}

func testValidate(t *testing.T, b backend) {
	h := b.handler(t, "udp")
	ctx := context.Background()
	if err := h.Validate(ctx, sdk.InstanceSpec{ID: "v", Listen: "127.0.0.1:1", Params: map[string]string{"idle": "30s"}}); err != nil {
		t.Fatal(err)
	}
	err := h.Validate(ctx, sdk.InstanceSpec{ID: "v", Listen: "127.0.0.1:1", Params: map[string]string{"idle": "soon"}})
	if err == nil || err.Error() != `udp: parameter idle: "soon" is not a duration (e.g. 30s, 5m)` {
		t.Fatalf("got %v", err)
	}
}

func testTCPEcho(t *testing.T, b backend) {
	e := newEnv(t)
	h := b.handler(t, "tcp")
	addr, meter := e.start(h, "t1", "tcp")
	const conns, rounds = 10, 3
	concurrentConns(t, "tcp", addr, conns, func(i int, c net.Conn) error {
		for r := range rounds {
			if err := echoOnce(c, []byte(fmt.Sprintf("conn %02d round %d", i, r))); err != nil {
				return err
			}
		}
		return nil
	})
	total := int64(conns * rounds * len("conn 00 round 0"))
	testutil.Eventually(t, 5*time.Second, 10*time.Millisecond, func() bool {
		s := meter.Snapshot()
		return s.TCPRx == total && s.TCPTx == total && s.TCPs == 0
	}, fmt.Sprintf("counters rx=tx=%d, no open conns (have %+v)", total, meter.Snapshot()))
}

// concurrentConns dials addr over network n times and runs fn on every
// connection at once; it stops the test if any fn fails.
func concurrentConns(t *testing.T, network, addr string, n int, fn func(i int, c net.Conn) error) {
	t.Helper()
	testutil.Concurrently(t, n, func(i int) error {
		c, err := net.Dial(network, addr)
		if err != nil {
			return err
		}
		defer c.Close()
		return fn(i, c)
	})
	if t.Failed() {
		t.FailNow()
	}
}

func testTCPRefused(t *testing.T, b backend) {
	e := newEnv(t)
	h := b.handler(t, "tcp")
	spec, _ := e.add("refused", "tcp", testutil.ClosedAddr(t))
	if err := h.Start(context.Background(), spec, e.host); err != nil {
		t.Fatal(err)
	}
	defer e.stop(h, "refused")
	c, err := net.Dial("tcp", e.host.Addr("refused").String())
	if errors.Is(err, syscall.ECONNRESET) {
		return // reset so fast that even the connect saw it: closed, as it should be
	}
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	_, _ = c.Write([]byte("hello"))
	buf := make([]byte, 8)
	if n, err := c.Read(buf); err == nil {
		t.Fatalf("read %q from a link whose target refuses", buf[:n])
	} else if errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "timeout") {
		t.Fatalf("connection not closed: %v", err)
	}
}

func testUDPEcho(t *testing.T, b backend) {
	e := newEnv(t)
	h := b.handler(t, "udp")
	addr, meter := e.start(h, "u1", "udp")
	const peers, dgrams = 3, 5
	concurrentConns(t, "udp", addr, peers, func(i int, c net.Conn) error {
		buf := make([]byte, 2048)
		for d := range dgrams {
			msg := fmt.Sprintf("peer %d datagram %d", i, d)
			// UDP may drop; retry a few times.
			var got string
			for try := 0; try < 5 && got != msg; try++ {
				_, _ = c.Write([]byte(msg))
				_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
				n, err := c.Read(buf)
				if err == nil {
					got = string(buf[:n])
				}
			}
			if got != msg {
				return fmt.Errorf("peer %d: got %q, want %q", i, got, msg)
			}
		}
		return nil
	})
	// The host adds a datagram to rx once its write to the link returns,
	// which may be just after the echo came back: wait (bounded) for the
	// counters to settle rather than read them at once.
	min := int64(peers * dgrams * len("peer 0 datagram 0"))
	var s flow.Stats
	settled := testutil.Poll(testutil.Wait, 10*time.Millisecond, func() bool {
		s = meter.Snapshot()
		return s.UDPRx >= min && s.UDPTx >= min && s.UDPRx == s.UDPTx
	})
	if !settled {
		t.Fatalf("udp counters %+v, want rx=tx>=%d", s, min)
	}
}

func testStopFreesPort(t *testing.T, b backend) {
	e := newEnv(t)
	h := b.handler(t, "tcp")
	spec, _ := e.add("s1", "tcp")
	if err := h.Start(context.Background(), spec, e.host); err != nil {
		t.Fatal(err)
	}
	addr := e.host.Addr("s1").String()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if err := echoOnce(c, []byte("before stop")); err != nil {
		t.Fatal(err)
	}
	_ = c.Close()
	e.stop(h, "s1")
	testutil.Eventually(t, 5*time.Second, 10*time.Millisecond, func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return true
		}
		_ = c.Close()
		return false
	}, "port closed after stop")
	// The port can be bound again.
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("port still held after stop: %v", err)
	}
	_ = ln.Close()
}
