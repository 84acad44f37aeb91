package e2e

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/burrowproject/burrow/test/e2e/framework"
)

// End-to-end traffic through instances created with the API, with the
// byte counters the API reports checked against the bytes really sent.

const (
	tcpPayload  = 10000
	udpDatagram = 700
	udpCount    = 5
)

// counted is an instance on a master whose counters a spec checks.
type counted struct {
	m    *framework.Master
	id   string
	want [4]int64 // tcprx, tcptx, udprx, udptx
}

// settle waits until the counters of every instance stop moving (warm-up
// traffic, UDP resends), then resets them with PATCH {"action":"reset"}.
func settle(t *testing.T, list []counted) {
	t.Helper()
	for _, c := range list {
		var last [4]int64
		stable := 0
		c.m.WaitInstance(c.id, ready, "with steady counters", func(in framework.Instance) bool {
			if in.Counters() == last {
				stable++
			} else {
				last, stable = in.Counters(), 0
			}
			return stable >= 6 // 300 ms without a change
		})
		if got := c.m.Patch(c.id, `{"action":"reset"}`); got.Counters() != [4]int64{} {
			t.Fatalf("reset of %s answered counters %v, want zeros", c.id, got.Counters())
		}
	}
}

// expectCounters polls every instance until its counters are exactly what
// was sent (bounded), and fails with what the API showed.
func expectCounters(t *testing.T, list []counted) {
	t.Helper()
	for _, c := range list {
		c.m.WaitInstance(c.id, 2*reportInterval, fmt.Sprintf("showing counters tcprx/tcptx/udprx/udptx = %v", c.want),
			func(in framework.Instance) bool { return in.Counters() == c.want })
	}
}

// udpExact sends count datagrams of size bytes one at a time, each waiting
// for its echo, without resending: the counters must then be exact.
func udpExact(t *testing.T, addr string, count, size int) {
	t.Helper()
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 64<<10)
	for i := range count {
		p := framework.RandomBytes(size)
		if _, err := c.Write(p); err != nil {
			t.Fatalf("udp datagram %d: %v", i, err)
		}
		_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
		n, err := c.Read(buf)
		if err != nil || !bytes.Equal(buf[:n], p) {
			t.Fatalf("udp datagram %d of %d bytes via %s: got %d bytes, %v", i, size, addr, n, err)
		}
	}
}

// "A NodePass script that creates a pair on two Burrow masters gets a
// working tunnel": the server instance on master A, the client on master
// B; TCP and UDP echo through it; both ends count exactly the bytes sent.
func TestMasterTrafficPairOnTwoMasters(t *testing.T) {
	t.Parallel()
	f := framework.New(t)
	a, b := f.Master("master-a"), f.Master("master-b")
	echo := f.TCPUDPEcho()
	key := newKey(t)
	tunnel, user := f.Port(), f.Port()

	srv := a.Create(fmt.Sprintf("server://%s@127.0.0.1:%d/127.0.0.1:%d", key, tunnel, user), "pair-server")
	cl := b.Create(fmt.Sprintf("client://%s@127.0.0.1:%d/%s", key, tunnel, echo), "pair-client")
	a.WaitInstance(srv.ID, ready, "running with its client", func(in framework.Instance) bool { return in.Status == "running" && in.Pool >= 1 })
	b.WaitInstance(cl.ID, ready, "running", func(in framework.Instance) bool { return in.Status == "running" })

	userAddr := framework.Addr(user)
	f.ExpectTCPEcho(userAddr).Eventually(ready).Ensure()
	f.ExpectUDPEcho(userAddr).Eventually(ready).Ensure()
	list := []counted{{m: a, id: srv.ID}, {m: b, id: cl.ID}}
	settle(t, list)

	f.ExpectTCPEcho(userAddr).Payload(framework.RandomBytes(tcpPayload)).Ensure()
	udpExact(t, userAddr, udpCount, udpDatagram)
	for i := range list {
		list[i].want = [4]int64{tcpPayload, tcpPayload, udpCount * udpDatagram, udpCount * udpDatagram}
	}
	expectCounters(t, list)
}

