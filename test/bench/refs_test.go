package bench

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/burrowproject/burrow/internal/testutil"
)

// This file holds the references Burrow is measured against besides a
// direct connection: two plain relays in a row (the least any two-ended
// tunnel can cost: one TCP connection per user connection, copied kernel to
// kernel), frp with its defaults when its binaries are present, and for
// HTTP one reverse proxy (the least any proxy that parses every request
// costs: no tunnel behind it).

// newRelays puts two plain relays in a row in front of each backend: the
// first listens for users and dials the second per connection, the second
// dials the backend. Both copy with io.Copy between *net.TCPConn, which is
// splice(2) on Linux. The http backend is relayed as raw TCP: no routing.
func newRelays(tb testing.TB, to backends) backends {
	tb.Helper()
	pair := func(target string) string { return relay(tb, relay(tb, target)) }
	return backends{sink: pair(to.sink), source: pair(to.source), echo: pair(to.echo), web: pair(to.web)}
}

// relay listens on loopback and copies every connection to a new
// connection to target, both ways, with half-close: io.Copy between
// *net.TCPConn, which splices.
func relay(tb testing.TB, target string) string {
	tb.Helper()
	return testutil.ServeTCP(tb, func(c net.Conn) {
		up, err := net.DialTimeout("tcp", target, 5*time.Second)
		if err != nil {
			return
		}
		defer up.Close()
		var half sync.WaitGroup
		half.Go(func() {
			_, _ = io.Copy(up, c)
			_ = up.(*net.TCPConn).CloseWrite()
		})
		_, _ = io.Copy(c, up)
		_ = c.(*net.TCPConn).CloseWrite()
		half.Wait()
	})
}

