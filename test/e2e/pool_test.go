package e2e

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/burrowproject/burrow/internal/netx"
	"github.com/burrowproject/burrow/internal/testutil"
	"github.com/burrowproject/burrow/test/e2e/framework"
)

// The pool of links: agents keep min= idle work connections to the bridge
// (capped by the server's max=), links ride them with no round trip, and
// the session's streams remain the fallback. These specs count the work
// connections in the kernel's table (/proc/PID/net/tcp, only the
// processes' own sockets), and tell pooled links
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
	id    string // the instance's
	user  string
	agent *framework.Process
}

// newPooled starts a master, a tcp instance to target and an agent with
// min=min, and waits until the agent's pool is full.
func newPooled(f *framework.Framework, target string, min int) *pooled {
	f.T().Helper()
	return newPooledTLS(f, target, min, true)
}

// newPooledTLS is newPooled with bridge TLS on or off (bridgetls=0 on the
// master, tls=0 on the agent).
func newPooledTLS(f *framework.Framework, target string, min int, withTLS bool) *pooled {
	f.T().Helper()
	var masterQuery []string
	if !withTLS {
		masterQuery = []string{"bridgetls=0"}
	}
	m := f.Master("master", masterQuery...)
	key := newKey(f.T())
	user, in := tcpInstance(f, m, key, target)
	var agent *framework.Process
	if withTLS {
		agent = poolAgent(f, m, "agent", key, target, fmt.Sprintf("min=%d", min))
	} else { // plain: no fp= to pin
		agent = f.Burrow("agent", fmt.Sprintf("client://%s@%s?log=debug&tls=0&allow=%s&min=%d", key, m.BridgeAddr(), target, min))
	}
	m.WaitInstance(in.ID, ready, "with its agent", func(in framework.Instance) bool { return in.Pool == 1 })
	waitConns(f.T(), func() int { return agentConns(f.T(), m.BridgePort, agent) }, 1+min, ready, "the agent's session and its pool")
	// Established is not ready: a work connection joins the pool once the
	// bridge read its hello (after TLS's handshake), and a link that comes
	// before rides a stream.
	waitConns(f.T(), func() int { return poolIdle(f.T(), m) }, min, ready, "the bridge's idle work connections")
	return &pooled{m: m, id: in.ID, user: user, agent: agent}
}

// poolIdle is the idle work connections of m's agents, as its API lists
// them (GET /agents).
func poolIdle(t testing.TB, m *framework.Master) int {
	t.Helper()
	var agents []struct {
		PoolIdle int `json:"pool_idle"`
	}
	if err := m.MustDo(http.StatusOK, http.MethodGet, "/agents", nil).JSON(&agents); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, a := range agents {
		n += a.PoolIdle
	}
	return n
}

// tcpInstance creates a tcp instance of m to target through key's agents
// and returns its user address.
func tcpInstance(f *framework.Framework, m *framework.Master, key, target string) (string, framework.Instance) {
	f.T().Helper()
	user := f.Port()
	in := m.Create(fmt.Sprintf("tcp://127.0.0.1:%d/%s?agent=%s", user, target, key), "tcp-"+key[:6])
	return framework.Addr(user), in
}

// agentConns counts the agents' own established TCP connections to the
// bridge at port: their session and work connections.
func agentConns(t testing.TB, port int, agents ...*framework.Process) int {
	t.Helper()
	pids := make([]int, len(agents))
	for i, a := range agents {
		pids[i] = a.PID()
	}
	return processConns(t, pids, func(_, remote int) bool { return remote == port })
}

// bridgeConns counts the established TCP connections the process pid
// (the bridge's) accepted on port.
func bridgeConns(t testing.TB, pid, port int) int {
	t.Helper()
	return processConns(t, []int{pid}, func(local, _ int) bool { return local == port })
}

// processConns is framework.ProcessConns; the spec is skipped where
// there is no /proc to count in.
func processConns(t testing.TB, pids []int, match func(local, remote int) bool) int {
	t.Helper()
	n, err := framework.ProcessConns(pids, match)
	if err != nil {
		t.Skip(err)
	}
	return n
}

// waitConns waits until count() is want.
func waitConns(t testing.TB, count func() int, want int, within time.Duration, what string) {
	t.Helper()
	waitConnsIn(t, count, want, want, within, what)
}

