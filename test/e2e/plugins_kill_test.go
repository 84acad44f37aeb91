package e2e

import (
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/burrowproject/burrow/test/e2e/framework"
)

// The process specs of TestPluginsProcesses: burrow-udp stopped (the
// master serves the udp sessions without it), burrow-tcp killed under load
// (the instance goes to error and back, the other plugins serve
// throughout) and the master killed (its plugins die with it).

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

// killTCPPlugin: SIGKILL burrow-tcp with a handed-off connection open and
// the other plugins under load; the held connection keeps working, a new
// burrow-tcp is launched, the tcp instance goes to error (naming the dead
// process) and back to running, and nothing else changes.
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

	load := w.startSideLoad()
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

	newPID := waitRelaunched(t, m, "burrow-tcp", oldPID)
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
	load.stopAndWait()
	close(stopPoll)
	waitPoll()

	statuses.mu.Lock()
	for _, err := range statuses.errs[:min(len(statuses.errs), 5)] {
		t.Errorf("the API failed while burrow-tcp was down: %v", err)
	}
	statuses.mu.Unlock()
	tcpSeen := statuses.states(w.tcpID)
	t.Logf("burrow-tcp pid %d killed; new pid %d; tcp instance states: %s; recovered in %v; udp rounds %d, http rounds %d during the kill",
		oldPID, newPID, describeStates(tcpSeen), recovered.Round(time.Millisecond), load.udpRounds.Load(), load.httpRounds.Load())
	if !sawRunning {
		t.Errorf("tcp instance did not go to error and back to running: states seen %s", describeStates(tcpSeen))
	}
	checkTCPKillStates(t, tcpSeen, oldPID)
	for _, id := range []string{w.udpID, w.httpID, w.socksID} {
		for _, in := range statuses.states(id) {
			if in.Status != "running" || in.Reason != "" {
				t.Errorf("instance %s (%s) went to %q (%q) while burrow-tcp was killed", id, in.Alias, in.Status, in.Reason)
			}
		}
	}
	load.check(t)
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

// udpSessionOfOnePlugin checks that one burrow-udp process runs and opens
// a session to the udp instance that echoed datagrams exactly; it returns
// the process and the session's socket (closed when t ends).
func (w *plugWorld) udpSessionOfOnePlugin(t *testing.T) (pids []int, held net.Conn) {
	t.Helper()
	pids = framework.PluginProcesses(w.m.PID())["burrow-udp"]
	if len(pids) != 1 {
		t.Fatalf("burrow-udp processes: %v, want one", pids)
	}
	held, err := net.Dial("udp", w.udpAddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = held.Close() })
	if err := udpExchanges(held, 3, 500); err != nil {
		t.Fatalf("session before the plugin is stopped: %v", err)
	}
	return pids, held
}

// udpWithoutPlugin: the udp handler forwarded its socket, so the master
// serves the sessions itself and no datagram crosses burrow-udp: with the
// plugin process stopped (SIGSTOP, for less than a health ping's period),
// a session opened before and new sessions carry datagrams exactly; the
// process then continues, and is the same process.
func (w *plugWorld) udpWithoutPlugin(t *testing.T) {
	pids, held := w.udpSessionOfOnePlugin(t)
	if err := syscall.Kill(pids[0], syscall.SIGSTOP); err != nil {
		t.Fatalf("stop burrow-udp (pid %d): %v", pids[0], err)
	}
	continued := false
	cont := func() {
		if !continued {
			continued = true
			if err := syscall.Kill(pids[0], syscall.SIGCONT); err != nil {
				t.Errorf("continue burrow-udp (pid %d): %v", pids[0], err)
			}
		}
	}
	defer cont()
	if err := udpExchanges(held, 20, 1200); err != nil {
		t.Errorf("session opened before burrow-udp stopped, while it is stopped: %v", err)
	}
	for i := range 3 {
		if err := plugUDPExact(w.udpAddr, 10, 100*(i+1)); err != nil {
			t.Errorf("new session %d while burrow-udp is stopped: %v", i, err)
		}
	}
	cont()
	if now := framework.PluginProcesses(w.m.PID())["burrow-udp"]; !slices.Equal(now, pids) {
		t.Errorf("burrow-udp processes after the stop: %v, want the same %v", now, pids)
	}
	if err := udpExchanges(held, 3, 500); err != nil {
		t.Errorf("session after burrow-udp continued: %v", err)
	}
}

