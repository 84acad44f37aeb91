package e2e

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/burrowproject/burrow/test/e2e/framework"
)

// The pool of links: agents keep min= idle work connections to the bridge
// (capped by the server's max=), links ride them with no round trip, and
// the session's streams remain the fallback. These specs count the work
// connections in the kernel's table (/proc/net/tcp), and tell pooled links
// from streams by the agent's "link open" debug line (pooled=true|false).

// poolAgent starts an agent of m with key that may dial target; query
// adds parameters (min=...). One helper, so the agents of these specs
// follow the master's agent rules in one place.
func poolAgent(f *framework.Framework, m *framework.Master, name, key, target string, query ...string) *framework.Process {
	f.T().Helper()
	return f.Burrow(name, m.AgentURL(key, append([]string{"allow=" + target}, query...)...))
}

// pooled is a master with a tcp instance to a target and one agent with
// a full pool of min work connections.
type pooled struct {
	m     *framework.Master
	user  string
	agent *framework.Process
}

// newPooled starts a master, a tcp instance to target and an agent with
// min=min, and waits until the agent's pool is full.
func newPooled(f *framework.Framework, target string, min int) *pooled {
	f.T().Helper()
	m := f.Master("master")
	key := newKey(f.T())
	user, in := tcpInstance(f, m, key, target)
	agent := poolAgent(f, m, "agent", key, target, fmt.Sprintf("min=%d", min))
	m.WaitInstance(in.ID, ready, "with its agent", func(in framework.Instance) bool { return in.Pool == 1 })
	waitConns(f.T(), m.BridgePort, 1+min, ready, "the session and its pool")
	return &pooled{m: m, user: user, agent: agent}
}

// tcpInstance creates a tcp instance of m to target through key's agents
// and returns its user address.
func tcpInstance(f *framework.Framework, m *framework.Master, key, target string) (string, framework.Instance) {
	f.T().Helper()
	user := f.Port()
	in := m.Create(fmt.Sprintf("tcp://127.0.0.1:%d/%s?agent=%s", user, target, key), "tcp-"+key[:6])
	return framework.Addr(user), in
}

// bridgeConns counts the established TCP connections to port on this
// host, as the agents' ends see them: the agents' sessions and work
// connections to a bridge on port.
func bridgeConns(t testing.TB, port int) int {
	t.Helper()
	n := 0
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		fh, err := os.Open(table)
		if err != nil {
			if table == "/proc/net/tcp" {
				t.Skipf("no %s: these specs count connections in the kernel's table", table)
			}
			continue
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 4 || fields[3] != "01" { // 01: ESTABLISHED
				continue
			}
			if i := strings.LastIndexByte(fields[2], ':'); i >= 0 {
				if p, err := strconv.ParseUint(fields[2][i+1:], 16, 16); err == nil && int(p) == port {
					n++
				}
			}
		}
		_ = fh.Close()
	}
	return n
}

