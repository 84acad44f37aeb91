package pluginhost

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/burrowproject/burrow/internal/testutil"
	"github.com/burrowproject/burrow/internal/testutil/tunneltest"
	"github.com/burrowproject/burrow/plugins/sdk"
	"github.com/burrowproject/burrow/plugins/tcp"
	"github.com/burrowproject/burrow/plugins/udp"
	"github.com/burrowproject/burrow/server/flow"
	"github.com/burrowproject/burrow/server/host"
)

// TestMain doubles as the plugin binary: the tests copy this test binary
// into a plugin directory as burrow-<mode>, and go-plugin runs it with its
// handshake cookie set. The mode is the file name.
func TestMain(m *testing.M) {
	if os.Getenv(sdk.MagicCookieKey) != "" {
		servePluginMode(strings.TrimPrefix(filepath.Base(os.Args[0]), BinaryPrefix))
		return
	}
	testutil.VerifyNoLeaks(m)
}

func servePluginMode(mode string) {
	switch mode {
	case "tcp":
		sdk.Serve(tcp.New())
	case "tcphandoff":
		sdk.Serve(handoffOnly{tcp.New()})
	case "udp":
		sdk.Serve(udp.New())
	case "v2":
		sdk.ServeWith(tcp.New(), sdk.ServeOptions{ProtocolVersion: 2})
	case "chatty":
		// Its own log lines before it serves, as a plugin's logger writes
		// them (go-plugin reads stderr from the start).
		own := sdk.NewLogger(os.Stderr, os.Getenv(sdk.EnvLogLevel))
		own.Warn("own warning", "k", "v")
		own.Info("own info")
		own.Debug("own debug")
		sdk.Serve(tcp.New())
	case "mute":
		// Never answers the handshake; the host's start timeout kills it.
		fmt.Fprintln(os.Stderr, "mute plugin: not answering")
		time.Sleep(time.Hour)
	case "crash":
		fmt.Fprintln(os.Stderr, "panic: crash plugin refuses to start")
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "unknown test plugin mode", mode)
		os.Exit(3)
	}
}

// handoffOnly is the tcp handler kept from forwarding: it accepts and hands
// off every connection itself, the path of handlers that read from their
// connections first (http, socks5).
type handoffOnly struct{ *tcp.Handler }

func (h handoffOnly) Start(ctx context.Context, spec sdk.InstanceSpec, host sdk.Host) error {
	return h.Handler.Start(ctx, spec, struct{ sdk.Host }{host})
}

// pluginDir makes a plugin directory holding copies of this test binary
// named burrow-<mode> for each mode, and a manifest pinning them.
func pluginDir(t testing.TB, modes ...string) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	var manifest strings.Builder
	manifest.WriteString("# test plugins\n")
	sum := sha256.Sum256(src)
	for _, mode := range modes {
		name := BinaryPrefix + mode
		if err := os.WriteFile(filepath.Join(dir, name), src, 0o755); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&manifest, "%s  %s\n", hex.EncodeToString(sum[:]), name)
	}
	if err := os.WriteFile(filepath.Join(dir, ManifestName), []byte(manifest.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// testLogger logs to the test when -v is given, else discards.
func testLogger(t testing.TB) *slog.Logger {
	if !testing.Verbose() {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(&tlogWriter{t: t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tlogWriter struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

func (w *tlogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

// env is a real tunnel on loopback: a bridge, an agent connected to it,
// server/host on top, and echo backends the agent dials.
type env struct {
	t       testing.TB
	key     string
	host    *host.Host
	echoTCP string
	echoUDP string
	sinkTCP string // reads and discards, for throughput
}

func newEnv(t testing.TB) *env {
	t.Helper()
	key := "key-" + rand.Text()
	tn := tunneltest.Start(t, key)
	return &env{
		t:       t,
		key:     key,
		host:    tn.Host(),
		echoTCP: testutil.ServeTCP(t, testutil.Echo),
		echoUDP: testutil.ServeUDPEcho(t),
		sinkTCP: testutil.ServeTCP(t, testutil.Discard),
	}
}

// add registers an instance with the host (binding its sockets) and
// returns its spec and meter.
func (e *env) add(id, scheme string, targets ...string) (sdk.InstanceSpec, *flow.Meter) {
	e.t.Helper()
	if len(targets) == 0 {
		targets = []string{e.echoTCP}
		if scheme == "udp" {
			targets = []string{e.echoUDP}
		}
	}
	spec := sdk.InstanceSpec{ID: id, Scheme: scheme, Listen: "127.0.0.1:0", Targets: targets, Params: map[string]string{}}
	meter := flow.NewMeter(0, 0)
	if err := e.host.Add(host.Instance{Spec: spec, AgentKey: e.key, Meter: meter,
		TCP: scheme != "udp", UDP: scheme == "udp"}, nil); err != nil {
		e.t.Fatal(err)
	}
	return spec, meter
}

// start adds an instance and starts it on h.
func (e *env) start(h sdk.Handler, id, scheme string) (string, *flow.Meter) {
	e.t.Helper()
	spec, meter := e.add(id, scheme)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := h.Start(ctx, spec, e.host); err != nil {
		e.host.Remove(id, 0)
		e.t.Fatalf("start %s: %v", id, err)
	}
	e.t.Cleanup(func() { e.stop(h, id) })
	return e.host.Addr(id).String(), meter
}

func (e *env) stop(h sdk.Handler, id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := h.Stop(ctx, id)
	if err != nil && !errors.Is(err, sdk.ErrUnknownInstance) {
		e.t.Errorf("stop %s: %v", id, err)
	}
	e.host.Remove(id, 0)
}

// echoOnce writes msg on c and reads it back.
func echoOnce(c net.Conn, msg []byte) error { return testutil.EchoOnce(c, msg, 15*time.Second) }
