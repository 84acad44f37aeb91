package e2e

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/burrowproject/burrow/internal/testutil"
	"github.com/burrowproject/burrow/test/e2e/framework"
)

// The tunnel's carriers (issue 12, pool types: type= / bridgetype=): a
// master's shared bridge on each carrier, an agent reaching it through
// what sits in between (a reverse proxy, a relay), TCP and UDP instances
// carrying exact bytes, that thing restarted, and an agent on the wrong
// carrier told which one to use, or, without type= in its URL, following
// it. Every agent here is started by startCarrierAgent.

// startCarrierAgent starts the agent of m with key that dials addr (m's
// bridge, or what is in front of it) and pins fp (m's certificate when
// fp is ""), with query added.
func startCarrierAgent(f *framework.Framework, m *framework.Master, name, key, addr, fp string, query ...string) *framework.Process {
	f.T().Helper()
	u := m.AgentURL(key, query...)
	u = strings.Replace(u, "@"+m.BridgeAddr()+"?", "@"+addr+"?", 1)
	if fp != "" {
		u = strings.Replace(u, "fp="+m.Bridge().FP, "fp="+fp, 1)
	}
	return f.Burrow(name, u)
}

// between is what sits between an agent and the bridge.
type between struct {
	addr, fp      string // what the agent dials and pins ("" = the bridge's certificate)
	stop, start   func()
	sessionsAlive bool // a restart may leave sessions up (a QUIC connection moves to the new path)
}

// carrierSpec is one carrier's spec.
type carrierSpec struct {
	master []string                                                          // the master's query: bridgetype= and the rest
	agent  []string                                                          // the agent's carrier parameters
	front  func(t *testing.T, f *framework.Framework, bridge string) between // what is in between
	// wrong is a TCP agent's carrier mismatch message (it dials the bridge directly).
	wrong string
}

// runCarrierSpec runs spec: tcp and udp instances on a master whose bridge
// has the spec's carrier, served by an agent through the spec's front;
// exact counters before and after the front restarts; a TCP agent refused
// with the carrier to use.
func runCarrierSpec(t *testing.T, spec carrierSpec) {
	f := framework.New(t)
	m := f.Master("carrier-master", spec.master...)
	if agent := m.Bridge().Agent; !strings.Contains(agent, spec.agent[0]+"&") {
		t.Errorf("the master's agent command line %s lacks %s", agent, spec.agent[0])
	}
	front := spec.front(t, f, m.BridgeAddr())
	tcpEcho, udpEcho := f.TCPEcho(), f.UDPEcho()
	key := newKey(t)
	tcpUser, udpUser := f.Port(), f.Port()
	fwdTCP := m.Create(fmt.Sprintf("tcp://127.0.0.1:%d/%s?agent=%s", tcpUser, tcpEcho, key), "tcp-fwd")
	fwdUDP := m.Create(fmt.Sprintf("udp://127.0.0.1:%d/%s?agent=%s", udpUser, udpEcho, key), "udp-fwd")
	startCarrierAgent(f, m, "agent", key, front.addr, front.fp, append([]string{"allow=" + tcpEcho + "," + udpEcho}, spec.agent...)...)
	online := func(what string, want func(int) bool) {
		for _, id := range []string{fwdTCP.ID, fwdUDP.ID} {
			m.WaitInstance(id, ready, what, func(in framework.Instance) bool { return in.Status == "running" && want(in.Pool) })
		}
	}
	traffic := func() {
		online("running with its agent", func(n int) bool { return n == 1 })
		f.ExpectTCPEcho(framework.Addr(tcpUser)).Eventually(ready).Ensure()
		f.ExpectUDPEcho(framework.Addr(udpUser)).Eventually(ready).Ensure()
		list := []counted{{m: m, id: fwdTCP.ID}, {m: m, id: fwdUDP.ID}}
		settle(t, list)
		f.ExpectTCPEcho(framework.Addr(tcpUser)).Payload(framework.RandomBytes(tcpPayload)).Ensure()
		udpExact(t, framework.Addr(udpUser), udpCount, udpDatagram)
		list[0].want = [4]int64{tcpPayload, tcpPayload, 0, 0}
		list[1].want = [4]int64{0, 0, udpCount * udpDatagram, udpCount * udpDatagram}
		expectCounters(t, list)
	}
	traffic()
	front.stop()
	if !front.sessionsAlive {
		online("without its agent while the front is down", func(n int) bool { return n == 0 })
	}
	front.start()
	traffic()

	// type=0 written: refused with the carrier to use. No type= at all (a
	// NodePass client's URL): the agent follows the bridge's carrier.
	wrong := startCarrierAgent(f, m, "tcp-agent", newKey(t), m.BridgeAddr(), "", "allow=127.0.0.1:1", "type=0")
	wrong.MustWaitLog(spec.wrong, ready)
	follower := startCarrierAgent(f, m, "follower", key, m.BridgeAddr(), "", "allow="+tcpEcho+","+udpEcho)
	follower.MustWaitLog(`msg="following the bridge's carrier"`, ready)
	online("with the agent that followed the carrier too", func(n int) bool { return n == 2 })
}

