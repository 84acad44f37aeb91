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
	"syscall"
	"testing"
	"time"

	"github.com/burrowproject/burrow/test/e2e/framework"
)

// A master run from a config file (`burrow -c FILE`): its instances
// reconciled at start, on a change of the file and on SIGHUP, while a
// connection through an instance whose URL does not change carries bytes
// across every reload; a bad edit refused whole; the API's instances left
// alone; secrets from the environment and a file in no log, argv or API
// answer. The agent runs from a config file too.

const (
	logConfigApplied = `msg="Config file applied"`
	logConfigRefused = `msg="Config reload refused: the running instances are unchanged"`
)

// configSpec is the world of the config specs: a master from a file, its
// agent from a file, an echo backend and the secrets.
type configSpec struct {
	t          *testing.T
	f          *framework.Framework
	m          *framework.Master
	agent      *framework.Process
	echo       string
	agentKey   string // the instances' agent key: from the master's environment, and from a file for the agent
	secondKey  string // instances.second's agent key, from a file the master reads (not watched: SIGHUP applies it)
	secretFile string
	ports      [4]int
}

// echoInstance is a [instances.NAME] table forwarding port to the echo
// backend through the agent of ref (a ${...} reference or a key).
func (s *configSpec) echoInstance(name string, port int, ref, extra string) string {
	return fmt.Sprintf("[instances.%s]\nurl = \"tcp://127.0.0.1:%d/%s?agent=%s\"\n%s\n", name, port, s.echo, ref, extra)
}

func newConfigSpec(t *testing.T, body func(s *configSpec) string) *configSpec {
	t.Helper()
	f := framework.New(t)
	s := &configSpec{t: t, f: f, echo: f.TCPUDPEcho(), agentKey: newKey(t), secondKey: newKey(t)}
	for i := range s.ports {
		s.ports[i] = f.Port()
	}
	s.secretFile = filepath.Join(f.Dir(), "second.key")
	if err := os.WriteFile(s.secretFile, []byte(s.secondKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.m = f.MasterWithConfig("master", body(s), "BURROW_E2E_AGENT_KEY="+s.agentKey)
	return s
}

// startAgent runs `burrow -c agent.toml` whose key comes from a file.
func (s *configSpec) startAgent(name, keyFile string) *framework.Process {
	s.t.Helper()
	dir := filepath.Join(s.f.Dir(), name+"-config")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		s.t.Fatal(err)
	}
	cfg := filepath.Join(dir, "agent.toml")
	src := fmt.Sprintf("[agent]\nurl = \"client://${file:%s}@%s?fp=%s&allow=%s&log=debug\"\n", keyFile, s.m.BridgeAddr(), s.m.Bridge().FP, s.echo)
	if err := os.WriteFile(cfg, []byte(src), 0o600); err != nil {
		s.t.Fatal(err)
	}
	bin, err := framework.Binary()
	if err != nil {
		s.t.Fatal(err)
	}
	a := s.f.CommandEnv(name, nil, bin, "-c", cfg)
	a.MustWaitLog(framework.LogAgentConnected, ready)
	return a
}

// byName returns the file's instance name from GET /instances.
func (s *configSpec) byName(name string) (framework.Instance, bool) {
	for _, in := range s.m.List() {
		if in.Source == "file" && in.Name == name {
			return in, true
		}
	}
	return framework.Instance{}, false
}

func (s *configSpec) mustByName(name string) framework.Instance {
	s.t.Helper()
	in, ok := s.byName(name)
	if !ok {
		s.t.Fatalf("no instance %q from the config file in %+v", name, s.m.List())
	}
	return in
}

// waitRunning waits until the file's instance name runs.
func (s *configSpec) waitRunning(name string) framework.Instance {
	s.t.Helper()
	return s.m.WaitInstance(s.mustByName(name).ID, ready, "running", func(in framework.Instance) bool { return in.Status == "running" })
}

// roundTrip writes n bytes on c and reads them back.
func roundTrip(t *testing.T, c net.Conn, n int, what string) {
	t.Helper()
	p := framework.RandomBytes(n)
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(p); err != nil {
		t.Fatalf("%s: write: %v", what, err)
	}
	got := make([]byte, n)
	if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, p) {
		t.Fatalf("%s: the long-lived connection through the unchanged instance dropped or garbled: %v", what, err)
	}
}

// reloads waits until the master logged n "Config file applied" lines
// (the first is the start's).
func (s *configSpec) applied(n int) {
	s.t.Helper()
	if err := s.m.WaitLogN(logConfigApplied, n, ready); err != nil {
		s.t.Fatal(err)
	}
}

