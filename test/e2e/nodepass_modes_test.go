package e2e

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/burrowproject/burrow/internal/testutil"
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

// oneRound is what exactTraffic sends through each user address, as the
// counters tcprx, tcptx, udprx, udptx show it.
var oneRound = [4]int64{tcpPayload, tcpPayload, udpCount * udpDatagram, udpCount * udpDatagram}

// exactTraffic settles the counters of list, sends one round (tcpPayload
// bytes echoed over TCP, udpCount datagrams of udpDatagram bytes) through
// each user address, and waits until every instance in list shows exactly
// one round: each carries the traffic of one of the addresses.
func exactTraffic(t *testing.T, f *framework.Framework, list []counted, users ...string) {
	t.Helper()
	settle(t, list)
	for _, user := range users {
		f.ExpectTCPEcho(user).Payload(framework.RandomBytes(tcpPayload)).Ensure()
		udpExact(t, user, udpCount, udpDatagram)
	}
	for i := range list {
		list[i].want = oneRound
	}
	expectCounters(t, list)
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
	exactTraffic(t, f, list, framework.Addr(forced), framework.Addr(auto))

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
	waitMode(m, srv.ID, 1) // auto: its target address is free here, so reverse
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

// A target group with a dead first member, on a single-end client
// (primary-backup) and on the agent of a server/client pair (round-robin):
// every user connection succeeds, and the dead target is reported backing
// off.
func TestTargetGroupFailover(t *testing.T) {
	t.Parallel()
	f := framework.New(t)
	m := f.Master("master")
	echo := f.TCPUDPEcho()
	dead := f.RefusingAddr()
	single := f.Port()
	one := m.Create(clientURL(framework.Addr(single), []string{dead, echo}, "mode=1", "lbs=2"), "single") // primary-backup
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

// banner starts a TCP server that speaks first: it sends a line on accept
// and then echoes.
func banner(t *testing.T) string {
	return testutil.ServeTCP(t, func(c net.Conn) {
		_, _ = c.Write([]byte("220 ready\r\n"))
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		testutil.Echo(c)
	})
}

// echoBack sends p on a fresh connection to addr and returns what comes
// back (an echo: up to len(p) bytes) before the connection ends (bounded).
func echoBack(t *testing.T, addr string, p []byte) string {
	t.Helper()
	// A connection refused with a reset (slots full, say) echoes nothing.
	reset := func(err error) bool { return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) }
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if reset(err) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(p); reset(err) {
		return ""
	} else if err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var got []byte
	buf := make([]byte, 512)
	for len(got) < len(p) {
		n, err := c.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			break
		}
	}
	return string(got)
}

// block=123 on a single-end client and on a server: SOCKS, HTTP and TLS
// first bytes close the connection before any byte reaches the target,
// each counted and logged; other protocols pass, and a server that speaks
// first is heard without the user sending anything.
func TestBlockProtocols(t *testing.T) {
	t.Parallel()
	f := framework.New(t)
	m := f.Master("master")
	echo, talker := f.TCPEcho(), banner(t)
	single, talk := f.Port(), f.Port()
	m.Create(clientURL(framework.Addr(single), []string{echo}, "mode=1", "block=123"), "single")
	m.Create(clientURL(framework.Addr(talk), []string{talker}, "mode=1", "block=123"), "talker")
	key := newKey(t)
	tunnel, user := f.Port(), f.Port()
	srv := m.Create(fmt.Sprintf("server://%s@127.0.0.1:%d/127.0.0.1:%d?block=2", key, tunnel, user), "server")
	m.Create(clientURL(key+"@"+framework.Addr(tunnel), []string{echo}, "mode=2"), "agent")
	m.WaitInstance(srv.ID, ready, "with its client", func(in framework.Instance) bool { return in.Pool >= 1 })
	f.ExpectTCPEcho(framework.Addr(single)).Eventually(ready).Ensure()
	f.ExpectTCPEcho(framework.Addr(user)).Eventually(ready).Ensure()

	blocked := map[string][]byte{
		"SOCKS5": {5, 1, 0},
		"SOCKS4": {4, 1, 0, 80, 127, 0, 0, 1, 0},
		"HTTP":   []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
		"TLS":    {0x16, 0x03, 0x01, 0x00, 0x05, 0x01, 0x00, 0x00, 0x01, 0x00},
	}
	for name, p := range blocked {
		if got := echoBack(t, framework.Addr(single), p); got != "" {
			t.Errorf("%s through block=123: %q came back, want the connection closed", name, got)
		}
	}
	if got := echoBack(t, framework.Addr(user), blocked["HTTP"]); got != "" {
		t.Errorf("HTTP through a block=2 server: %q came back", got)
	}
	if got := echoBack(t, framework.Addr(user), blocked["SOCKS5"]); got != string(blocked["SOCKS5"]) {
		t.Errorf("SOCKS5 through a block=2 server: %q, want it echoed", got)
	}
	if got := echoBack(t, framework.Addr(single), []byte("SSH-2.0-test\r\n")); got != "SSH-2.0-test\r\n" {
		t.Errorf("a clean protocol came back as %q", got)
	}
	// Server speaks first: the banner arrives although the user sends nothing.
	c, err := net.DialTimeout("tcp", framework.Addr(talk), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 64)
	n, err := c.Read(buf)
	if string(buf[:n]) != "220 ready\r\n" {
		t.Fatalf("banner through block=123: %q, %v", buf[:n], err)
	}
	if err := m.WaitLogN(`msg="blocked protocol"`, len(blocked)+1, ready); err != nil {
		t.Fatal(err)
	}
	r := m.MustDo(200, "GET", "//metrics", nil)
	if want := fmt.Sprintf(`burrow_link_errors_total{reason="blocked"} %d`, len(blocked)+1); !strings.Contains(string(r.Body), want+"\n") {
		t.Fatalf("/metrics lacks %q", want)
	}
}

