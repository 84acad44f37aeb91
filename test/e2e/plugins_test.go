package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/burrowproject/burrow/test/e2e/framework"
)

// Specs of handlers run as plugin processes (plugins=DIR): real traffic
// through burrow-tcp, burrow-udp, burrow-http and burrow-socks5 with exact
// counters, the processes as children of the master, a plugin killed under
// load, the master killed, and a manifest that does not match a binary.

const (
	logPluginsOn = `msg="handlers run as plugin processes"`
	plugTCPBytes = 10000
	plugUDPSize  = 700
	plugUDPCount = 5
	plugSOCKS    = 12345
)

// startPluginMaster starts a master running the handlers of dir as plugin
// processes and checks that it says so, naming every scheme of dir.
func startPluginMaster(t *testing.T, f *framework.Framework, name, dir string, schemes ...string) *framework.Master {
	t.Helper()
	m := f.Master(name, "plugins="+dir)
	line := waitLogLine(t, m.Process, ready, logPluginsOn)
	for _, s := range schemes {
		if !strings.Contains(line, s) {
			t.Fatalf("%s: %q does not name scheme %s", name, line, s)
		}
	}
	return m
}

// plugSteady waits until an instance's counters stop moving (late warm-up
// bytes), then resets them.
func plugSteady(t *testing.T, m *framework.Master, id string) {
	t.Helper()
	var last [4]int64
	stable := 0
	m.WaitInstance(id, ready, "with steady counters", func(in framework.Instance) bool {
		if in.Counters() == last {
			stable++
		} else {
			last, stable = in.Counters(), 0
		}
		return stable >= 6
	})
	if got := m.Patch(id, map[string]string{"action": "reset"}); got.Counters() != [4]int64{} {
		t.Fatalf("reset of %s answered counters %v, want zeros", id, got.Counters())
	}
}

// plugUDPExact sends count datagrams of size bytes one at a time, each
// awaiting its echo, never resending: the counters must then be exact.
func plugUDPExact(addr string, count, size int) error {
	c, err := net.Dial("udp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	buf := make([]byte, 64<<10)
	for i := range count {
		p := framework.RandomBytes(size)
		if _, err := c.Write(p); err != nil {
			return fmt.Errorf("datagram %d: %w", i, err)
		}
		_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
		n, err := c.Read(buf)
		if err != nil || !bytes.Equal(buf[:n], p) {
			return fmt.Errorf("datagram %d of %d bytes via %s: got %d bytes, %v", i, size, addr, n, err)
		}
	}
	return nil
}

// countingHTTP is an HTTP backend that counts every byte it reads and
// writes on its connections: what the proxy sent it and what it answered.
type countingHTTP struct {
	addr   string
	rx, tx atomic.Int64
}

type countingListener struct {
	net.Listener
	c *countingHTTP
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, c: l.c}, nil
}

type countingConn struct {
	net.Conn
	c *countingHTTP
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.c.rx.Add(int64(n))
	return n, err
}

func (c *countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.c.tx.Add(int64(n))
	return n, err
}

// startCountingHTTP serves h on a loopback port until the spec ends.
func startCountingHTTP(t *testing.T, h http.Handler) *countingHTTP {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &countingHTTP{addr: l.Addr().String()}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(countingListener{l, c}) }()
	t.Cleanup(func() {
		_ = srv.Close()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("counting http backend did not stop")
		}
	})
	return c
}

// entryClient is an HTTP client that sends every request to entry, whatever
// the URL's host (which becomes the Host header).
func entryClient(t *testing.T, entry string, timeout time.Duration) *http.Client {
	t.Helper()
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, entry)
		},
		DisableCompression: true,
		MaxConnsPerHost:    16,
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: timeout, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
}

// entryGet sends a GET and returns status and body.
func entryGet(c *http.Client, url string, hdr ...string) (int, http.Header, string, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, "", err
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, resp.Header, string(body), err
}