// killUDPPlugin: SIGKILL burrow-udp; the master relaunches it, the udp
// instance runs again, and the relaunched handler's forward serves the
// socket again: the sender of a session from before the kill and a new
// one exchange datagrams exactly, and the old session went on over the
// link it had (the agent opened one udp link since, the new session's).
func (w *plugWorld) killUDPPlugin(t *testing.T) {
	old, held := w.udpSessionOfOnePlugin(t)
	links := udpLinksOpened(w.agent)
	if err := syscall.Kill(old[0], syscall.SIGKILL); err != nil {
		t.Fatalf("kill burrow-udp (pid %d): %v", old[0], err)
	}
	waitRelaunched(t, w.m, "burrow-udp", old[0])
	w.m.WaitInstance(w.udpID, 15*time.Second, "running again after burrow-udp was killed", func(in framework.Instance) bool {
		return in.Status == "running" && in.Reason == ""
	})
	if !pollCond(10*time.Second, func() bool { return udpExchanges(held, 1, 100) == nil }) {
		t.Fatal("the sender of a session from before the kill gets no echo after the relaunch")
	}
	if err := udpExchanges(held, 10, 1000); err != nil {
		t.Errorf("session after the relaunch: %v", err)
	}
	if err := plugUDPExact(w.udpAddr, 10, 700); err != nil {
		t.Errorf("new session after the relaunch: %v", err)
	}
	pollCond(5*time.Second, func() bool { return udpLinksOpened(w.agent) > links })
	if got := udpLinksOpened(w.agent) - links; got != 1 {
		t.Errorf("the agent opened %d udp links after the kill, want 1 (the new session's): the session from before did not go on", got)
	}
}

// udpLinksOpened counts the udp links agent logged as open.
func udpLinksOpened(agent *framework.Process) int {
	n := 0
	for line := range strings.SplitSeq(agent.Output(), "\n") {
		if strings.Contains(line, `msg="link open"`) && strings.Contains(line, "network=udp") {
			n++
		}
	}
	return n
}

// waitRelaunched waits (at most 15s) for a new process of the plugin name,
// a child of the master other than oldPID, and returns its pid (0 if none).
func waitRelaunched(t *testing.T, m *framework.Master, name string, oldPID int) int {
	t.Helper()
	var newPID int
	ok := pollCond(15*time.Second, func() bool {
		pids := framework.PluginProcesses(m.PID())[name]
		if len(pids) == 1 && pids[0] != oldPID {
			newPID = pids[0]
			return true
		}
		return false
	})
	if !ok {
		t.Errorf("no new %s process under the master within 15s; plugin children: %v", name, framework.PluginProcesses(m.PID()))
	}
	return newPID
}

// checkTCPKillStates checks the states the tcp instance showed around the
// kill of burrow-tcp (pid oldPID): only error (naming burrow-tcp, the pid
// and "died") and running, ending running with no reason.
func checkTCPKillStates(t *testing.T, tcpSeen []framework.Instance, oldPID int) {
	t.Helper()
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
}

// sideLoad exercises the udp and http plugins without pause while
// burrow-tcp is down and relaunched; every attempt must succeed.
type sideLoad struct {
	stop                  chan struct{}
	wg                    sync.WaitGroup
	mu                    sync.Mutex
	errs                  []string
	udpRounds, httpRounds atomic.Int64
}

func (w *plugWorld) startSideLoad() *sideLoad {
	l := &sideLoad{stop: make(chan struct{})}
	l.run("udp", &l.udpRounds, func() error { return plugUDPExact(w.udpAddr, 1, 200) })
	l.run("http", &l.httpRounds, w.httpOK)
	return l
}

// run calls round every 10ms (at most 2000 times) until stopped, counting
// the rounds and recording the first failures.
func (l *sideLoad) run(name string, rounds *atomic.Int64, round func() error) {
	l.wg.Go(func() {
		for i := range 2000 {
			select {
			case <-l.stop:
				return
			default:
			}
			if err := round(); err != nil {
				l.fail("%s round %d: %v", name, i, err)
			}
			rounds.Add(1)
			time.Sleep(10 * time.Millisecond)
		}
	})
}

func (l *sideLoad) fail(format string, a ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.errs) < 10 {
		l.errs = append(l.errs, fmt.Sprintf(format, a...))
	}
}

func (l *sideLoad) stopAndWait() {
	close(l.stop)
	l.wg.Wait()
}

// check fails t for every failed round and unless each side ran at least
// 3 rounds.
func (l *sideLoad) check(t *testing.T) {
	t.Helper()
	l.mu.Lock()
	for _, e := range l.errs {
		t.Errorf("while burrow-tcp was down: %s", e)
	}
	l.mu.Unlock()
	if l.udpRounds.Load() < 3 || l.httpRounds.Load() < 3 {
		t.Errorf("only %d udp and %d http rounds ran while burrow-tcp was down", l.udpRounds.Load(), l.httpRounds.Load())
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