// ping (the tunnel's heartbeat round trip), pool (live tunnel sessions)
// and tcps/udps (live connections and sessions) move on both ends of a
// pair, in GET and in the periodic SSE updates.
func TestRuntimeFieldsMove(t *testing.T) {
	t.Parallel()
	f := framework.New(t)
	m := f.Master("master")
	sse := m.Subscribe()
	echo := f.TCPUDPEcho()
	key := newKey(t)
	tunnel, user := f.Port(), f.Port()
	srv := m.Create(fmt.Sprintf("server://%s@127.0.0.1:%d/127.0.0.1:%d", key, tunnel, user), "server")
	m.WaitInstance(srv.ID, ready, "running", func(in framework.Instance) bool { return in.Status == "running" })
	cl := m.Create(clientURL(key+"@"+framework.Addr(tunnel), []string{echo}, "mode=2"), "agent")
	for _, id := range []string{srv.ID, cl.ID} {
		m.WaitInstance(id, ready, "with ping and pool", func(in framework.Instance) bool { return in.Ping >= 1 && in.Pool == 1 })
	}
	c, err := net.Dial("tcp", framework.Addr(user))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	f.ExpectTCPEcho(framework.Addr(user)).Ensure() // the held connection is linked too
	u, err := net.Dial("udp", framework.Addr(user))
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	udpExact(t, framework.Addr(user), 1, 10) // its own session, ended by idle later
	if _, err := u.Write([]byte("hold")); err != nil {
		t.Fatal(err)
	}
	m.WaitInstance(srv.ID, ready, "with a live tcp connection and udp sessions", func(in framework.Instance) bool { return in.TCPs == 1 && in.UDPs >= 1 })
	m.WaitInstance(cl.ID, ready, "with a live link", func(in framework.Instance) bool { return in.TCPs >= 1 })
	mustWait(t, sse, 2*reportInterval+3*time.Second, "an update with ping, pool and tcps", func(evs []framework.SSEEvent) bool {
		for _, ev := range evs {
			if in := ev.Instance; ev.Type == "update" && in != nil && in.ID == srv.ID && in.Ping >= 1 && in.Pool == 1 && in.TCPs == 1 {
				return true
			}
		}
		return false
	})
	_ = c.Close()
	m.WaitInstance(srv.ID, ready, "with no live tcp connection", func(in framework.Instance) bool { return in.TCPs == 0 })
}

// Server forward mode (mode=2, and mode=0 when the server cannot bind its
// target): the client listens on its target address for users, the server
// dials its own target; TCP and UDP both ways, exact counters on both
// ends. A client without a target cannot serve a forward-mode server: the
// handshake refuses it, with the reason on both sides.
func TestServerForwardMode(t *testing.T) {
	t.Parallel()
	f := framework.New(t)
	m := f.Master("master")
	echo := f.TCPUDPEcho()
	var list []counted
	var users []string
	for _, mode := range []string{"mode=2", "mode=0"} { // mode=0: echo's address is taken here
		key := newKey(t)
		tunnel, user := f.Port(), f.Port()
		srv := m.Create(fmt.Sprintf("server://%s@127.0.0.1:%d/%s?%s", key, tunnel, echo, mode), "server-"+mode)
		waitMode(m, srv.ID, 2)
		cl := m.Create(clientURL(key+"@"+framework.Addr(tunnel), []string{framework.Addr(user)}, "mode=2"), "client-"+mode)
		waitMode(m, cl.ID, 2)
		m.WaitInstance(srv.ID, ready, "with its client", func(in framework.Instance) bool { return in.Pool == 1 })
		f.ExpectTCPEcho(framework.Addr(user)).Eventually(ready).Ensure()
		f.ExpectUDPEcho(framework.Addr(user)).Eventually(ready).Ensure()
		list = append(list, counted{m: m, id: srv.ID}, counted{m: m, id: cl.ID})
		users = append(users, framework.Addr(user))

		if mode == "mode=2" {
			// Pinned (the server's bridge has the master's certificate): a
			// targetless agent verifies its bridge before the hello.
			lone := m.Create(fmt.Sprintf("client://%s@127.0.0.1:%d?mode=2&fp=%s", key, tunnel, m.Bridge().FP), "targetless")
			in := m.WaitInstance(lone.ID, ready, "in error", func(in framework.Instance) bool { return in.Status == "error" })
			if !strings.Contains(in.Reason, "mode mismatch") || !strings.Contains(in.Reason, "forward mode") {
				t.Errorf("targetless client on a forward server: reason %q, want the mode mismatch explained", in.Reason)
			}
			if err := m.WaitLog("agent cannot carry this server's mode", ready); err != nil {
				t.Error(err)
			}
			m.MustDo(http.StatusNoContent, http.MethodDelete, "/instances/"+lone.ID, nil)
		}
	}
	exactTraffic(t, f, list, users...)
}

