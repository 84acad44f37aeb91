// Package bench measures Burrow's data path against a direct connection in
// the same run: single-connection throughput and connect+echo latency, with
// handlers linked in and as go-plugin processes. Everything runs on
// loopback: backends, a shared bridge, tcp instances on it, and a real
// agent dialing the bridge over TCP, in this process; plugin handlers in
// their own.
package bench

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/burrowproject/burrow/bridge"
	"github.com/burrowproject/burrow/conf"
	"github.com/burrowproject/burrow/internal/testutil"
	"github.com/burrowproject/burrow/internal/tlsx"
	"github.com/burrowproject/burrow/server/pluginhost"
	"github.com/burrowproject/burrow/server/runtime"
	"github.com/burrowproject/burrow/test/e2e/framework"
)

// backends are the servers a benchmark reaches, directly or through a
// tunnel: a sink that counts what it gets, a source that sends what it is
// asked for, and an echo.
type backends struct {
	sink, source, echo string
	web                string // HTTP: /small, /big (1 MiB), /ws (WebSocket echo)
	udp                string // a UDP echo; "" on a path that carries no UDP (the relays)
}

// webHost is the host name the http instance routes.
const webHost = "bench.local"

const agentKey = "bench-key"

// pluginDir is where make plugins puts the handler binaries; BURROW_PLUGINS
// overrides it.
func pluginDir() string {
	if d := os.Getenv("BURROW_PLUGINS"); d != "" {
		return d
	}
	return filepath.Join("..", "..", "bin", "plugins")
}

// newBackends starts the sink, source and echo servers.
func newBackends(tb testing.TB) backends {
	tb.Helper()
	var (
		wg  sync.WaitGroup
		lns []net.Listener
	)
	serve := func(handle func(net.Conn)) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		lns = append(lns, ln)
		wg.Add(1)
		go func() {
			defer wg.Done()
			var conns sync.WaitGroup
			defer conns.Wait()
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				conns.Add(1)
				go func() { defer conns.Done(); defer c.Close(); handle(c) }()
			}
		}()
		return ln.Addr().String()
	}
	b := backends{
		sink:   serve(sinkHandler),
		source: serve(sourceHandler),
		echo:   serve(func(c net.Conn) { _, _ = io.Copy(c, c) }),
	}
	web := httptest.NewServer(webHandler())
	b.web = web.Listener.Addr().String()
	b.udp = udpEcho(tb)
	tb.Cleanup(func() {
		web.CloseClientConnections()
		web.Close()
		for _, ln := range lns {
			_ = ln.Close()
		}
		wg.Wait()
	})
	return b
}

// webHandler serves the HTTP scenarios.
func webHandler() http.Handler {
	big := make([]byte, 1<<20)
	mux := http.NewServeMux()
	mux.HandleFunc("/small", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	mux.HandleFunc("/big", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(big) })
	mux.Handle("/ws", testutil.WebSocketEcho())
	return mux
}

// newTunnel starts a shared bridge, an agent, and a tcp instance to each
// backend, and returns the instances' addresses. processes runs the tcp
// handler as a go-plugin process (the master's default) instead of linked
// in; secure puts TLS on the bridge (the master's default), pinned by the
// agent.
func newTunnel(tb testing.TB, to backends, processes, secure bool) backends {
	tb.Helper()
	if secure {
		return newTunnelOn(tb, to, processes, &carrierSpec{carrier: bridge.CarrierTCP})
	}
	return newTunnelOn(tb, to, processes, nil)
}

// carrierSpec is a benchmark bridge with TLS (a self-signed certificate the
// agent pins) on a carrier.
type carrierSpec struct{ carrier bridge.CarrierType }