func TestConfigFileReconcileAndLiveReload(t *testing.T) {
	t.Parallel()
	s := newConfigSpec(t, func(s *configSpec) string {
		return s.echoInstance("echo", s.ports[0], "${env:BURROW_E2E_AGENT_KEY}", "alias = \"first\"\ntags = { env = \"test\" }")
	})
	s.applied(1)
	keyFile := filepath.Join(s.f.Dir(), "agent.key")
	if err := os.WriteFile(keyFile, []byte(s.agentKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.agent = s.startAgent("agent", keyFile)

	// On start: the file's instance, running, marked as the file's.
	echo := s.waitRunning("echo")
	if echo.Alias != "first" || echo.Meta.Tags["env"] != "test" || !echo.Restart {
		t.Fatalf("echo instance %+v", echo)
	}
	// An instance made through the API, with its own agent key.
	apiKey := newKey(t)
	api := s.m.Create(fmt.Sprintf("tcp://127.0.0.1:%d/%s?agent=%s", s.ports[3], s.echo, apiKey), "from the API")
	s.m.WaitInstance(api.ID, ready, "running", func(in framework.Instance) bool { return in.Status == "running" })
	if got := s.m.Get(api.ID); got.Source != "api" {
		t.Fatalf("API instance source %q", got.Source)
	}

	conn, err := net.Dial("tcp", framework.Addr(s.ports[0]))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	roundTrip(t, conn, 64<<10, "before any reload")

	// The API may not change what the file declares; actions are its own.
	for _, req := range []struct{ method, body string }{
		{http.MethodPut, fmt.Sprintf(`{"url":"tcp://127.0.0.1:%d/%s?agent=x"}`, s.ports[2], s.echo)},
		{http.MethodDelete, ""},
		{http.MethodPatch, `{"alias":"renamed by the API"}`},
	} {
		var body any
		if req.body != "" {
			body = req.body
		}
		r := s.m.MustDo(http.StatusConflict, req.method, "/instances/"+echo.ID, body)
		if msg := r.ErrorMessage(); !strings.Contains(msg, s.m.ConfigPath) || !strings.Contains(msg, "instances.echo") {
			t.Fatalf("%s of the file's instance: %q, want the file named", req.method, msg)
		}
	}

	// A change of the file: alias and tags of echo (no restart: the
	// connection stays), a new instance whose key is in a file.
	body := s.echoInstance("echo", s.ports[0], "${env:BURROW_E2E_AGENT_KEY}", "alias = \"second alias\"\ntags = { env = \"prod\" }") +
		s.echoInstance("second", s.ports[1], "${env:BURROW_E2E_AGENT_KEY}", "")
	s.m.WriteConfig(body)
	s.applied(2)
	second := s.waitRunning("second")
	if got := s.m.Get(echo.ID); got.Alias != "second alias" || got.Meta.Tags["env"] != "prod" || got.Status != "running" {
		t.Fatalf("echo after the edit: %+v", got)
	}
	roundTrip(t, conn, 64<<10, "after the file changed")
	s.f.ExpectTCPEcho(framework.Addr(s.ports[1])).Payload(framework.RandomBytes(4096)).Eventually(ready).Ensure()

	// SIGHUP: second's agent key moves to a file the master reads but
	// does not watch; the signal applies it (second restarts, echo not).
	// A second agent serves that key.
	body = s.echoInstance("echo", s.ports[0], "${env:BURROW_E2E_AGENT_KEY}", "alias = \"second alias\"\ntags = { env = \"prod\" }") +
		s.echoInstance("second", s.ports[1], "${file:"+s.secretFile+"}", "")
	s.m.WriteConfig(body) // applied by the watcher, as reload 3
	s.applied(3)
	s.startAgent("agent2", s.secretFile)
	thirdKey := newKey(t)
	if err := os.WriteFile(s.secretFile, []byte(thirdKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.m.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	s.applied(4)
	// Its URL is shown redacted: the log says it was replaced (the first
	// time at reload 3, when its key moved to the file).
	if err := s.m.WaitLogN("replaced=[second]", 2, ready); err != nil {
		t.Fatalf("SIGHUP did not apply the new key of second: %v", err)
	}
	if got := s.m.Get(second.ID); got.Status != "running" || s.m.Get(echo.ID).Status != "running" {
		t.Fatalf("after SIGHUP: second %+v", got)
	}
	roundTrip(t, conn, 64<<10, "after SIGHUP")

	// A bad edit (an invalid URL, two instances on one port) is refused
	// whole: nothing of it applies, echo is not even renamed.
	listBefore := s.m.List()
	s.m.WriteConfig(s.echoInstance("echo", s.ports[0], "${env:BURROW_E2E_AGENT_KEY}", "alias = \"must not apply\"") +
		s.echoInstance("second", s.ports[1], "${env:BURROW_E2E_AGENT_KEY}", "") +
		s.echoInstance("clash", s.ports[1], "${env:BURROW_E2E_AGENT_KEY}", "") +
		fmt.Sprintf("[instances.broken]\nurl = \"tcp://127.0.0.1:%d/%s\"\n", s.ports[2], s.echo))
	s.m.MustWaitLog(logConfigRefused, ready)
	listAfter := s.m.List()
	if len(listAfter) != len(listBefore) {
		t.Fatalf("a refused edit changed the instances:\nbefore %+v\nafter  %+v", listBefore, listAfter)
	}
	for i := range listBefore {
		b, a := listBefore[i], listAfter[i]
		if a.ID != b.ID || a.URL != b.URL || a.Alias != b.Alias || a.Status != b.Status {
			t.Fatalf("a refused edit changed %s:\nbefore %+v\nafter  %+v", b.ID, b, a)
		}
	}
	for _, want := range []string{"instances.broken: Invalid URL format", "instances.clash's listen address tcp"} {
		if !strings.Contains(s.m.RunOutput(), want) {
			t.Errorf("the refusal does not say %q", want)
		}
	}
	roundTrip(t, conn, 64<<10, "after a refused edit")
	// A file that is not even TOML: refused too, with its line (7: after
	// the five lines of [master] and a blank one).
	s.m.WriteConfig("[instances.echo\nurl = \n")
	if err := s.m.WaitLogN(logConfigRefused, 2, ready); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(s.m.RunOutput(), s.m.ConfigPath+":7: toml: ") {
		t.Errorf("the syntax error's refusal does not name its line")
	}
	if got := s.m.List(); len(got) != len(listBefore) {
		t.Fatalf("a file that does not parse changed the instances: %+v", got)
	}
	roundTrip(t, conn, 64<<10, "after a file that does not parse")

	// second dropped from the file: deleted; the API's instance stays.
	s.m.WriteConfig(s.echoInstance("echo", s.ports[0], "${env:BURROW_E2E_AGENT_KEY}", "alias = \"second alias\"\ntags = { env = \"prod\" }"))
	s.applied(5)
	if _, ok := s.byName("second"); ok {
		t.Fatal("second is still there after it was dropped from the file")
	}
	if got := s.m.Get(api.ID); got.Status != "running" || got.Alias != "from the API" || got.Source != "api" {
		t.Fatalf("the API's instance after the reloads: %+v", got)
	}
	roundTrip(t, conn, 64<<10, "after an instance was dropped")

	// Secrets: in no log line, no argv, no API answer.
	all := s.m.List()
	raw := s.m.MustDo(http.StatusOK, http.MethodGet, "/instances", nil).String()
	for _, secret := range []string{s.agentKey, s.secondKey, thirdKey} {
		if strings.Contains(s.m.Output(), secret) {
			t.Errorf("the master's log shows a secret")
		}
		if strings.Contains(raw, secret) {
			t.Errorf("GET /instances shows a secret: %s", raw)
		}
		for _, p := range []*framework.Process{s.m.Process, s.agent} {
			cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p.PID()))
			if err != nil {
				t.Skipf("no /proc: %v", err)
			}
			if bytes.Contains(cmdline, []byte(secret)) {
				t.Errorf("%s's argv shows a secret", p.Name())
			}
		}
	}
	if !strings.Contains(s.mustByName("echo").URL, "agent=****") || len(all) != 3 {
		t.Fatalf("instances %+v", all)
	}

	// A restart reconciles again at start, matching by name: same ids.
	if err := s.m.Terminate(ready); err != nil {
		t.Fatal(err)
	}
	s.m.WriteConfig(s.echoInstance("echo", s.ports[0], "${env:BURROW_E2E_AGENT_KEY}", "alias = \"after restart\""))
	s.m.Start()
	if got := s.waitRunning("echo"); got.ID != echo.ID || got.Alias != "after restart" {
		t.Fatalf("echo after the restart: %+v (was %s)", got, echo.ID)
	}
	if got := s.m.Get(api.ID); got.Source != "api" {
		t.Fatalf("the API's instance after the restart: %+v", got)
	}
}

// The dashboard marks the file's instances with a badge, not the API's.
func TestConfigFileDashboardBadge(t *testing.T) {
	t.Parallel()
	s := newConfigSpec(t, func(s *configSpec) string {
		return s.echoInstance("echo", s.ports[0], "${env:BURROW_E2E_AGENT_KEY}", "alias = \"from the file\"")
	})
	api := s.m.Create(fmt.Sprintf("tcp://127.0.0.1:%d/%s?agent=%s", s.ports[1], s.echo, newKey(t)), "from the API")
	file := s.mustByName("echo")
	b := newBrowser(t, dashboardBase(s.m))
	b.login(s.m.Key())
	b.goTo("#/instances", "Instances")
	b.waitFor("the file badge", fmt.Sprintf(`document.querySelector('tr[data-id=%q] [data-source="file"]') !== null`, file.ID), 10*time.Second)
	if eval[bool](b, fmt.Sprintf(`document.querySelector('tr[data-id=%q] [data-source]') !== null`, api.ID)) {
		b.fatalf("the API's instance has a source badge")
	}
	if eval[bool](b, fmt.Sprintf(`document.querySelector('tr[data-id=%q] [data-action="delete"]') !== null`, file.ID)) {
		b.fatalf("the file's instance offers Delete (the API refuses it)")
	}
	b.shot("config-file-badge")
}

// TestConfigFileAgentReload: an agent run from a file applies an edit of
// its URL on SIGHUP and on save (it restarts with the new URL), refuses an
// edit that does not load (the running agent keeps carrying traffic), and
// keeps running when the URL did not change.
func TestConfigFileAgentReload(t *testing.T) {
	t.Parallel()
	s := newConfigSpec(t, func(s *configSpec) string {
		return s.echoInstance("echo", s.ports[0], "${env:BURROW_E2E_AGENT_KEY}", "")
	})
	s.applied(1)
	keyFile := filepath.Join(s.f.Dir(), "agent.key")
	if err := os.WriteFile(keyFile, []byte(s.agentKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.agent = s.startAgent("agent", keyFile)
	s.waitRunning("echo")
	cfg := filepath.Join(s.f.Dir(), "agent-config", "agent.toml")
	write := func(src string) {
		t.Helper()
		if err := os.WriteFile(cfg, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	agentURL := func(allow string) string {
		return fmt.Sprintf("[agent]\nurl = \"client://${file:%s}@%s?fp=%s&allow=%s&log=debug\"\n", keyFile, s.m.BridgeAddr(), s.m.Bridge().FP, allow)
	}
	echoes := func() bool {
		c, err := net.DialTimeout("tcp", framework.Addr(s.ports[0]), 2*time.Second)
		if err != nil {
			return false
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := c.Write([]byte("ping")); err != nil {
			return false
		}
		got := make([]byte, 4)
		_, err = io.ReadFull(c, got)
		return err == nil && string(got) == "ping"
	}
	if !echoes() {
		t.Fatal("the agent from its file does not carry the instance's traffic")
	}

	// An edit that no longer allows the backend: applied on save, the agent
	// restarts with it and refuses the target.
	write(agentURL("127.0.0.1:1"))
	s.agent.MustWaitLog("the agent's URL changed; restarting it", ready)
	if err := s.agent.WaitLogN(framework.LogAgentConnected, 2, ready); err != nil {
		t.Fatal(err)
	}
	if echoes() {
		t.Fatal("after the edit to allow=127.0.0.1:1 the agent still dials the echo backend")
	}

	// Broken: refused, the agent keeps running as it was (still refusing).
	write("[agent\nurl = ")
	s.agent.MustWaitLog("Config reload refused: the agent keeps running as it was", ready)
	if s.agent.Exited() {
		t.Fatal("a broken edit ended the agent")
	}

	// Back to allowing the backend, applied by SIGHUP this time (the file
	// is written, then the signal sent; the watcher may see the write too).
	write(agentURL(s.echo))
	if err := s.agent.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if err := s.agent.WaitLogN(framework.LogAgentConnected, 3, ready); err != nil {
		t.Fatal(err)
	}
	ok := false
	for i := 0; i < 50 && !ok; i++ { // bounded: the instance's link follows the agent's reconnect
		if ok = echoes(); !ok {
			time.Sleep(100 * time.Millisecond)
		}
	}
	if !ok {
		t.Fatal("after the edit back to allow= the echo backend, no traffic")
	}

	// SIGHUP with nothing changed: the agent keeps running, no restart.
	if err := s.agent.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	s.agent.MustWaitLog("the agent's URL is unchanged", ready)
	if n := strings.Count(s.agent.Output(), "restarting it"); n != 2 {
		t.Fatalf("the agent restarted %d times, want 2 (one per changed URL)", n)
	}
	if !echoes() || s.agent.Exited() {
		t.Fatal("an unchanged reload disturbed the agent")
	}
}