// A tcp and a udp instance on master A through A's shared bridge, each
// served by a client instance (the agent) on master B: echo through both,
// exact counters on all four, GET /agents lists both agents without their
// keys, /metrics carries the byte counters.
func TestMasterTrafficSharedBridge(t *testing.T) {
	t.Parallel()
	f := framework.New(t)
	a, b := f.Master("master-a"), f.Master("master-b")
	tcpEcho, udpEcho := f.TCPEcho(), f.UDPEcho()
	tcpKey, udpKey := newKey(t), newKey(t)
	tcpUser, udpUser := f.Port(), f.Port()

	fwdTCP := a.Create(fmt.Sprintf("tcp://127.0.0.1:%d/%s?agent=%s", tcpUser, tcpEcho, tcpKey), "tcp-fwd")
	fwdUDP := a.Create(fmt.Sprintf("udp://127.0.0.1:%d/%s?agent=%s", udpUser, udpEcho, udpKey), "udp-fwd")
	if fwdTCP.Type != "tcp" || fwdUDP.Type != "udp" {
		t.Errorf("types %q and %q, want tcp and udp (never empty: NodePassDash takes type \"\" for the key record)", fwdTCP.Type, fwdUDP.Type)
	}
	agentTCP := b.Create(fmt.Sprintf("client://%s@%s/%s", tcpKey, a.BridgeAddr(), tcpEcho), "tcp-agent")
	agentUDP := b.Create(fmt.Sprintf("client://%s@%s/%s", udpKey, a.BridgeAddr(), udpEcho), "udp-agent")
	for _, id := range []string{fwdTCP.ID, fwdUDP.ID} {
		a.WaitInstance(id, ready, "running with its agent", func(in framework.Instance) bool { return in.Status == "running" && in.Pool == 1 })
	}
	for _, id := range []string{agentTCP.ID, agentUDP.ID} {
		b.WaitInstance(id, ready, "running", func(in framework.Instance) bool { return in.Status == "running" })
	}

	f.ExpectTCPEcho(framework.Addr(tcpUser)).Eventually(ready).Ensure()
	f.ExpectUDPEcho(framework.Addr(udpUser)).Eventually(ready).Ensure()
	list := []counted{{m: a, id: fwdTCP.ID}, {m: a, id: fwdUDP.ID}, {m: b, id: agentTCP.ID}, {m: b, id: agentUDP.ID}}
	settle(t, list)

	f.ExpectTCPEcho(framework.Addr(tcpUser)).Payload(framework.RandomBytes(tcpPayload)).Ensure()
	udpExact(t, framework.Addr(udpUser), udpCount, udpDatagram)
	tcpWant := [4]int64{tcpPayload, tcpPayload, 0, 0}
	udpWant := [4]int64{0, 0, udpCount * udpDatagram, udpCount * udpDatagram}
	list[0].want, list[1].want, list[2].want, list[3].want = tcpWant, udpWant, tcpWant, udpWant
	expectCounters(t, list)

	// GET /agents: both agents, never their keys.
	r := a.MustDo(http.StatusOK, http.MethodGet, "/agents", nil)
	checkJSONType(t, r)
	var agents []struct {
		ID, Pool, Name, Addr, Version string
		Connected                     time.Time
		Streams, Ping                 int
	}
	if err := r.JSON(&agents); err != nil {
		t.Fatal(err)
	}
	// Each agent's measured round trip: the first heartbeat goes out when
	// the session starts, so it is there within moments.
	for i := 0; i < 50 && (len(agents) != 2 || agents[0].Ping < 1 || agents[1].Ping < 1); i++ {
		time.Sleep(100 * time.Millisecond)
		r = a.MustDo(http.StatusOK, http.MethodGet, "/agents", nil)
		if err := r.JSON(&agents); err != nil {
			t.Fatal(err)
		}
	}
	for _, ag := range agents {
		if ag.Ping < 1 {
			t.Errorf("agent %s: ping %d ms, want a measured round trip (>= 1)", ag.ID, ag.Ping)
		}
	}
	if len(agents) != 2 {
		t.Errorf("GET /agents lists %d agents, want 2: %s", len(agents), r.Body)
	}
	pools := map[string]bool{}
	for _, ag := range agents {
		pools[ag.Pool] = true
		if ag.ID == "" || ag.Pool == "" || !strings.HasPrefix(ag.Addr, "127.0.0.1:") || ag.Connected.IsZero() {
			t.Errorf("agent %+v: want an id, a pool, a 127.0.0.1 address and a connection time", ag)
		}
	}
	if len(pools) != 2 {
		t.Errorf("the two agents (two keys) share a pool: %s", r.Body)
	}
	for _, k := range []string{tcpKey, udpKey} {
		if strings.Contains(string(r.Body), k) {
			t.Errorf("GET /agents reveals an agent key: %s", r.Body)
		}
	}

	// /metrics: the byte counters of both instances and the agent count.
	r = a.MustDo(http.StatusOK, http.MethodGet, "//metrics", nil)
	metrics := string(r.Body)
	for _, want := range []string{
		fmt.Sprintf(`burrow_instance_bytes_total{direction="tcp_rx",id="%s",type="tcp"} %d`, fwdTCP.ID, tcpPayload),
		fmt.Sprintf(`burrow_instance_bytes_total{direction="tcp_tx",id="%s",type="tcp"} %d`, fwdTCP.ID, tcpPayload),
		fmt.Sprintf(`burrow_instance_bytes_total{direction="udp_rx",id="%s",type="udp"} %d`, fwdUDP.ID, udpCount*udpDatagram),
		fmt.Sprintf(`burrow_instance_bytes_total{direction="udp_tx",id="%s",type="udp"} %d`, fwdUDP.ID, udpCount*udpDatagram),
		"burrow_agents_online 2",
	} {
		if !strings.Contains(metrics, want+"\n") {
			t.Errorf("/metrics lacks %q:\n%s", want, grepLines(metrics, "burrow_"))
		}
	}
	for _, k := range []string{tcpKey, udpKey, a.Key()} {
		if strings.Contains(metrics, k) {
			t.Error("/metrics reveals a key")
		}
	}
}