// socks5Connect negotiates SOCKS5 CONNECT to target (an IPv4 host:port)
// with user/pass auth on c and returns the reply code.
func socks5Connect(c net.Conn, user, pass, target string) (byte, error) {
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	defer func() { _ = c.SetDeadline(time.Time{}) }()
	if _, err := c.Write([]byte{5, 1, 2}); err != nil {
		return 0, err
	}
	var sel [2]byte
	if _, err := io.ReadFull(c, sel[:]); err != nil {
		return 0, fmt.Errorf("method selection: %w", err)
	}
	if sel != [2]byte{5, 2} {
		return 0, fmt.Errorf("method selection %v, want [5 2]", sel)
	}
	auth := append([]byte{1, byte(len(user))}, user...)
	auth = append(append(auth, byte(len(pass))), pass...)
	if _, err := c.Write(auth); err != nil {
		return 0, err
	}
	var st [2]byte
	if _, err := io.ReadFull(c, st[:]); err != nil {
		return 0, fmt.Errorf("auth status: %w", err)
	}
	if st[1] != 0 {
		return 0, fmt.Errorf("auth refused (status %d)", st[1])
	}
	host, port, err := net.SplitHostPort(target)
	if err != nil {
		return 0, err
	}
	ip := net.ParseIP(host).To4()
	var p uint16
	if _, err := fmt.Sscan(port, &p); err != nil || ip == nil {
		return 0, fmt.Errorf("target %q is not IPv4 host:port", target)
	}
	req := append([]byte{5, 1, 0, 1}, ip...)
	req = binary.BigEndian.AppendUint16(req, p)
	if _, err := c.Write(req); err != nil {
		return 0, err
	}
	var rep [10]byte
	if _, err := io.ReadFull(c, rep[:]); err != nil {
		return 0, fmt.Errorf("reply: %w", err)
	}
	return rep[1], nil
}

// connEcho writes payload on c and reads it back.
func connEcho(c net.Conn, payload []byte) error {
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	defer func() { _ = c.SetDeadline(time.Time{}) }()
	errc := make(chan error, 1)
	go func() { _, err := c.Write(payload); errc <- err }()
	got := make([]byte, len(payload))
	_, rerr := io.ReadFull(c, got)
	if werr := <-errc; werr != nil {
		return fmt.Errorf("write: %w", werr)
	}
	if rerr != nil {
		return fmt.Errorf("read: %w", rerr)
	}
	if !bytes.Equal(got, payload) {
		return fmt.Errorf("%d bytes came back different", len(payload))
	}
	return nil
}

// plugWorld is the master of TestPluginsProcesses with its instances.
type plugWorld struct {
	f                    *framework.Framework
	m                    *framework.Master
	tcpID, udpID, httpID string
	socksID              string
	tcpAddr, udpAddr     string
	httpEntry, socksAddr string
	tcpEcho              string
	backend              *countingHTTP
	client               *http.Client
	tcpPort, udpPort     int
	httpPort, socksPort  int
	agent                *framework.Process
	agentKey             string
}

func (w *plugWorld) httpOK() error {
	status, _, body, err := entryGet(w.client, "http://plug.example.com/who")
	if err != nil {
		return err
	}
	if status != http.StatusOK || body != "plug-backend /who" {
		return fmt.Errorf("GET plug.example.com/who: %d %q, want 200 \"plug-backend /who\"", status, body)
	}
	return nil
}