// A relay chain of three masters on loopback, as NodePass users build one
// across machines: entry and transit are single-end clients, the exit a
// server/client pair in front of the service. TCP and UDP go end to end,
// and every hop counts exactly the bytes sent.
func TestRelayChainThreeMasters(t *testing.T) {
	t.Parallel()
	f := framework.New(t)
	entry, transit, exit := f.Master("entry"), f.Master("transit"), f.Master("exit")
	echo := f.TCPUDPEcho()
	entryPort, transitPort, exitPort, tunnel := f.Port(), f.Port(), f.Port(), f.Port()
	key := newKey(t)

	srv := exit.Create(fmt.Sprintf("server://%s@127.0.0.1:%d/127.0.0.1:%d?mode=1", key, tunnel, exitPort), "exit-server")
	cl := exit.Create(clientURL(key+"@"+framework.Addr(tunnel), []string{echo}, "mode=2"), "exit-client")
	exit.WaitInstance(srv.ID, ready, "with its client", func(in framework.Instance) bool { return in.Pool == 1 })
	hop2 := transit.Create(clientURL(framework.Addr(transitPort), []string{framework.Addr(exitPort)}, "mode=1"), "transit")
	hop1 := entry.Create(clientURL(framework.Addr(entryPort), []string{framework.Addr(transitPort)}, "mode=1"), "entry")
	waitMode(transit, hop2.ID, 1)
	waitMode(entry, hop1.ID, 1)

	user := framework.Addr(entryPort)
	f.ExpectTCPEcho(user).Eventually(ready).Ensure()
	f.ExpectUDPEcho(user).Eventually(ready).Ensure()
	list := []counted{{m: entry, id: hop1.ID}, {m: transit, id: hop2.ID}, {m: exit, id: srv.ID}, {m: exit, id: cl.ID}}
	exactTraffic(t, f, list, user)
}

// proxyEcho starts a TCP server that reads a PROXY v1 line first, sends
// it to lines, then echoes.
func proxyEcho(t *testing.T, lines chan<- string) string {
	return testutil.ServeTCP(t, func(c net.Conn) {
		_ = c.SetDeadline(time.Now().Add(15 * time.Second))
		line, buf := make([]byte, 0, 108), make([]byte, 1)
		for len(line) < 107 && !strings.HasSuffix(string(line), "\r\n") {
			if _, err := c.Read(buf); err != nil {
				return
			}
			line = append(line, buf[0])
		}
		select {
		case lines <- string(line):
		default:
		}
		testutil.Echo(c)
	})
}

// A single-end client honours slot=, proxy= and read= through the host's
// data path: the target hears who the user is, a second connection while
// the only slot is taken is closed at once, an idle one is closed after
// read=.
func TestSingleEndLimits(t *testing.T) {
	t.Parallel()
	f := framework.New(t)
	m := f.Master("master")
	lines := make(chan string, 4)
	target := proxyEcho(t, lines)
	port := f.Port()
	in := m.Create(clientURL(framework.Addr(port), []string{target}, "mode=1", "slot=1", "proxy=1", "read=1s"), "limited")
	waitMode(m, in.ID, 1)

	a, err := net.DialTimeout("tcp", framework.Addr(port), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	_ = a.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := a.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if b := make([]byte, 1); func() bool { _, err := a.Read(b); return err != nil || b[0] != 'x' }() {
		t.Fatal("no echo through the single-end client")
	}
	select {
	case line := <-lines:
		if want := fmt.Sprintf("PROXY TCP4 127.0.0.1 127.0.0.1 %s ", portOf(a.LocalAddr().String())); !strings.HasPrefix(line, want) {
			t.Fatalf("PROXY line %q, want it to start %q", line, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the target got no PROXY line")
	}
	m.WaitInstance(in.ID, ready, "with its only slot taken", func(in framework.Instance) bool { return in.TCPs == 1 })
	if got := echoBack(t, framework.Addr(port), []byte("y")); got != "" {
		t.Fatalf("a second connection past slot=1 got %q, want it closed", got)
	}
	// read=1s: a stays idle and is closed.
	start := time.Now()
	if n, err := a.Read(make([]byte, 1)); err == nil {
		t.Fatalf("idle connection read %d bytes, want it closed after read=1s", n)
	}
	if took := time.Since(start); took > 8*time.Second {
		t.Fatalf("idle connection closed after %v", took)
	}
	f.ExpectTCPEcho(framework.Addr(port)).Eventually(ready).Ensure() // the slot is free again
}