// waitConnsIn is waitConns for a count from lo to hi.
func waitConnsIn(t testing.TB, count func() int, lo, hi int, within time.Duration, what string) {
	t.Helper()
	deadline := time.Now().Add(within)
	got := 0
	for time.Now().Before(deadline) {
		if got = count(); got >= lo && got <= hi {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: %d connections within %v, want %d to %d", what, got, within, lo, hi)
}

// bridgeSourceBusy is the bridge's log of connections refused because
// their source had too many handshakes in progress.
const bridgeSourceBusy = "last_reason=source_busy"

// reusedLinks counts the agent's pooled links whose work connection
// carried a link before.
func reusedLinks(agent *framework.Process) int {
	return strings.Count(agent.Output(), "pooled=true reused=true")
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
	waitConns(t, func() int { return agentConns(t, m.BridgePort, withPool, noPool) }, 2+min, ready, "the agents' two sessions and the pool")
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
// intact (the rest ride streams), and the pool is full again after it,
// with TLS and without: the refill keeps no more work handshakes waiting
// at the bridge than the agent dials at once (each is over only once the
// bridge acked it), so none is refused for its source (source_busy).
func TestPoolRefillsAfterBurst(t *testing.T) { withBridgeTLS(t, poolRefillsAfterBurst) }

// withBridgeTLS runs test in parallel with bridge TLS on and off.
func withBridgeTLS(t *testing.T, test func(t *testing.T, withTLS bool)) {
	t.Parallel()
	for _, withTLS := range []bool{true, false} {
		t.Run(fmt.Sprintf("tls=%v", withTLS), func(t *testing.T) {
			t.Parallel()
			test(t, withTLS)
		})
	}
}

func poolRefillsAfterBurst(t *testing.T, withTLS bool) {
	f := framework.New(t)
	const min = 32
	p := newPooledTLS(f, f.TCPEcho(), min, withTLS)
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
	// With TLS the links' connections come back to the pool (see
	// TestPoolReusesTLSWorkConns): the agent keeps up to twice min= of them.
	most := 1 + min
	if withTLS {
		most = 1 + 2*min
	}
	waitConnsIn(t, func() int { return agentConns(t, m.BridgePort, agent) }, 1+min, most, 20*time.Second, "the agent's pool refilled after the burst")
	if strings.Contains(m.Output(), bridgeSourceBusy) {
		t.Errorf("the bridge refused work connections of the refill for their source (%s)", bridgeSourceBusy)
	}
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

// With bridge TLS a link's work connection outlives it: once both ends
// ended the link, it waits in the pool for the next one, so a run of
// short connections costs no TCP connection and no TLS handshake each
// to the bridge. The agent ends up holding at most twice min= of them.
// Without TLS links keep TCP's own ends (they are spliced) and none is
// reused.
func TestPoolReusesTLSWorkConns(t *testing.T) {
	withBridgeTLS(t, func(t *testing.T, withTLS bool) {
		f := framework.New(t)
		const min, conns = 4, 100
		p := newPooledTLS(f, f.TCPEcho(), min, withTLS)
		for range conns {
			f.ExpectTCPEcho(p.user).Payload(framework.RandomBytes(2048)).Ensure()
		}
		pooled, streams := pooledLinks(p.agent)
		reused := reusedLinks(p.agent)
		switch {
		case pooled != conns || streams != 0:
			t.Errorf("%d pooled links and %d on streams, want all %d pooled", pooled, streams, conns)
		case withTLS && reused < conns-2*min-1:
			t.Errorf("%d of %d links rode a reused work connection, want all but the first %d at most", reused, conns, 2*min+1)
		case !withTLS && reused != 0:
			t.Errorf("%d links rode a reused plain work connection, want none", reused)
		}
		most := 1 + min
		if withTLS {
			most = 1 + 2*min
		}
		waitConnsIn(t, func() int { return agentConns(t, p.m.BridgePort, p.agent) }, 1+min, most, ready, "the agent's session and its pool after the run")
	})
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
	waitConns(t, func() int { return bridgeConns(t, m.PID(), m.BridgePort) }, 0, ready, "no connection of the killed agent left on the bridge")
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
	conns := func() int { return agentConns(t, bridgePort, agent) }
	waitConns(t, conns, 1+max, ready, "the agent's session and max= work connections")
	for range 10 { // it stays there: the agent does not dial beyond max
		if n := conns(); n != 1+max {
			t.Fatalf("the agent has %d connections to the bridge, want %d (the session and max=%d)", n, 1+max, max)
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
	waitConns(t, conns, 1+max, ready, "the agent's pool back at max= after the links")
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

// A backend that resets a connection while its pooled link is idle (the
// bridge's copy waits at the work connection's socket, holding nothing;
// past the park delay, in no goroutine at all): the user hears a reset,
// not an orderly end, with bridge TLS and without.
func TestPoolIdleBackendResetReachesUserAsReset(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		withTLS bool
		idle    time.Duration
	}{{true, 200 * time.Millisecond}, {false, 200 * time.Millisecond}, {true, 2500 * time.Millisecond}, {false, 2500 * time.Millisecond}} {
		withTLS := tc.withTLS
		t.Run(fmt.Sprintf("tls=%v/idle=%v", withTLS, tc.idle), func(t *testing.T) {
			t.Parallel()
			f := framework.New(t)
			reset := make(chan struct{})
			backend := testutil.ServeTCP(t, func(c net.Conn) {
				one := make([]byte, 1)
				if _, err := io.ReadFull(c, one); err != nil {
					return
				}
				if _, err := c.Write(one); err != nil {
					return
				}
				select {
				case <-reset: // the user's side is idle now
				case <-time.After(ready):
				}
				_ = netx.Reset(c)
			})
			p := newPooledTLS(f, backend, 4, withTLS)
			c, err := net.DialTimeout("tcp", p.user, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(ready))
			one := make([]byte, 1)
			if _, err := c.Write([]byte("x")); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(c, one); err != nil {
				t.Fatal(err)
			}
			if n, _ := pooledLinks(p.agent); n != 1 {
				t.Fatalf("%d pooled links, want the one link on the pool", n)
			}
			time.Sleep(tc.idle) // both ends' copies wait (parked, past the park delay)
			close(reset)
			_, err = c.Read(one)
			if err == nil || !errors.Is(err, syscall.ECONNRESET) {
				t.Fatalf("the user read %v after the backend's reset, want a connection reset", err)
			}
		})
	}
}

// A quiet link's copies park (past a second without a byte they hold no
// goroutine, on both ends: netx.Parker) and wake: a connection quiet for
// longer carries bytes both ways intact, again and again, the instance
// counts them exactly, and stopping the instance (the server closes the
// user's connection under its parked copies) ends it, with bridge TLS and
// without.
func TestPoolParkedLinkWakesCountsAndEnds(t *testing.T) {
	withBridgeTLS(t, func(t *testing.T, withTLS bool) {
		for _, pool := range []int{4, 0} { // on the pool, and on streams (only the sockets' copies park)
			t.Run(fmt.Sprintf("min=%d", pool), func(t *testing.T) {
				t.Parallel()
				parkedLinkWakesCountsAndEnds(t, withTLS, pool)
			})
		}
	})
}

func parkedLinkWakesCountsAndEnds(t *testing.T, withTLS bool, pool int) {
	f := framework.New(t)
	p := newPooledTLS(f, f.TCPEcho(), pool, withTLS)
	list := []counted{{m: p.m, id: p.id}}
	settle(t, list)
	c, err := net.DialTimeout("tcp", p.user, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const rounds, size = 3, 200 << 10
	for round := range rounds {
		if round > 0 {
			time.Sleep(2500 * time.Millisecond) // past the hot window and the park delay
		}
		payload := framework.RandomBytes(size)
		_ = c.SetDeadline(time.Now().Add(ready))
		werr := make(chan error, 1)
		go func() { _, err := c.Write(payload); werr <- err }()
		got := make([]byte, size)
		if _, err := io.ReadFull(c, got); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if err := <-werr; err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if string(got) != string(payload) {
			t.Fatalf("round %d: the echo differs from what was sent", round)
		}
	}
	if pooled, streams := pooledLinks(p.agent); pooled != min(pool, 1) || streams != 1-min(pool, 1) {
		t.Fatalf("the link rode %d pooled connections and %d streams, want min=%d's", pooled, streams, pool)
	}
	list[0].want = [4]int64{rounds * size, rounds * size, 0, 0}
	expectCounters(t, list)
	time.Sleep(2500 * time.Millisecond)
	p.m.Patch(p.id, `{"action":"stop"}`)
	_ = c.SetReadDeadline(time.Now().Add(ready))
	start := time.Now()
	if n, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatalf("the user read %d bytes after the instance stopped, want its end", n)
	} else if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the user's connection outlived its stopped instance by %v", ready)
	}
	t.Logf("the stopped instance's connection ended after %v", time.Since(start).Round(time.Millisecond))
}

// A TLS work connection whose link carried bulk (records that grew
// crypto/tls's read buffer, which it keeps for the connection's life) is
// not reused: the next link rides a fresh one, and the pool refills.
func TestPoolRetiresTLSWorkConnsThatCarriedBulk(t *testing.T) {
	t.Parallel()
	f := framework.New(t)
	const min, conns = 4, 12
	p := newPooledTLS(f, f.TCPEcho(), min, true)
	for range conns {
		f.ExpectTCPEcho(p.user).Payload(framework.RandomBytes(256 << 10)).Timeout(20 * time.Second).Ensure()
	}
	if pooled, _ := pooledLinks(p.agent); pooled != conns {
		t.Fatalf("%d of %d links pooled, want all", pooled, conns)
	}
	if reused := reusedLinks(p.agent); reused != 0 {
		t.Errorf("%d links rode a work connection that had carried 256 KiB each way, want none", reused)
	}
	waitConns(t, func() int { return agentConns(t, p.m.BridgePort, p.agent) }, 1+min, ready, "the agent's session and its refilled pool")
}