// One master with plugins=DIR and one agent: tcp, udp, http and socks5
// instances carry traffic through their plugin processes (children of the
// master) with exact counters; burrow-tcp killed with a handed-off
// connection open: the connection keeps working, the instance goes to
// error and back to running, new connections work, and the other plugins
// serve throughout; the master killed: its plugins are gone within 2s and
// its ports can be bound again.
func TestPluginsProcesses(t *testing.T) {
	t.Parallel()
	if !framework.HasProcFS() {
		t.Skip("needs /proc")
	}
	f := framework.New(t)
	dir := framework.PluginDir(t)
	w := &plugWorld{f: f, agentKey: newKey(t)}
	w.m = startPluginMaster(t, f, "master", dir, framework.PluginSchemes...)
	m := w.m
	w.tcpEcho = f.TCPEcho()
	udpEcho := f.UDPEcho()
	w.backend = startCountingHTTP(t, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(rw, "plug-backend "+r.URL.Path)
	}))
	w.tcpPort, w.udpPort, w.httpPort, w.socksPort = f.Port(), f.Port(), f.Port(), f.Port()
	w.tcpAddr, w.udpAddr = framework.Addr(w.tcpPort), framework.Addr(w.udpPort)
	w.httpEntry, w.socksAddr = framework.Addr(w.httpPort), framework.Addr(w.socksPort)
	key := w.agentKey
	w.tcpID = m.Create(fmt.Sprintf("tcp://%s/%s?agent=%s", w.tcpAddr, w.tcpEcho, key), "plug-tcp").ID
	w.udpID = m.Create(fmt.Sprintf("udp://%s/%s?agent=%s", w.udpAddr, udpEcho, key), "plug-udp").ID
	w.httpID = m.Create(fmt.Sprintf("http://%s/%s?agent=%s&host=plug.example.com", w.httpEntry, w.backend.addr, key), "plug-http").ID
	w.socksID = m.Create(fmt.Sprintf("socks5://%s/127.0.0.0/8?agent=%s&auth=alice:s3cret", w.socksAddr, key), "plug-socks5").ID
	w.agent = f.Burrow("agent", fmt.Sprintf("client://%s@%s?log=debug", key, m.BridgeAddr()))
	w.agent.MustWaitLog(logConnected, ready)
	ids := []string{w.tcpID, w.udpID, w.httpID, w.socksID}
	for _, id := range ids {
		in := m.WaitInstance(id, ready, "running with its agent", func(in framework.Instance) bool { return in.Status == "running" && in.Pool == 1 })
		if in.Reason != "" {
			t.Errorf("instance %s running with reason %q", id, in.Reason)
		}
	}
	w.client = entryClient(t, w.httpEntry, 10*time.Second)

	// The plugins run as children of the master, one process each.
	procs := framework.PluginProcesses(m.PID())
	for _, s := range framework.PluginSchemes {
		if pids := procs["burrow-"+s]; len(pids) != 1 {
			t.Errorf("burrow-%s: %d processes with the master (pid %d) as parent, want 1; plugin children: %v", s, len(pids), m.PID(), procs)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	t.Run("traffic and counters", func(t *testing.T) { w.traffic(t) })
	if t.Failed() {
		return
	}
	t.Run("kill burrow-tcp", func(t *testing.T) { w.killTCPPlugin(t) })
	if t.Failed() {
		return
	}
	t.Run("kill master", func(t *testing.T) { w.killMaster(t) })
}

// traffic: warm up, reset, then exact traffic through every plugin and
// exact counters.
func (w *plugWorld) traffic(t *testing.T) {
	f, m := w.f, w.m
	f.ExpectTCPEcho(w.tcpAddr).Eventually(ready).Ensure()
	f.ExpectUDPEcho(w.udpAddr).Eventually(ready).Ensure()
	if err := w.httpOK(); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{w.tcpID, w.udpID, w.httpID, w.socksID} {
		plugSteady(t, m, id)
	}
	rx0, tx0 := w.backend.rx.Load(), w.backend.tx.Load()

	// tcp: one connection, handed off to the host by burrow-tcp.
	f.ExpectTCPEcho(w.tcpAddr).Payload(framework.RandomBytes(plugTCPBytes)).Ensure()
	// udp: datagrams through burrow-udp's dial links.
	if err := plugUDPExact(w.udpAddr, plugUDPCount, plugUDPSize); err != nil {
		t.Fatalf("udp via burrow-udp: %v", err)
	}
	// http: GETs and a POST through burrow-http's pooled upstream links.
	for i := range 3 {
		if err := w.httpOK(); err != nil {
			t.Fatalf("http request %d: %v", i, err)
		}
	}
	resp, err := w.client.Post("http://plug.example.com/upload", "application/octet-stream", bytes.NewReader(framework.RandomBytes(50000)))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "plug-backend /upload" {
		t.Fatalf("POST plug.example.com/upload: %d %q", resp.StatusCode, body)
	}
	// socks5: refused credentials and a target outside the patterns, then
	// an echo through an allowed target.
	if c, err := net.DialTimeout("tcp", w.socksAddr, 5*time.Second); err != nil {
		t.Fatal(err)
	} else {
		if _, err := socks5Connect(c, "alice", "wrong", w.tcpEcho); err == nil || !strings.Contains(err.Error(), "auth refused") {
			t.Errorf("socks5 with a wrong password: %v, want auth refused", err)
		}
		c.Close()
	}
	if c, err := net.DialTimeout("tcp", w.socksAddr, 5*time.Second); err != nil {
		t.Fatal(err)
	} else {
		if rep, err := socks5Connect(c, "alice", "s3cret", "10.255.255.1:80"); err != nil || rep != 2 {
			t.Errorf("socks5 CONNECT to 10.255.255.1:80 (outside 127.0.0.0/8): reply %d, %v; want 2 (not allowed)", rep, err)
		}
		c.Close()
	}
	sc, err := net.DialTimeout("tcp", w.socksAddr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := socks5Connect(sc, "alice", "s3cret", w.tcpEcho); err != nil || rep != 0 {
		sc.Close()
		t.Fatalf("socks5 CONNECT to %s: reply %d, %v; want 0", w.tcpEcho, rep, err)
	}
	err = connEcho(sc, framework.RandomBytes(plugSOCKS))
	sc.Close()
	if err != nil {
		t.Fatalf("echo through socks5: %v", err)
	}

	rx, tx := w.backend.rx.Load()-rx0, w.backend.tx.Load()-tx0
	if rx < 50000 || tx == 0 {
		t.Fatalf("http backend counted rx %d tx %d, want rx >= 50000 and tx > 0", rx, tx)
	}
	want := map[string][4]int64{
		w.tcpID:   {plugTCPBytes, plugTCPBytes, 0, 0},
		w.udpID:   {0, 0, plugUDPCount * plugUDPSize, plugUDPCount * plugUDPSize},
		w.httpID:  {rx, tx, 0, 0},
		w.socksID: {plugSOCKS, plugSOCKS, 0, 0},
	}
	for id, c := range want {
		w.m.WaitInstance(id, 2*reportInterval, fmt.Sprintf("showing counters tcprx/tcptx/udprx/udptx = %v", c),
			func(in framework.Instance) bool { return in.Counters() == c })
	}
}

// statusLog records every distinct (status, reason) an instance shows
// while polled.
type statusLog struct {
	mu   sync.Mutex
	seen map[string][]framework.Instance // by id, in order, consecutive duplicates dropped
	errs []error
}

func (s *statusLog) add(id string, in framework.Instance) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.seen[id]
	if n := len(l); n > 0 && l[n-1].Status == in.Status && l[n-1].Reason == in.Reason {
		return
	}
	s.seen[id] = append(l, in)
}

func (s *statusLog) states(id string) []framework.Instance {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.seen[id])
}