// newProxy serves one net/http/httputil reverse proxy to the web backend
// at target in this process, set up like the http handler's (keep-alive
// upstream connections, no compression, X-Forwarded-* added) but with no
// tunnel, routing or checks: what parsing every request and response
// costs on its own. It returns the proxy's address.
func newProxy(tb testing.TB, target string) string {
	tb.Helper()
	to := &url.URL{Scheme: "http", Host: target}
	tr := &http.Transport{MaxIdleConnsPerHost: 2 * httpClients, DisableCompression: true}
	rp := &httputil.ReverseProxy{
		Rewrite:   func(pr *httputil.ProxyRequest) { pr.SetURL(to); pr.SetXForwarded(); pr.Out.Host = pr.In.Host },
		Transport: tr,
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := &http.Server{Handler: rp, ReadHeaderTimeout: 10 * time.Second}
	var served sync.WaitGroup
	served.Go(func() { _ = srv.Serve(ln) })
	tb.Cleanup(func() {
		_ = srv.Close()
		served.Wait()
		tr.CloseIdleConnections()
	})
	return ln.Addr().String()
}

// frpDir is where the reference frp binaries are (BURROW_FRP overrides).
func frpDir() string {
	if d := os.Getenv("BURROW_FRP"); d != "" {
		return d
	}
	return filepath.Join("..", "..", "..", "shared", "tools")
}

// frp is a running frps + frpc pair.
type frp struct {
	procs []*os.Process
}

// cpu returns the CPU time frps and frpc have used so far.
func (f *frp) cpu() time.Duration {
	var total time.Duration
	for _, p := range f.procs {
		total += processCPU(p.Pid)
	}
	return total
}

// newFRP starts frps and frpc with their defaults (TLS between them, as frp
// ships) and a tcp proxy per backend, a udp proxy to the UDP echo, and an
// http proxy routing webHost;
// ok is false when the binaries are absent.
func newFRP(tb testing.TB, to backends) (backends, *frp, bool) {
	tb.Helper()
	dir, err := filepath.Abs(frpDir())
	if err != nil {
		tb.Fatal(err)
	}
	frps, frpc := filepath.Join(dir, "frps"), filepath.Join(dir, "frpc")
	for _, bin := range []string{frps, frpc} {
		if _, err := os.Stat(bin); err != nil {
			tb.Logf("frp reference skipped: %v", err)
			return backends{}, nil, false
		}
	}
	work := tb.TempDir()
	port := func() int { return testutil.FreePort(tb) }
	bind, vhost := port(), port()
	var out backends
	var proxies strings.Builder
	for _, p := range []struct {
		name, target string
		addr         *string
	}{{"sink", to.sink, &out.sink}, {"source", to.source, &out.source}, {"echo", to.echo, &out.echo}} {
		host, tport, _ := net.SplitHostPort(p.target)
		remote := port()
		*p.addr = "127.0.0.1:" + strconv.Itoa(remote)
		fmt.Fprintf(&proxies, "[[proxies]]\nname = %q\ntype = \"tcp\"\nlocalIP = %q\nlocalPort = %s\nremotePort = %d\n\n", p.name, host, tport, remote)
	}
	uhost, uport, _ := net.SplitHostPort(to.udp)
	uremote := testutil.FreeUDPPort(tb)
	out.udp = "127.0.0.1:" + strconv.Itoa(uremote)
	fmt.Fprintf(&proxies, "[[proxies]]\nname = \"udp\"\ntype = \"udp\"\nlocalIP = %q\nlocalPort = %s\nremotePort = %d\n\n", uhost, uport, uremote)
	whost, wport, _ := net.SplitHostPort(to.web)
	fmt.Fprintf(&proxies, "[[proxies]]\nname = \"web\"\ntype = \"http\"\nlocalIP = %q\nlocalPort = %s\ncustomDomains = [%q]\n", whost, wport, webHost)
	out.web = "127.0.0.1:" + strconv.Itoa(vhost)
	write := func(name, body string) string {
		path := filepath.Join(work, name)
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			tb.Fatal(err)
		}
		return path
	}
	sconf := write("frps.toml", fmt.Sprintf("bindAddr = \"127.0.0.1\"\nbindPort = %d\nvhostHTTPPort = %d\nproxyBindAddr = \"127.0.0.1\"\nlog.level = \"error\"\n", bind, vhost))
	cconf := write("frpc.toml", fmt.Sprintf("serverAddr = \"127.0.0.1\"\nserverPort = %d\nlog.level = \"error\"\n\n%s", bind, proxies.String()))
	f := &frp{}
	for _, c := range [][]string{{frps, sconf}, {frpc, cconf}} {
		cmd := exec.Command(c[0], "-c", c[1])
		cmd.Dir = work
		cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
		if err := cmd.Start(); err != nil {
			tb.Fatalf("start %s: %v", c[0], err)
		}
		f.procs = append(f.procs, cmd.Process)
		tb.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		if c[0] == frps {
			waitListening(tb, "127.0.0.1:"+strconv.Itoa(bind))
		}
	}
	for _, addr := range []string{out.sink, out.source, out.echo, out.web} {
		waitListening(tb, addr)
	}
	waitHTTPRoute(tb, out.web)
	return out, f, true
}

// waitListening waits (at most 15 s) until addr accepts connections.
func waitListening(tb testing.TB, addr string) {
	tb.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = c.Close()
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s did not start listening: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitHTTPRoute waits (at most 15 s) until webHost is routed at addr.
func waitHTTPRoute(tb testing.TB, addr string) {
	tb.Helper()
	c := newClient()
	defer c.CloseIdleConnections()
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, err := get(c, addr, "/small")
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s does not route %s: %v", addr, webHost, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// processCPU is the user+system time of process pid from /proc (0 where
// there is no /proc).
func processCPU(pid int) time.Duration {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses and may
	// contain spaces: state is field 3, utime 14, stime 15.
	s := string(data)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		s = s[i+1:]
	}
	f := strings.Fields(s)
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	const ticks = 100 // USER_HZ on Linux
	return time.Duration(ut+st) * time.Second / ticks
}
