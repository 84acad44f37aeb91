package e2e

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/burrowproject/burrow/test/e2e/framework"
)

// NodePass's instance shapes (issue 10): client single-end forwarding,
// auto mode, target groups with a dead member.

// clientURL is the one place this file builds client instance URLs, so
// agent rules that change (TLS first, allow=) are adapted here.
func clientURL(tunnel string, targets []string, query ...string) string {
	q := ""
	if len(query) > 0 {
		q = "?" + strings.Join(query, "&")
	}
	return fmt.Sprintf("client://%s/%s%s", tunnel, strings.Join(targets, ","), q)
}

// waitMode waits until instance id runs in mode.
func waitMode(m *framework.Master, id string, mode int) framework.Instance {
	return m.WaitInstance(id, ready, fmt.Sprintf("running in mode %d", mode), func(in framework.Instance) bool {
		return in.Status == "running" && in.Mode == mode
	})
}

// A client whose tunnel address is free here forwards straight to its
// target (mode=1, and mode=0 settles on it): TCP and UDP echo, exact
// counters, tcps live while a connection is open.
func TestClientSingleEnd(t *testing.T) {
	t.Parallel()
	f := framework.New(t)
	m := f.Master("master")
	echo := f.TCPUDPEcho()
	forced, auto := f.Port(), f.Port()
	one := m.Create(clientURL(framework.Addr(forced), []string{echo}, "mode=1"), "single")
	zero := m.Create(clientURL(framework.Addr(auto), []string{echo}), "auto")
	waitMode(m, one.ID, 1)
	waitMode(m, zero.ID, 1)

	list := []counted{{m: m, id: one.ID}, {m: m, id: zero.ID}}
	for _, port := range []int{forced, auto} {
		f.ExpectTCPEcho(framework.Addr(port)).Eventually(ready).Ensure()
		f.ExpectUDPEcho(framework.Addr(port)).Eventually(ready).Ensure()
	}
	settle(t, list)
	for i, port := range []int{forced, auto} {
		f.ExpectTCPEcho(framework.Addr(port)).Payload(framework.RandomBytes(tcpPayload)).Ensure()
		udpExact(t, framework.Addr(port), udpCount, udpDatagram)
		list[i].want = [4]int64{tcpPayload, tcpPayload, udpCount * udpDatagram, udpCount * udpDatagram}
	}
	expectCounters(t, list)

	c, err := net.Dial("tcp", framework.Addr(forced))
	if err != nil {
		t.Fatal(err)
	}
	m.WaitInstance(one.ID, ready, "with one live tcp connection", func(in framework.Instance) bool { return in.TCPs == 1 })
	_ = c.Close()
	m.WaitInstance(one.ID, ready, "with no live tcp connection", func(in framework.Instance) bool { return in.TCPs == 0 })
}

// mode=0 on a client whose tunnel address is taken (a server's bridge)
// settles on dual-end and carries traffic through the server; mode=1 on a
// taken address is an error naming it.
func TestClientAutoDualEnd(t *testing.T) {
	t.Parallel()
	f := framework.New(t)
	m := f.Master("master")
	echo := f.TCPUDPEcho()
	key := newKey(t)
	tunnel, user := f.Port(), f.Port()
	srv := m.Create(fmt.Sprintf("server://%s@127.0.0.1:%d/127.0.0.1:%d", key, tunnel, user), "server")
	m.WaitInstance(srv.ID, ready, "running", func(in framework.Instance) bool { return in.Status == "running" })
	cl := m.Create(clientURL(key+"@"+framework.Addr(tunnel), []string{echo}), "auto")
	waitMode(m, cl.ID, 2)
	m.WaitInstance(srv.ID, ready, "with its client", func(in framework.Instance) bool { return in.Pool >= 1 })
	f.ExpectTCPEcho(framework.Addr(user)).Eventually(ready).Ensure()
	f.ExpectUDPEcho(framework.Addr(user)).Eventually(ready).Ensure()

	bad := m.Create(clientURL(framework.Addr(tunnel), []string{echo}, "mode=1"), "forced")
	in := m.WaitInstance(bad.ID, ready, "in error", func(in framework.Instance) bool { return in.Status == "error" })
	if !strings.Contains(in.Reason, framework.Addr(tunnel)) {
		t.Fatalf("reason %q does not name the address that cannot be bound", in.Reason)
	}
}

// A target group with a dead first member, on a single-end client and on
// the agent of a server/client pair: every user connection succeeds, and
// the dead target is reported backing off.
func TestTargetGroupFailover(t *testing.T) {
	t.Parallel()
	f := framework.New(t)
	m := f.Master("master")
	echo := f.TCPUDPEcho()
	dead := f.RefusingAddr()
	single := f.Port()
	one := m.Create(clientURL(framework.Addr(single), []string{dead, echo}, "mode=1"), "single")
	waitMode(m, one.ID, 1)

	key := newKey(t)
	tunnel, user := f.Port(), f.Port()
	srv := m.Create(fmt.Sprintf("server://%s@127.0.0.1:%d/127.0.0.1:%d", key, tunnel, user), "server")
	m.WaitInstance(srv.ID, ready, "running", func(in framework.Instance) bool { return in.Status == "running" })
	cl := m.Create(clientURL(key+"@"+framework.Addr(tunnel), []string{dead, echo}, "mode=2"), "agent")
	waitMode(m, cl.ID, 2)
	m.WaitInstance(srv.ID, ready, "with its client", func(in framework.Instance) bool { return in.Pool >= 1 })

	for _, addr := range []string{framework.Addr(single), framework.Addr(user)} {
		f.ExpectTCPEcho(addr).Eventually(ready).Ensure() // up
		for i := range 12 {
			if err := f.ExpectTCPEcho(addr).Payload(framework.RandomBytes(100)).Timeout(5 * time.Second).Do(); err != nil {
				t.Fatalf("connection %d via %s with one target down: %v", i, addr, err)
			}
		}
		f.ExpectUDPEcho(addr).Ensure()
	}
	if err := m.WaitLogN("target failing, skipped while backing off", 2, ready); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(m.Output(), dead) {
		t.Fatalf("the log does not name the dead target %s", dead)
	}
}
