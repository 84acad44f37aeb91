package e2e

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/burrowproject/burrow/internal/testutil"
	"github.com/burrowproject/burrow/test/e2e/framework"
)

// Specs of the master's persistence across real restarts (spec section 9)
// and of a damaged state file (server/store).

// persisted is what a persistence spec sets up before stopping the master.
type persisted struct {
	m          *framework.Master
	key        string
	mid        string
	fwd, agent string // restart=true, running
	idle       string // restart=false, stopped
	fwdUser    int    // the forward's user port
	before     map[string]framework.Instance
}

const persistPayload = 5000

// setupPersisted builds a master with a tcp forward (alias, meta), its
// agent as a client instance, an idle instance with restart=false, a
// master alias, and persistPayload bytes of traffic through the forward.
func setupPersisted(t *testing.T, f *framework.Framework) *persisted {
	t.Helper()
	m := f.Master("master")
	if !m.KeyCreated() {
		t.Errorf("first start did not log %q", framework.LogKeyCreated)
	}
	echo := f.TCPEcho()
	agentKey := newKey(t)
	p := &persisted{m: m, key: m.Key(), fwdUser: f.Port()}
	p.fwd = m.Create(fmt.Sprintf("tcp://127.0.0.1:%d/%s?agent=%s", p.fwdUser, echo, agentKey), "fwd").ID
	m.Patch(p.fwd, map[string]any{"meta": map[string]any{
		"peer": framework.Peer{SID: "sid-9", Type: "1", Alias: "peer-9"},
		"tags": map[string]string{"env": "prod", "owner": "ops"},
	}})
	p.agent = m.Create(fmt.Sprintf("client://%s@%s/%s", agentKey, m.BridgeAddr(), echo), "agent").ID
	p.idle = m.Create(fmt.Sprintf("tcp://127.0.0.1:%d/%s?agent=%s", f.Port(), echo, newKey(t)), "idle").ID
	m.WaitInstance(p.idle, ready, "running", func(in framework.Instance) bool { return in.Status == "running" })
	m.Patch(p.idle, `{"restart": false, "action": "stop"}`)
	m.WaitInstance(p.idle, ready, "stopped", func(in framework.Instance) bool { return in.Status == "stopped" })
	m.MustDo(http.StatusOK, http.MethodPost, "/info", map[string]string{"alias": "edge"})
	p.mid = m.Get(keyID).Config

	m.WaitInstance(p.fwd, ready, "running with its agent", func(in framework.Instance) bool { return in.Status == "running" && in.Pool == 1 })
	f.ExpectTCPEcho(framework.Addr(p.fwdUser)).Payload(framework.RandomBytes(persistPayload)).Ensure()
	m.WaitInstance(p.fwd, ready, "counting the traffic", func(in framework.Instance) bool {
		return in.TCPRx == persistPayload && in.TCPTx == persistPayload
	})
	m.WaitInstance(p.agent, ready, "counting the traffic", func(in framework.Instance) bool {
		return in.TCPRx == persistPayload && in.TCPTx == persistPayload
	})
	p.before = map[string]framework.Instance{}
	for _, in := range m.List() {
		p.before[in.ID] = in
	}
	return p
}

// checkRestored checks the master after its restart: same key (logged as
// loaded), master id and alias, same instances with their ids, alias,
// meta, restart policy, URL and counters; restart=true instances running
// again, the restart=false one stopped; traffic counts on.
func (p *persisted) checkRestored(t *testing.T, f *framework.Framework) {
	t.Helper()
	m := p.m
	if m.KeyCreated() || m.Key() != p.key {
		t.Errorf("after restart the master logged key %q (created %v), want %q%s", m.Key(), m.KeyCreated(), framework.LogKeyLoaded, p.key)
	}
	// The loaded key is shown masked (WaitReady checks it is never logged
	// whole); `burrow key` printed the whole one.
	if masked := framework.LogKeyLoaded + p.key[:4] + "…" + p.key[len(p.key)-4:]; !strings.Contains(m.RunOutput(), masked) {
		t.Errorf("after restart the log lacks %q", masked)
	}
	m.WaitInstance(p.fwd, ready, "running again with its agent", func(in framework.Instance) bool { return in.Status == "running" && in.Pool == 1 })
	m.WaitInstance(p.agent, ready, "running again", func(in framework.Instance) bool { return in.Status == "running" })
	after := map[string]framework.Instance{}
	for _, in := range m.List() {
		after[in.ID] = in
	}
	if len(after) != len(p.before) {
		t.Errorf("%d entries after restart, want %d", len(after), len(p.before))
	}
	for id, was := range p.before {
		now, ok := after[id]
		if !ok {
			t.Errorf("instance %s (%s) is gone after the restart", id, was.Alias)
			continue
		}
		if now.Alias != was.Alias || now.URL != was.URL || now.Config != was.Config || now.Type != was.Type ||
			now.Restart != was.Restart || !reflect.DeepEqual(now.Meta, was.Meta) || now.Counters() != was.Counters() {
			t.Errorf("instance %s changed across the restart:\n before %+v\n after  %+v", id, was, now)
		}
	}
	if k := after[keyID]; k.URL != p.key || k.Config != p.mid || k.Alias != "edge" {
		t.Errorf("key record after restart %+v, want key %s, master id %s, alias edge", k, p.key, p.mid)
	}
	if in := after[p.idle]; in.Status != "stopped" || in.Restart {
		t.Errorf("the restart=false instance is %s after the restart, want stopped", in.Status)
	}
	var info struct{ MID, Alias string }
	if err := m.MustDo(http.StatusOK, http.MethodGet, "/info", nil).JSON(&info); err != nil || info.MID != p.mid || info.Alias != "edge" {
		t.Errorf("/info after restart: mid %q alias %q (%v), want %q edge", info.MID, info.Alias, err, p.mid)
	}
	// The forward works and its counters continue from the stored values.
	f.ExpectTCPEcho(framework.Addr(p.fwdUser)).Payload(framework.RandomBytes(1000)).Eventually(ready).Ensure()
	m.WaitInstance(p.fwd, ready, "counting on from the stored counters", func(in framework.Instance) bool {
		return in.TCPRx == persistPayload+1000 && in.TCPTx == persistPayload+1000
	})
	// Auto-start is over before the API listens: still stopped.
	if in := m.Get(p.idle); in.Status != "stopped" {
		t.Errorf("the restart=false instance is %s, want stopped", in.Status)
	}
}