// waitConns waits until bridgeConns(port) is want.
func waitConns(t testing.TB, port, want int, within time.Duration, what string) {
	t.Helper()
	deadline := time.Now().Add(within)
	got := 0
	for time.Now().Before(deadline) {
		if got = bridgeConns(t, port); got == want {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: %d connections to the bridge within %v, want %d", what, got, within, want)
}

// pooledLinks counts the agent's links by carrier: pooled, and on streams.
func pooledLinks(agent *framework.Process) (pooled, streams int) {
	for line := range strings.SplitSeq(agent.Output(), "\n") {
		if !strings.Contains(line, `msg="link open"`) {
			continue
		}
		if strings.Contains(line, "pooled=true") {
			pooled++
		} else {
			streams++
		}
	}
	return pooled, streams
}

// The same bytes through an agent with a pool and one without (min=0):
// both echo them intact, both instances count them exactly, and the links
// rode the carrier each agent was told to use.
func TestPoolAndStreamsCarrySameBytesAndCounters(t *testing.T) {
	t.Parallel()
	f := framework.New(t)
	m := f.Master("master")
	echo := f.TCPEcho()
	keyPool, keyMux := newKey(t), newKey(t)
	userPool, inPool := tcpInstance(f, m, keyPool, echo)
	userMux, inMux := tcpInstance(f, m, keyMux, echo)
	const min = 8
	withPool := poolAgent(f, m, "agent-pool", keyPool, echo, fmt.Sprintf("min=%d", min))
	noPool := poolAgent(f, m, "agent-streams", keyMux, echo, "min=0")
	for _, id := range []string{inPool.ID, inMux.ID} {
		m.WaitInstance(id, ready, "with its agent", func(in framework.Instance) bool { return in.Pool == 1 })
	}
	waitConns(t, m.BridgePort, 2+min, ready, "two sessions and the pool")
	list := []counted{{m: m, id: inPool.ID}, {m: m, id: inMux.ID}}
	settle(t, list)

	payload := framework.RandomBytes(300 << 10)
	const conns = 4
	for range conns {
		f.ExpectTCPEcho(userPool).Payload(payload).Timeout(20 * time.Second).Ensure()
		f.ExpectTCPEcho(userMux).Payload(payload).Timeout(20 * time.Second).Ensure()
	}
	want := [4]int64{conns * int64(len(payload)), conns * int64(len(payload)), 0, 0}
	list[0].want, list[1].want = want, want
	expectCounters(t, list)
	if p, s := pooledLinks(withPool); p < conns || s != 0 {
		t.Errorf("agent with a pool of %d: %d pooled links and %d on streams, want %d pooled (its pool was full)", min, p, s, conns)
	}
	if p, s := pooledLinks(noPool); p != 0 || s < conns {
		t.Errorf("agent with min=0: %d pooled links and %d on streams, want every link on a stream", p, s)
	}
}

// A burst of 500 connections, far more than the pool holds, all echo
// intact (the rest ride streams), and the pool is full again after it.
func TestPoolRefillsAfterBurst(t *testing.T) {
	t.Parallel()
	f := framework.New(t)
	const min = 32
	p := newPooled(f, f.TCPEcho(), min)
	m, user, agent := p.m, p.user, p.agent

	const burst = 500
	errs := make(chan error, burst)
	var wg sync.WaitGroup
	for range burst {
		wg.Go(func() {
			errs <- f.ExpectTCPEcho(user).Payload(framework.RandomBytes(512)).Timeout(30 * time.Second).Do()
		})
	}
	wg.Wait()
	close(errs)
	failed := 0
	for err := range errs {
		if err != nil {
			if failed++; failed <= 3 {
				t.Error(err)
			}
		}
	}
	if failed > 0 {
		t.Fatalf("%d of %d connections failed", failed, burst)
	}
	waitConns(t, m.BridgePort, 1+min, 20*time.Second, "the pool refilled after the burst")
	pooled, _ := pooledLinks(agent)
	if pooled < min {
		t.Errorf("%d links rode the pool, want at least its %d", pooled, min)
	}
	// And links take the refilled pool again.
	before := pooled
	f.ExpectTCPEcho(user).Payload(framework.RandomBytes(512)).Ensure()
	if after, _ := pooledLinks(agent); after != before+1 {
		t.Errorf("after the refill a link rode a stream (pooled links %d -> %d)", before, after)
	}
}

// An agent killed with links on pooled connections: every user connection
// ends (EOF or reset) instead of hanging, and the bridge drops every work
// connection.
func TestPoolAgentKilledLeavesNoDanglingUser(t *testing.T) {
	t.Parallel()
	f := framework.New(t)
	const min, open = 16, 10
	p := newPooled(f, f.TCPEcho(), min)
	m, user, agent := p.m, p.user, p.agent

	var users []net.Conn
	for i := range open {
		c, err := net.DialTimeout("tcp", user, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		msg := []byte(fmt.Sprintf("hello %d", i))
		got := make([]byte, len(msg))
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, got); err != nil || string(got) != string(msg) {
			t.Fatalf("link %d: echo %q, %v", i, got, err)
		}
		users = append(users, c)
	}
	if p, _ := pooledLinks(agent); p < open {
		t.Fatalf("%d of %d links rode the pool", p, open)
	}
	if err := agent.Kill(); err != nil {
		t.Fatal(err)
	}
	for i, c := range users {
		_ = c.SetReadDeadline(time.Now().Add(15 * time.Second))
		n, err := c.Read(make([]byte, 1))
		var ne net.Error
		if err == nil || (errors.As(err, &ne) && ne.Timeout()) {
			t.Errorf("user connection %d still open 15s after its agent was killed (read %d bytes, %v)", i, n, err)
		}
	}
	waitConns(t, m.BridgePort, 0, ready, "no connection left to the bridge")
}

// The server's max= caps the pool its agents keep, whatever their min=:
// the agent keeps max idle work connections, no more, and links beyond
// them ride streams.
func TestPoolMaxEnforced(t *testing.T) {
	t.Parallel()
	f := framework.New(t)
	echo := f.TCPEcho()
	key := newKey(t)
	bridgePort, userPort := f.Port(), f.Port()
	const max = 4
	server := f.Burrow("server", fmt.Sprintf("server://%s@127.0.0.1:%d/127.0.0.1:%d?log=debug&max=%d", key, bridgePort, userPort, max))
	server.MustWaitLog(logBridgeListening, ready)
	agent := f.Burrow("client", fmt.Sprintf("client://%s@127.0.0.1:%d/%s?log=debug&min=64", key, bridgePort, echo))
	agent.MustWaitLog(logConnected, ready)
	server.MustWaitLog(logTCPListening, ready)
	waitConns(t, bridgePort, 1+max, ready, "the session and max= work connections")
	for range 10 { // it stays there: the agent does not dial beyond max
		if n := bridgeConns(t, bridgePort); n != 1+max {
			t.Fatalf("%d connections to the bridge, want %d (the session and max=%d)", n, 1+max, max)
		}
		time.Sleep(100 * time.Millisecond)
	}
	errs := make(chan error, 3*max)
	var wg sync.WaitGroup
	for range 3 * max {
		wg.Go(func() {
			errs <- f.ExpectTCPEcho(framework.Addr(userPort)).Payload(framework.RandomBytes(4096)).Timeout(20 * time.Second).Do()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	waitConns(t, bridgePort, 1+max, ready, "the pool back at max= after the links")
}

// A user who resets a connection on a pooled link: the backend hears a
// reset, not an orderly end, as on a stream.
func TestPoolAbortReachesBackendAsReset(t *testing.T) {
	t.Parallel()
	f := framework.New(t)
	sink := f.TCPSink()
	p := newPooled(f, sink.Addr, 4)
	user, agent := p.user, p.agent

	c, err := net.DialTimeout("tcp", user, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(framework.RandomBytes(1000)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(ready)
	for time.Now().Before(deadline) {
		if cs := sink.Conns(); len(cs) == 1 && cs[0].Bytes == 1000 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if p, _ := pooledLinks(agent); p != 1 {
		t.Fatalf("%d pooled links, want the one link on the pool", p)
	}
	_ = c.(*net.TCPConn).SetLinger(0)
	_ = c.Close() // an RST
	conns, err := sink.WaitClosed(1, ready)
	if err != nil {
		t.Fatalf("%v; sink saw %+v", err, conns)
	}
	if conns[0].Bytes != 1000 || conns[0].Err == nil || !strings.Contains(conns[0].Err.Error(), "reset") {
		t.Fatalf("backend saw %+v, want 1000 bytes then a connection reset", conns[0])
	}
}