// A WebSocket bridge behind a Go reverse proxy that terminates TLS, on a
// path and Host the agent chooses; the proxy restarts.
func TestCarrierWebSocketThroughReverseProxy(t *testing.T) {
	t.Parallel()
	runCarrierSpec(t, carrierSpec{
		master: []string{"bridgetype=2", "wspath=/burrow-ws", "bridgetls=0"},
		agent:  []string{"type=2", "wspath=/burrow-ws", "wshost=tunnel.example.test"},
		front: func(t *testing.T, f *framework.Framework, bridge string) between {
			p := startWSProxy(t, bridge)
			return between{addr: p.addr, fp: p.fp, stop: p.stop, start: p.start}
		},
		wrong: "this bridge carries agents over WebSocket (type=2), the agent came over TCP: set type=2 and wspath=/burrow-ws on the agent URL",
	})
}

// The same behind nginx, beside a website it serves, when nginx is
// installed here; nginx restarts.
func TestCarrierWebSocketThroughNginx(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("nginx")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/nginx"); serr != nil {
			t.Skip("nginx is not installed")
		}
		bin = "/usr/sbin/nginx"
	}
	runCarrierSpec(t, carrierSpec{
		master: []string{"bridgetype=2", "wspath=/burrow-ws", "bridgetls=0"},
		agent:  []string{"type=2", "wspath=/burrow-ws", "wshost=localhost"},
		front: func(t *testing.T, f *framework.Framework, bridge string) between {
			return startNginx(t, f, bin, bridge)
		},
		wrong: "(type=2), the agent came over TCP",
	})
}

// A QUIC bridge reached through a UDP relay that restarts.
func TestCarrierQUICThroughRelay(t *testing.T) {
	t.Parallel()
	runCarrierSpec(t, carrierSpec{
		master: []string{"bridgetype=1"},
		agent:  []string{"type=1"},
		front: func(t *testing.T, f *framework.Framework, bridge string) between {
			r := testutil.StartRelay(t, "udp", bridge)
			return between{addr: r.Addr(), stop: r.Stop, start: r.Start, sessionsAlive: true}
		},
		wrong: "this bridge carries agents over QUIC (type=1), the agent came over TCP: set type=1 on the agent URL",
	})
}

// An HTTP/2 bridge reached through a TCP relay that restarts.
func TestCarrierHTTP2ThroughRelay(t *testing.T) {
	t.Parallel()
	runCarrierSpec(t, carrierSpec{
		master: []string{"bridgetype=3"},
		agent:  []string{"type=3"},
		front: func(t *testing.T, f *framework.Framework, bridge string) between {
			r := testutil.StartRelay(t, "tcp", bridge)
			return between{addr: r.Addr(), stop: r.Stop, start: r.Start}
		},
		wrong: "this bridge carries agents over HTTP/2 (type=3), the agent came over TCP: set type=3 on the agent URL",
	})
}

// wsProxy is a TLS-terminating reverse proxy (httputil) in front of a
// plain WebSocket bridge, restartable on its port; it checks the Host the
// agent sends.
type wsProxy struct {
	t        *testing.T
	addr, fp string
	cert     tls.Certificate
	rp       *httputil.ReverseProxy

	mu    sync.Mutex
	hs    *http.Server
	done  chan struct{}
	conns map[net.Conn]bool // upgraded ones too: a restart ends them all
}