// pollStatuses polls GET /instances/{id} for ids every few milliseconds
// until stop is closed (at most limit), recording every change.
func pollStatuses(m *framework.Master, ids []string, stop <-chan struct{}, limit time.Duration) (*statusLog, func()) {
	s := &statusLog{seen: map[string][]framework.Instance{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		deadline := time.Now().Add(limit)
		for range int(limit / (5 * time.Millisecond)) {
			for _, id := range ids {
				r, err := m.Do(http.MethodGet, "/instances/"+id, nil)
				if err != nil {
					s.mu.Lock()
					s.errs = append(s.errs, err)
					s.mu.Unlock()
					continue
				}
				if in, err := framework.DecodeInstance(r.Body); err == nil {
					s.add(id, in)
				}
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				return
			}
		}
	}()
	return s, func() { <-done }
}

func (w *plugWorld) killTCPPlugin(t *testing.T) {
	f, m := w.f, w.m
	old := framework.PluginProcesses(m.PID())["burrow-tcp"]
	if len(old) != 1 {
		t.Fatalf("burrow-tcp processes: %v, want one", old)
	}
	oldPID := old[0]

	// A connection handed off to the host before the kill.
	held, err := net.DialTimeout("tcp", w.tcpAddr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if err := connEcho(held, []byte("before the kill")); err != nil {
		t.Fatalf("held connection before the kill: %v", err)
	}

	// The other plugins are exercised without pause while burrow-tcp is
	// down and relaunched; every attempt must succeed.
	stopLoad := make(chan struct{})
	var load sync.WaitGroup
	var loadErrs []string
	var loadMu sync.Mutex
	var udpRounds, httpRounds atomic.Int64
	loadFail := func(format string, a ...any) {
		loadMu.Lock()
		defer loadMu.Unlock()
		if len(loadErrs) < 10 {
			loadErrs = append(loadErrs, fmt.Sprintf(format, a...))
		}
	}
	load.Go(func() {
		for i := range 2000 {
			select {
			case <-stopLoad:
				return
			default:
			}
			if err := plugUDPExact(w.udpAddr, 1, 200); err != nil {
				loadFail("udp round %d: %v", i, err)
			}
			udpRounds.Add(1)
			time.Sleep(10 * time.Millisecond)
		}
	})
	load.Go(func() {
		for i := range 2000 {
			select {
			case <-stopLoad:
				return
			default:
			}
			if err := w.httpOK(); err != nil {
				loadFail("http round %d: %v", i, err)
			}
			httpRounds.Add(1)
			time.Sleep(10 * time.Millisecond)
		}
	})

	stopPoll := make(chan struct{})
	statuses, waitPoll := pollStatuses(m, []string{w.tcpID, w.udpID, w.httpID, w.socksID}, stopPoll, 20*time.Second)
	time.Sleep(100 * time.Millisecond) // a few polls of the healthy state first

	killed := time.Now()
	if err := syscall.Kill(oldPID, syscall.SIGKILL); err != nil {
		t.Fatalf("kill burrow-tcp (pid %d): %v", oldPID, err)
	}
	// The held connection keeps working while the plugin is down.
	if err := connEcho(held, []byte("right after the kill")); err != nil {
		t.Errorf("held connection right after the kill: %v", err)
	}

	// A new burrow-tcp process, a child of the master.
	var newPID int
	ok := pollCond(15*time.Second, func() bool {
		pids := framework.PluginProcesses(m.PID())["burrow-tcp"]
		if len(pids) == 1 && pids[0] != oldPID {
			newPID = pids[0]
			return true
		}
		return false
	})
	if !ok {
		t.Errorf("no new burrow-tcp process under the master within 15s; plugin children: %v", framework.PluginProcesses(m.PID()))
	}
	// The tcp instance: error with the reason, then running again.
	sawRunning := pollCond(15*time.Second, func() bool {
		l := statuses.states(w.tcpID)
		for i, in := range l {
			if in.Status == "error" {
				return slices.ContainsFunc(l[i:], func(in framework.Instance) bool { return in.Status == "running" })
			}
		}
		return false
	})
	recovered := time.Since(killed)
	f.ExpectTCPEcho(w.tcpAddr).Payload(framework.RandomBytes(5000)).Ensure()
	if err := connEcho(held, []byte("after the relaunch")); err != nil {
		t.Errorf("held connection after the relaunch: %v", err)
	}
	time.Sleep(200 * time.Millisecond) // load keeps running a moment after recovery
	close(stopLoad)
	load.Wait()
	close(stopPoll)
	waitPoll()

	statuses.mu.Lock()
	for _, err := range statuses.errs[:min(len(statuses.errs), 5)] {
		t.Errorf("the API failed while burrow-tcp was down: %v", err)
	}
	statuses.mu.Unlock()
	tcpSeen := statuses.states(w.tcpID)
	t.Logf("burrow-tcp pid %d killed; new pid %d; tcp instance states: %s; recovered in %v; udp rounds %d, http rounds %d during the kill",
		oldPID, newPID, describeStates(tcpSeen), recovered.Round(time.Millisecond), udpRounds.Load(), httpRounds.Load())
	if !sawRunning {
		t.Errorf("tcp instance did not go to error and back to running: states seen %s", describeStates(tcpSeen))
	}
	for _, in := range tcpSeen {
		if in.Status == "error" {
			wantParts := []string{"burrow-tcp", fmt.Sprintf("pid %d", oldPID), "died"}
			for _, p := range wantParts {
				if !strings.Contains(in.Reason, p) {
					t.Errorf("tcp instance in error with reason %q, want it to name %q", in.Reason, p)
				}
			}
		}
		if in.Status != "error" && in.Status != "running" {
			t.Errorf("tcp instance went to %q (%q), want only error and running", in.Status, in.Reason)
		}
	}
	if last := tcpSeen[len(tcpSeen)-1]; last.Status != "running" || last.Reason != "" {
		t.Errorf("tcp instance ends as %q with reason %q, want running with no reason", last.Status, last.Reason)
	}
	for _, id := range []string{w.udpID, w.httpID, w.socksID} {
		for _, in := range statuses.states(id) {
			if in.Status != "running" || in.Reason != "" {
				t.Errorf("instance %s (%s) went to %q (%q) while burrow-tcp was killed", id, in.Alias, in.Status, in.Reason)
			}
		}
	}
	loadMu.Lock()
	for _, e := range loadErrs {
		t.Errorf("while burrow-tcp was down: %s", e)
	}
	loadMu.Unlock()
	if udpRounds.Load() < 3 || httpRounds.Load() < 3 {
		t.Errorf("only %d udp and %d http rounds ran while burrow-tcp was down", udpRounds.Load(), httpRounds.Load())
	}
	for _, p := range []string{"plugin died", "instance running again"} {
		if !strings.Contains(m.RunOutput(), p) {
			t.Errorf("master did not log %q", p)
		}
	}
	// Only burrow-tcp was relaunched.
	procs := framework.PluginProcesses(m.PID())
	for _, s := range framework.PluginSchemes {
		if len(procs["burrow-"+s]) != 1 {
			t.Errorf("after the relaunch: burrow-%s processes %v, want 1", s, procs["burrow-"+s])
		}
	}
}

func describeStates(l []framework.Instance) string {
	parts := make([]string, 0, len(l))
	for _, in := range l {
		parts = append(parts, fmt.Sprintf("%s(%q)", in.Status, in.Reason))
	}
	return strings.Join(parts, " -> ")
}

// pollCond polls cond every 10ms for at most timeout.
func pollCond(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for range int(timeout/(10*time.Millisecond)) + 1 {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	return cond()
}

func (w *plugWorld) killMaster(t *testing.T) {
	m := w.m
	procs := framework.PluginProcesses(m.PID())
	var pids []int
	for _, s := range framework.PluginSchemes {
		pids = append(pids, procs["burrow-"+s]...)
	}
	if len(pids) != len(framework.PluginSchemes) {
		t.Fatalf("plugin processes before the kill: %v", procs)
	}
	if err := m.Kill(); err != nil {
		t.Fatalf("SIGKILL master: %v", err)
	}
	killed := time.Now()
	gone := pollCond(2*time.Second, func() bool {
		return !slices.ContainsFunc(pids, framework.Alive)
	})
	if !gone {
		var alive []string
		for _, pid := range pids {
			if info, ok := framework.ReadProc(pid); ok && framework.Alive(pid) {
				alive = append(alive, fmt.Sprintf("%d %v (ppid %d, state %s)", pid, info.Cmdline, info.PPID, info.State))
			}
		}
		t.Errorf("2s after the master was killed its plugin processes still run: %v", alive)
	}
	t.Logf("plugins gone %v after the master was killed", time.Since(killed).Round(time.Millisecond))
	// Every port the master and its plugins held can be bound again.
	tcpPorts := []int{m.Port, m.BridgePort, w.tcpPort, w.httpPort, w.socksPort}
	for _, p := range tcpPorts {
		l, err := net.Listen("tcp", framework.Addr(p))
		if err != nil {
			t.Errorf("tcp port %d after the master was killed: %v", p, err)
			continue
		}
		l.Close()
	}
	pc, err := net.ListenPacket("udp", w.udpAddr)
	if err != nil {
		t.Errorf("udp port %d after the master was killed: %v", w.udpPort, err)
	} else {
		pc.Close()
	}
}

// A plugin directory whose manifest does not match burrow-tcp: the master
// refuses to run it, logs why, and creating a tcp instance fails with 400
// and the reason (no silent fallback to the built-in handler); the other
// plugins of the directory serve.
func TestPluginsManifestMismatch(t *testing.T) {
	t.Parallel()
	f := framework.New(t)
	src := framework.PluginDir(t)
	dir := filepath.Join(f.Dir(), "plugins")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"tcp", "udp"} {
		name := "burrow-" + s
		if err := linkOrCopy(filepath.Join(src, name), filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	udpSum, err := framework.FileSHA256(filepath.Join(dir, "burrow-udp"))
	if err != nil {
		t.Fatal(err)
	}
	// burrow-tcp pinned with burrow-udp's checksum: a binary that changed
	// since it was pinned.
	manifest := fmt.Sprintf("%s  burrow-tcp\n%s  burrow-udp\n", udpSum, udpSum)
	if err := os.WriteFile(filepath.Join(dir, framework.PluginManifest), []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	m := startPluginMaster(t, f, "master", dir, "tcp", "udp")
	key := newKey(t)

	r, err := m.Do(http.MethodPost, "/instances", map[string]string{"url": fmt.Sprintf("tcp://127.0.0.1:%d/%s?agent=%s", f.Port(), f.TCPEcho(), key)})
	if err != nil {
		t.Fatal(err)
	}
	msg := r.ErrorMessage()
	if r.Status != http.StatusBadRequest || !strings.Contains(msg, "burrow-tcp") || !strings.Contains(msg, "does not match the manifest") {
		t.Errorf("creating a tcp instance with a mismatched burrow-tcp: %s; want 400 naming burrow-tcp and the manifest mismatch", r)
	}
	line := waitLogLine(t, m.Process, ready, `msg="plugin launch failed"`, "burrow-tcp")
	if !strings.Contains(line, "does not match the manifest") {
		t.Errorf("master logged %q, want the manifest mismatch as the reason", line)
	}
	for _, in := range m.List() {
		if in.ID != keyID {
			t.Errorf("instance %s (%s) exists after the refused create", in.ID, in.URL)
		}
	}
	if pids := framework.PluginProcesses(m.PID())["burrow-tcp"]; len(pids) != 0 {
		t.Errorf("burrow-tcp runs (pids %v) although its checksum does not match", pids)
	}

	// The udp plugin of the same directory serves.
	udpUser := framework.Addr(f.Port())
	udp := m.Create(fmt.Sprintf("udp://%s/%s?agent=%s", udpUser, f.UDPEcho(), key), "udp")
	agent := f.Burrow("agent", fmt.Sprintf("client://%s@%s?log=debug", key, m.BridgeAddr()))
	agent.MustWaitLog(logConnected, ready)
	m.WaitInstance(udp.ID, ready, "running with its agent", func(in framework.Instance) bool { return in.Status == "running" && in.Pool == 1 })
	f.ExpectUDPEcho(udpUser).Eventually(ready).Ensure()
	if framework.HasProcFS() {
		if pids := framework.PluginProcesses(m.PID())["burrow-udp"]; len(pids) != 1 {
			t.Errorf("burrow-udp processes under the master: %v, want 1", pids)
		}
	}
}

// linkOrCopy hard-links src to dst, or copies it (mode 0755) across file
// systems.
func linkOrCopy(src, dst string) error {
	if err := os.Link(src, dst); err == nil {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Chmod(dst, 0o755)
}
