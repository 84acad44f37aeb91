package e2e

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/burrowproject/burrow/internal/testutil"
	"github.com/burrowproject/burrow/test/e2e/framework"
)

// burrow-tcp killed six times within a minute (more than the old limit of
// five crashes, after which the host gave up and left the port accepting
// into silence): after every kill it is relaunched by itself; while it is
// down its port refuses and the instance is in error naming the dead
// process; it comes back running, with no reason, and serves.
func TestPluginKilledSixTimesRecoversByItself(t *testing.T) {
	t.Parallel()
	if !framework.HasProcFS() {
		t.Skip("needs /proc")
	}
	f := framework.New(t)
	m := startPluginMaster(t, f, "master", framework.PluginDir(t), "tcp")
	echo := f.TCPEcho()
	addr := framework.Addr(f.Port())
	key := newKey(t)
	id := m.Create(fmt.Sprintf("tcp://%s/%s?agent=%s", addr, echo, key), "crashloop").ID
	m.StartAgent("agent", key, "allow="+echo)
	m.WaitInstance(id, ready, "running with its agent", func(in framework.Instance) bool { return in.Status == "running" && in.Pool == 1 })
	f.ExpectTCPEcho(addr).Eventually(ready).Ensure()

	pid := 0
	for kill := 1; kill <= 6; kill++ {
		pids := framework.PluginProcesses(m.PID())["burrow-tcp"]
		if len(pids) != 1 || pids[0] == pid {
			t.Fatalf("kill %d: burrow-tcp processes %v (last killed %d), want one new", kill, pids, pid)
		}
		pid = pids[0]
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatalf("kill %d of burrow-tcp (pid %d): %v", kill, pid, err)
		}
		down := m.WaitInstance(id, 5*time.Second, "in error after kill "+fmt.Sprint(kill), func(in framework.Instance) bool {
			return in.Status == "error" && strings.Contains(in.Reason, fmt.Sprintf("pid %d", pid))
		})
		for _, p := range []string{"burrow-tcp", "died"} {
			if !strings.Contains(down.Reason, p) {
				t.Errorf("kill %d: error reason %q does not name %q", kill, down.Reason, p)
			}
		}
		if kill == 6 {
			// The relaunch is at least 1.6s away now (the back-off has
			// grown with every crash): the port must refuse meanwhile.
			if err := testutil.Refused(addr); err != nil {
				t.Errorf("after kill 6, while burrow-tcp is down: %v", err)
			}
			if in := m.Get(id); in.Status != "error" {
				t.Errorf("after kill 6 the refusal raced the relaunch: instance %q (%q)", in.Status, in.Reason)
			}
		}
		up := m.WaitInstance(id, 15*time.Second, "running again after kill "+fmt.Sprint(kill), func(in framework.Instance) bool { return in.Status == "running" })
		if up.Reason != "" {
			t.Errorf("kill %d: running again with reason %q", kill, up.Reason)
		}
		f.ExpectTCPEcho(addr).Eventually(5 * time.Second).Ensure()
	}
	if out := m.RunOutput(); strings.Contains(out, "given up") {
		t.Error("the master gave burrow-tcp up")
	}
	f.ExpectTCPEcho(addr).Payload(framework.RandomBytes(100_000)).Ensure()
}