// newTunnelOn is newTunnel with the bridge on a carrier; nil is a plain
// TCP bridge (tls=0 agents).
func newTunnelOn(tb testing.TB, to backends, processes bool, on *carrierSpec) backends {
	tb.Helper()
	opts := runtime.Options{Version: "bench"}
	if processes {
		ph, err := pluginhost.New(pluginhost.Config{Dir: pluginDir()})
		if err != nil {
			tb.Fatalf("plugin processes need the plugin binaries (make plugins): %v", err)
		}
		tb.Cleanup(func() { _ = ph.Close() })
		opts.Plugins = ph
	}
	var cfg bridge.Config // plain without a carrier: figures stay comparable with earlier runs
	agentQuery := "tls=0"
	if on != nil {
		tc, fp, err := tlsx.ServerConfig(1, "", "")
		if err != nil {
			tb.Fatal(err)
		}
		cfg = bridge.Config{TLS: tc, Carrier: on.carrier}
		agentQuery = "fp=" + fp
		if on.carrier != bridge.CarrierTCP {
			agentQuery += fmt.Sprintf("&type=%d", on.carrier)
		}
	}
	shared := runtime.NewSharedBridgeConfig(cfg)
	bl, err := runtime.ListenBridge(shared.Server, cfg.Carrier, "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	bl.Start()
	bridgeAddr := bl.Addr()
	opts.Shared = shared
	rt := runtime.New(opts)

	var running []*runtime.Running
	tb.Cleanup(func() {
		for _, r := range running {
			_ = r.Stop(context.Background())
		}
		bl.Stop()
		_ = shared.Server.Close()
	})
	start := func(id, raw string) {
		inst, err := conf.Parse(raw)
		if err != nil {
			tb.Fatal(err)
		}
		r, err := rt.Start(context.Background(), id, inst, nil)
		if err != nil {
			tb.Fatalf("start %s: %v", id, err)
		}
		running = append(running, r)
	}
	instance := func(id, target string) string {
		addr := "127.0.0.1:" + strconv.Itoa(testutil.FreePort(tb))
		start(id, "tcp://"+addr+"/"+target+"?agent="+agentKey)
		return addr
	}
	t := backends{
		sink:   instance("sink", to.sink),
		source: instance("source", to.source),
		echo:   instance("echo", to.echo),
	}
	t.udp = "127.0.0.1:" + strconv.Itoa(testutil.FreeUDPPort(tb))
	start("udp", "udp://"+t.udp+"/"+to.udp+"?agent="+agentKey)
	t.web = "127.0.0.1:" + strconv.Itoa(testutil.FreePort(tb))
	start("web", "http://"+t.web+"/"+to.web+"?agent="+agentKey+"&host="+webHost)
	start("agent", "client://"+agentKey+"@"+bridgeAddr+"?"+agentQuery+"&allow=127.0.0.0/8"+os.Getenv("BURROW_BENCH_AGENT"))
	deadline := time.Now().Add(10 * time.Second)
	for shared.Server.Sessions(agentKey) == 0 {
		if time.Now().After(deadline) {
			tb.Fatal("agent did not connect within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return t
}

// paths are the ways to reach the backends, measured side by side in one
// run: directly; through two plain relays (the reference for a tunnel);
// through Burrow with the handlers linked in and as plugin processes, both
// with bridge tls=0, and as plugin processes with bridge TLS (the master's
// defaults); and through frp with its defaults (TLS on) when its binaries
// are present.
type paths struct {
	names []string // "direct", "relays", "inproc", "process", "process-tls"[, "frp"]
	addrs []backends
	frp   *frp // nil without the frp binaries
}

// Indexes of the paths every run has.
const (
	pathDirect = iota
	pathRelays
	pathInproc
	pathProcess
	pathProcessTLS
)

func newPaths(tb testing.TB) paths {
	direct := newBackends(tb)
	p := paths{
		names: []string{"direct", "relays", "inproc", "process", "process-tls"},
		addrs: []backends{direct, newRelays(tb, direct), newTunnel(tb, direct, false, false), newTunnel(tb, direct, true, false),
			newTunnel(tb, direct, true, true)},
	}
	if viaFRP, f, ok := newFRP(tb, direct); ok {
		p.names, p.addrs, p.frp = append(p.names, "frp"), append(p.addrs, viaFRP), f
	}
	return p
}

// cpu is the CPU time the processes on path i have used: this process
// (client, backends, relays, Burrow's host and agent) and the handler
// plugin processes, or frp's two processes on its path.
func (p paths) cpu(i int) time.Duration {
	if p.frp != nil && p.names[i] == "frp" {
		return cpuTime() + p.frp.cpu()
	}
	return cpuTime() + pluginCPU()
}

// pluginCPU is the CPU time the handler plugin processes this process
// started have used so far (those that are still running).
func pluginCPU() time.Duration {
	var total time.Duration
	for _, pids := range framework.PluginProcesses(os.Getpid()) {
		for _, pid := range pids {
			total += processCPU(pid)
		}
	}
	return total
}

// sinkHandler reads a byte count, then that many bytes, and answers with
// the count it got. The count comes first (rather than reading until EOF)
// so that no path needs half-close: frp has none.
func sinkHandler(c net.Conn) {
	var b [8]byte
	if _, err := io.ReadFull(c, b[:]); err != nil {
		return
	}
	n, _ := io.CopyN(io.Discard, c, int64(binary.BigEndian.Uint64(b[:])))
	binary.BigEndian.PutUint64(b[:], uint64(n))
	_, _ = c.Write(b[:])
}

// sourceHandler reads a byte count, then sends that many bytes.
func sourceHandler(c net.Conn) {
	var b [8]byte
	if _, err := io.ReadFull(c, b[:]); err != nil {
		return
	}
	_, _ = io.CopyN(c, zeroReader{}, int64(binary.BigEndian.Uint64(b[:])))
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