func startWSProxy(t *testing.T, bridge string) *wsProxy {
	crt, key, fp := testutil.CertFiles(t, "localhost")
	cert, err := tls.LoadX509KeyPair(crt, key)
	if err != nil {
		t.Fatal(err)
	}
	target, _ := url.Parse("http://" + bridge)
	p := &wsProxy{t: t, fp: fp, cert: cert, rp: httputil.NewSingleHostReverseProxy(target), addr: "127.0.0.1:0"}
	p.start()
	t.Cleanup(p.stop)
	return p
}

func (p *wsProxy) start() {
	p.mu.Lock()
	defer p.mu.Unlock()
	var ln net.Listener
	var err error
	for range 50 { // bounded: the port is free again once the old listener closed
		if ln, err = tls.Listen("tcp", p.addr, &tls.Config{Certificates: []tls.Certificate{p.cert}}); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		p.t.Fatalf("proxy listen: %v", err)
	}
	p.addr, p.conns, p.done = ln.Addr().String(), map[net.Conn]bool{}, make(chan struct{})
	p.hs = &http.Server{
		ReadHeaderTimeout: 5 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Host != "tunnel.example.test" {
				http.Error(w, "unknown site "+r.Host, http.StatusMisdirectedRequest)
				return
			}
			p.rp.ServeHTTP(w, r)
		}),
		ConnState: func(c net.Conn, st http.ConnState) {
			if st == http.StateNew {
				p.mu.Lock()
				p.conns[c] = true
				p.mu.Unlock()
			}
		},
	}
	hs, done := p.hs, p.done
	go func() { defer close(done); _ = hs.Serve(ln) }()
}

func (p *wsProxy) stop() {
	p.mu.Lock()
	hs, done := p.hs, p.done
	p.hs = nil
	p.mu.Unlock()
	if hs == nil {
		return
	}
	_ = hs.Close()
	<-done
	p.mu.Lock()
	for c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
}

// startNginx runs nginx (one process, no daemon) terminating TLS on a
// loopback port: the WebSocket path goes to bridge, "/" is a website.
func startNginx(t *testing.T, f *framework.Framework, bin, bridge string) between {
	crt, key, fp := testutil.CertFiles(t, "localhost")
	dir := t.TempDir()
	addr := framework.Addr(f.Port())
	conf := fmt.Sprintf(`daemon off;
master_process off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log info;
events { worker_connections 256; }
http {
	access_log %[1]s/access.log;
	client_body_temp_path %[1]s/tmp; proxy_temp_path %[1]s/tmp; fastcgi_temp_path %[1]s/tmp; uwsgi_temp_path %[1]s/tmp; scgi_temp_path %[1]s/tmp;
	server {
		listen %[2]s ssl;
		ssl_certificate %[3]s;
		ssl_certificate_key %[4]s;
		ssl_protocols TLSv1.3;
		location /burrow-ws {
			proxy_pass http://%[5]s;
			proxy_http_version 1.1;
			proxy_set_header Upgrade $http_upgrade;
			proxy_set_header Connection "upgrade";
			proxy_set_header Host $host;
			proxy_read_timeout 1h;
		}
		location / { return 200 "a website\n"; }
	}
}
`, dir, addr, crt, key, bridge)
	file := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "tmp"), 0o700); err != nil {
		t.Fatal(err)
	}
	var proc *framework.Process
	site := func() {
		tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} // a loopback test site
		defer tr.CloseIdleConnections()
		c := &http.Client{Transport: tr, Timeout: 2 * time.Second}
		var body string
		ok := testutil.Poll(ready, 50*time.Millisecond, func() bool {
			resp, err := c.Get("https://" + addr + "/")
			if err != nil {
				return false
			}
			b, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			body = string(b)
			return resp.StatusCode == http.StatusOK
		})
		if !ok || body != "a website\n" {
			t.Fatalf("nginx did not serve its website on %s (%q); its log:\n%s", addr, body, proc.Output())
		}
	}
	start := func() {
		proc = f.Command("nginx", bin, "-p", dir, "-c", file)
		site()
	}
	start()
	return between{addr: addr, fp: fp, start: start, stop: func() {
		_ = proc.Signal(os.Interrupt)
		if _, err := proc.Wait(ready); err != nil {
			_ = proc.Kill()
		}
	}}
}