// A client instance whose bridge refuses its key is "error" with the
// reason; once an instance on that bridge names the key it connects by
// itself and turns "running". A client whose bridge does not answer is
// "error" too, with the connect failure as the reason.
func TestMasterClientRefusedThenRunning(t *testing.T) {
	t.Parallel()
	f := framework.New(t)
	m := f.Master("master")
	echo := f.TCPEcho()
	key := newKey(t)

	cl := m.Create(fmt.Sprintf("client://%s@%s/%s", key, m.BridgeAddr(), echo), "early-agent")
	in := m.WaitInstance(cl.ID, ready, "error (key refused)", func(in framework.Instance) bool { return in.Status == "error" })
	if !strings.Contains(strings.ToLower(in.Reason), "key") {
		t.Errorf("refused client in error with reason %q, want it to say the key was refused", in.Reason)
	}
	if in.Pool != 0 || in.Ping != 0 {
		t.Errorf("client in error reports pool %d ping %d, want 0", in.Pool, in.Ping)
	}

	user := f.Port()
	fwd := m.Create(fmt.Sprintf("tcp://127.0.0.1:%d/%s?agent=%s", user, echo, key), "fwd")
	m.WaitInstance(cl.ID, 15*time.Second, "running once the key is known", func(in framework.Instance) bool {
		return in.Status == "running" && in.Reason == ""
	})
	m.WaitInstance(fwd.ID, ready, "running with its agent", func(in framework.Instance) bool { return in.Status == "running" && in.Pool == 1 })
	f.ExpectTCPEcho(framework.Addr(user)).Eventually(ready).Ensure()

	// mode=2: in auto mode a client whose tunnel address is free here
	// becomes a single-end forwarder on it (NodePass's rule).
	lost := m.Create(fmt.Sprintf("client://%s@%s/%s?mode=2", key, f.RefusingAddr(), echo), "lost-agent")
	in = m.WaitInstance(lost.ID, ready, "error (bridge unreachable)", func(in framework.Instance) bool { return in.Status == "error" })
	if !strings.Contains(in.Reason, "refused") {
		t.Errorf("unreachable-bridge client in error with reason %q, want the connect failure", in.Reason)
	}
}
