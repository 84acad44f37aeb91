package e2e

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/burrowproject/burrow/test/e2e/framework"
)

// strangers is how many idle or junk connections the bridge spec opens,
// and strangerIPs how many loopback source addresses they come from.
const strangers, strangerIPs = 2000, 40

// openStrangers opens n connections to addr from strangerIPs loopback
// addresses (127.0.1.x): even ones stay silent, odd ones send junk. It
// returns them open; the test's cleanup closes them.
func openStrangers(t *testing.T, addr string, n int) []net.Conn {
	t.Helper()
	conns := make([]net.Conn, n)
	var wg sync.WaitGroup
	const workers = 8
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 1, byte(1+i%strangerIPs))}}
				c, err := d.Dial("tcp", addr)
				if err != nil {
					continue // a full backlog may refuse some: those cost the bridge nothing
				}
				conns[i] = c
				if i%2 == 1 {
					_, _ = c.Write([]byte("GET / HTTP/1.1\r\nHost: bridge\r\n\r\n"))
				}
			}
		})
	}
	wg.Wait()
	t.Cleanup(func() {
		for _, c := range conns {
			if c != nil {
				_ = c.Close()
			}
		}
	})
	return conns
}

// 2,000 idle or junk connections to the shared bridge: the API still
// answers in under a second, a real agent still connects and carries
// traffic, the junk is logged at most once per source per interval, the
// refusals are counted, and the master's memory comes back.
func TestBridgeStrangersBounded(t *testing.T) {
	if !framework.HasProcFS() {
		t.Skip("needs /proc for resident memory")
	}
	f := framework.New(t)
	m := f.Master("master")
	key, user := newKey(t), f.Port()
	echo := f.TCPEcho()
	in := m.Create(fmt.Sprintf("tcp://127.0.0.1:%d/%s?agent=%s", user, echo, key), "fwd")
	// Before: the master at work, an agent connected and traffic carried.
	boundsAgent(f, "agent-before", key, m.BridgeAddr(), echo)
	m.WaitInstance(in.ID, ready, "running with its agent", func(in framework.Instance) bool { return in.Status == "running" && in.Pool == 1 })
	f.ExpectTCPEcho(framework.Addr(user)).Payload(framework.RandomBytes(256 << 10)).Eventually(ready).Ensure()
	m.MustDo(http.StatusOK, http.MethodGet, "/instances", nil)
	before := rss(t, m.PID())
	logStart := len(m.Output())

	conns := openStrangers(t, m.BridgeAddr(), strangers)
	opened := 0
	for _, c := range conns {
		if c != nil {
			opened++
		}
	}
	for i := range 5 {
		start := time.Now()
		m.MustDo(http.StatusOK, http.MethodGet, "/instances", nil)
		if el := time.Since(start); el > time.Second {
			t.Errorf("API request %d during the flood took %v", i, el)
		}
	}
	// A second agent of the pool connects while the strangers are there.
	boundsAgent(f, "agent-during", key, m.BridgeAddr(), echo)
	m.WaitInstance(in.ID, ready, "running with both agents", func(in framework.Instance) bool { return in.Status == "running" && in.Pool == 2 })
	f.ExpectTCPEcho(framework.Addr(user)).Payload(framework.RandomBytes(256 << 10)).Eventually(ready).Ensure()
	during := rss(t, m.PID())

	refused := refusedCounts(t, m)
	t.Logf("bridge refusals: %v", refused)
	if refused["failed"] == 0 || refused["busy"]+refused["source_busy"] == 0 || refused["delayed"] == 0 {
		t.Errorf("refusals counted %v: want failed handshakes, delayed refusals and connections closed at once", refused)
	}
	for _, c := range conns {
		if c != nil {
			_ = c.Close()
		}
	}
	// Memory comes back: within 20% of before (the Go runtime returns
	// freed pages to the system within minutes, but little was taken). The
	// race detector keeps shadow memory for every goroutine that ran, so
	// the figure holds on a binary built without it.
	race, err := framework.RaceBinary()
	if err != nil {
		t.Fatal(err)
	}
	var after int64
	deadline := time.Now().Add(10 * time.Second)
	if race {
		deadline = time.Now() // measured and logged, not waited for
	}
	for {
		after = rss(t, m.PID())
		if after <= before*12/10 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	out := m.Output()[logStart:]
	failed := strings.Count(out, `msg="agent handshake failed"`)
	t.Logf("%d of %d strangers connected; master rss %d KiB before, %d KiB during, %d KiB after; %d handshake-failure lines, %d refusal lines",
		opened, strangers, before>>10, during>>10, after>>10, failed, strings.Count(out, "bridge refusing connections"))
	if after > before*12/10 && !race {
		t.Errorf("master rss %d KiB after the flood, more than 20%% over the %d KiB before", after>>10, before>>10)
	}
	// One line per source per 10 s interval: a spec this short sees at
	// most two intervals.
	if failed > 2*strangerIPs {
		t.Errorf("%d handshake-failure lines for %d sources", failed, strangerIPs)
	}
}

// refusedCounts reads burrow_bridge_refused_total by reason from /metrics.
func refusedCounts(t *testing.T, m *framework.Master) map[string]float64 {
	t.Helper()
	return counterByReason(t, m, "burrow_bridge_refused_total")
}

// counterByReason reads a counter with a reason label from /metrics.
func counterByReason(t *testing.T, m *framework.Master, metric string) map[string]float64 {
	t.Helper()
	r := m.MustDo(http.StatusOK, http.MethodGet, "//metrics", nil)
	out := map[string]float64{}
	for line := range strings.SplitSeq(string(r.Body), "\n") {
		rest, ok := strings.CutPrefix(line, metric+`{reason="`)
		if !ok {
			continue
		}
		reason, value, _ := strings.Cut(rest, `"} `)
		var v float64
		if _, err := fmt.Sscan(value, &v); err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[reason] = v
	}
	return out
}
