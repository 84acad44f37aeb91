package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
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
	return udpExchanges(c, count, size)
}

// udpExchanges sends count random datagrams of size on c, each awaiting
// its exact echo (3s at most).
func udpExchanges(c net.Conn, count, size int) error {
	addr := c.RemoteAddr().String()
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

// plugWorld is the master of TestPluginsProcesses with its instances.
type plugWorld struct {
	f                    *framework.Framework
	m                    *framework.Master
	tcpID, udpID, httpID string
	socksID              string
	tcpAddr, udpAddr     string
	httpEntry, socksAddr string
	tcpEcho              string
	backend              *framework.Traffic // what the http backend read and wrote
	backendAddr          string
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
	w.backendAddr, w.backend = f.CountedHTTPServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(rw, "plug-backend "+r.URL.Path)
	}))
	w.tcpPort, w.udpPort, w.httpPort, w.socksPort = f.Port(), f.Port(), f.Port(), f.Port()
	w.tcpAddr, w.udpAddr = framework.Addr(w.tcpPort), framework.Addr(w.udpPort)
	w.httpEntry, w.socksAddr = framework.Addr(w.httpPort), framework.Addr(w.socksPort)
	key := w.agentKey
	w.tcpID = m.Create(fmt.Sprintf("tcp://%s/%s?agent=%s", w.tcpAddr, w.tcpEcho, key), "plug-tcp").ID
	w.udpID = m.Create(fmt.Sprintf("udp://%s/%s?agent=%s", w.udpAddr, udpEcho, key), "plug-udp").ID
	w.httpID = m.Create(fmt.Sprintf("http://%s/%s?agent=%s&host=plug.example.com", w.httpEntry, w.backendAddr, key), "plug-http").ID
	w.socksID = m.Create(fmt.Sprintf("socks5://%s/127.0.0.0/8?agent=%s&auth=alice:s3cret", w.socksAddr, key), "plug-socks5").ID
	w.agent = f.Burrow("agent", m.AgentURL(key, "allow=127.0.0.0/8", "log=debug")) // debug: its "link open" lines
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
	t.Run("udp with burrow-udp stopped", func(t *testing.T) { w.udpWithoutPlugin(t) })
	if t.Failed() {
		return
	}
	t.Run("kill burrow-udp", func(t *testing.T) { w.killUDPPlugin(t) })
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
	rx0, tx0 := w.backend.Read.Load(), w.backend.Written.Load()

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

	rx, tx := w.backend.Read.Load()-rx0, w.backend.Written.Load()-tx0
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
	agent := f.Burrow("agent", m.AgentURL(key, "allow=127.0.0.0/8"))
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