// SIGTERM, then a new master on the same data directory: everything
// survives and the restart=true instances run again.
func TestMasterRestartAfterSIGTERM(t *testing.T) {
	t.Parallel()
	f := framework.New(t)
	p := setupPersisted(t, f)
	// SIGTERM ends every SSE stream with a shutdown event first.
	s := p.m.Subscribe()
	mustWait(t, s, ready, "the initial burst", func(evs []framework.SSEEvent) bool { return len(evs) >= len(p.before) })
	if err := p.m.Terminate(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := s.WaitEnded(ready); err != nil {
		t.Error(err)
	}
	if evs := s.Events(); len(evs) == 0 || evs[len(evs)-1].Type != "shutdown" {
		t.Errorf("SSE stream of a master stopped by SIGTERM does not end with shutdown:%s", describeEvents(evs))
	}
	checkNoProblems(t, s)
	p.m.Start()
	p.checkRestored(t, f)
}

// SIGKILL: nothing holds the master's ports afterwards (they can be bound
// at once), and a new master restores the state saved by the last periodic
// report, counters included.
func TestMasterRestartAfterSIGKILL(t *testing.T) {
	t.Parallel()
	f := framework.New(t)
	p := setupPersisted(t, f)
	m := p.m

	// The counters are saved by the periodic report: report N+1 is only
	// published after report N's save returned, so two reports showing the
	// traffic mean it is on disk.
	s := m.Subscribe()
	mustWait(t, s, 2*reportInterval+3*time.Second, "two reports with the traffic", func(evs []framework.SSEEvent) bool {
		n := 0
		for _, ev := range ofType(eventsOf(evs, p.fwd), "update") {
			if ev.Instance.TCPRx == persistPayload {
				n++
			}
		}
		return n >= 2
	})

	pid := m.PID()
	if err := m.Kill(); err != nil {
		t.Fatal(err)
	}
	// Handler plugins hold duplicates of the instance listeners; they exit
	// when their fd link to the dead master closes, within moments.
	const orphanBound = 2 * time.Second
	var gone error
	testutil.Poll(orphanBound, 10*time.Millisecond, func() bool { gone = processGroupGone(pid); return gone == nil })
	if gone != nil {
		t.Errorf("%v after SIGKILL of the master: %v", orphanBound, gone)
	}
	for _, port := range []int{m.Port, m.BridgePort, p.fwdUser} {
		var err error
		testutil.Poll(orphanBound, 10*time.Millisecond, func() bool {
			var l net.Listener
			if l, err = net.Listen("tcp", framework.Addr(port)); err == nil {
				_ = l.Close()
			}
			return err == nil
		})
		if err != nil {
			t.Errorf("port %d still held %v after SIGKILL: %v", port, orphanBound, err)
		}
	}
	m.Start()
	p.checkRestored(t, f)
}

// setupDamaged starts a master, creates an instance, stops the master and
// cuts its state file short. With twice, the master is started and stopped
// once more first (a load that succeeds takes the backup).
func setupDamaged(t *testing.T, f *framework.Framework, twice bool) (m *framework.Master, key, id string, cut []byte) {
	t.Helper()
	m = f.Master("master")
	key = m.Key()
	id = m.Create(fmt.Sprintf("tcp://127.0.0.1:%d/%s?agent=%s", f.Port(), f.TCPEcho(), newKey(t)), "keep").ID
	if err := m.Terminate(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	if twice {
		m.Start()
		if m.KeyCreated() || m.Key() != key {
			t.Fatalf("second start: key %s created %v, want %s loaded", m.Key(), m.KeyCreated(), key)
		}
		if err := m.Terminate(20 * time.Second); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(m.DataDir, "state.json")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), key) {
		t.Fatalf("state file %s does not hold the key; the spec's assumptions about server/store are stale", path)
	}
	cut = data[:len(data)/2]
	if err := os.WriteFile(path, cut, 0o600); err != nil {
		t.Fatal(err)
	}
	return m, key, id, cut
}

// checkMovedAside checks the error line and the file kept aside.
func checkMovedAside(t *testing.T, m *framework.Master, cut []byte, outcome string) {
	t.Helper()
	line := waitLogLine(t, m.Process, ready, `level=ERROR`, `State file corrupt`)
	for _, part := range []string{"state.json is corrupt", "moved it to ", outcome} {
		if !strings.Contains(line, part) {
			t.Errorf("corrupt-state log line lacks %q:\n%s", part, line)
		}
	}
	aside, _ := filepath.Glob(filepath.Join(m.DataDir, "state.json.corrupt-*"))
	if len(aside) != 1 {
		t.Fatalf("want one state.json.corrupt-* in %s, found %v", m.DataDir, aside)
	}
	if !strings.Contains(line, aside[0]) {
		t.Errorf("the log line does not name where the file went (%s):\n%s", aside[0], line)
	}
	if got, err := os.ReadFile(aside[0]); err != nil || string(got) != string(cut) {
		t.Errorf("the file moved aside does not hold the damaged bytes (%v)", err)
	}
}

// A state file cut short while the master is stopped: the master says so
// at error level, moves the file aside, and recovers from the backup: same
// key (logged as loaded, never created), same instance. After one run
// (first save takes the backup) and after two (a start refreshes it).
func TestMasterTruncatedStateRecoversFromBackup(t *testing.T) {
	for _, twice := range []bool{false, true} {
		t.Run(fmt.Sprintf("runs=%d", map[bool]int{false: 1, true: 2}[twice]), func(t *testing.T) {
			t.Parallel()
			truncatedStateRecovers(t, twice)
		})
	}
}

func truncatedStateRecovers(t *testing.T, twice bool) {
	f := framework.New(t)
	m, key, id, cut := setupDamaged(t, f, twice)
	m.Start()
	checkMovedAside(t, m, cut, "recovered the state of the last successful start")
	if m.KeyCreated() || m.Key() != key {
		t.Errorf("with a backup the master logged key %s (created %v), want %s%s", m.Key(), m.KeyCreated(), framework.LogKeyLoaded, key)
	}
	if in := m.Get(id); in.Alias != "keep" {
		t.Errorf("instance %s after recovery: %+v", id, in)
	}
	// The state file is whole again.
	if data, err := os.ReadFile(filepath.Join(m.DataDir, "state.json")); err != nil || !strings.Contains(string(data), id) {
		t.Errorf("state.json after recovery: %v, does not hold %s", err, id)
	}
}

// A state file cut short with its backup gone too: the master says at
// error level that it starts from an empty state, keeps the damaged file
// aside, and creates a new key.
func TestMasterTruncatedStateWithoutBackup(t *testing.T) {
	t.Parallel()
	f := framework.New(t)
	m, key, id, cut := setupDamaged(t, f, false)
	if err := os.Remove(filepath.Join(m.DataDir, "state.json.bak")); err != nil {
		t.Fatalf("the first run should have left a backup to remove: %v", err)
	}
	m.Start()
	checkMovedAside(t, m, cut, "no usable backup, starting from an empty state")
	if !m.KeyCreated() || m.Key() == key {
		t.Errorf("without a backup the master logged key %s (created %v); want a new key, logged as created", m.Key(), m.KeyCreated())
	}
	r, err := m.Do(http.MethodGet, "/instances/"+id, nil)
	expectError(t, r, err, http.StatusNotFound, "Instance not found")
}

// A rotated API key is saved before the rotation is answered: a master
// killed right after it loads the new key, and the old one stays refused.
func TestMasterRotatedKeySurvivesSIGKILL(t *testing.T) {
	t.Parallel()
	f := framework.New(t)
	m := f.Master("master")
	oldKey := m.Key()
	newKey := m.Patch(keyID, `{"action":"restart"}`).URL
	if newKey == oldKey || !hex32.MatchString(newKey) {
		t.Fatalf("rotation answered url %q, want a new 32-hex key", newKey)
	}
	if err := m.Kill(); err != nil {
		t.Fatal(err)
	}
	m.Start()
	if m.KeyCreated() || m.Key() != newKey {
		t.Fatalf("after rotation and SIGKILL the master logged key %s (created %v), want %s%s", m.Key(), m.KeyCreated(), framework.LogKeyLoaded, newKey)
	}
	r, err := m.DoKey(oldKey, http.MethodGet, "/instances", nil)
	expectError(t, r, err, http.StatusUnauthorized, "Unauthorized: Invalid API key")
	m.MustDo(http.StatusOK, http.MethodGet, "/instances", nil)
}
