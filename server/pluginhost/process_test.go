package pluginhost

import (
	"context"
	"crypto/sha256"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-plugin"

	"github.com/burrowproject/burrow/internal/testutil"
	"github.com/burrowproject/burrow/plugins/sdk"
)

// states records OnState calls.
type states struct {
	mu  sync.Mutex
	got []string // "instance state reason"
}

func (s *states) on(id, state, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = append(s.got, id+" "+state+" "+reason)
}

func (s *states) seen(id, state string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, g := range s.got {
		if strings.HasPrefix(g, id+" "+state+" ") {
			return true
		}
	}
	return false
}

func (s *states) all() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.got...)
}

// TestCrashRelaunch kills the plugin while a handed-off connection is open:
// that connection keeps working (the host owns it), a connection made
// during the outage is refused (accepted and reset, not left in a backlog
// nobody serves), connections after the relaunch are served, the counters
// are exact, and the instance went to error and back to running. It also
// covers the UDP instance (Dial links) recovering.
func TestCrashRelaunch(t *testing.T) {
	e := newEnv(t)
	st := &states{}
	ph := processHost(t, Config{OnState: st.on, MinBackoff: 2 * time.Second, MaxBackoff: 3 * time.Second}, "tcp", "udp")
	h := mustHandler(t, ph, "tcp")
	addr, meter := e.start(h, "crash-tcp", "tcp")
	uh := mustHandler(t, ph, "udp")
	uaddr, _ := e.start(uh, "crash-udp", "udp")

	held, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if err := echoOnce(held, []byte("before the crash")); err != nil {
		t.Fatal(err)
	}
	pid := ph.PID("tcp")
	if pid == 0 {
		t.Fatal("no pid")
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 5*time.Second, 10*time.Millisecond, func() bool { return st.seen("crash-tcp", StateError) }, "instance state error")
	// Made during the outage (the relaunch is at least 1s away): refused.
	if err := testutil.Refused(addr); err != nil {
		t.Fatalf("connection made during the outage: %v", err)
	}
	// The handed-off connection never noticed.
	if err := echoOnce(held, []byte("during the outage")); err != nil {
		t.Fatalf("handed-off connection broken by the crash: %v", err)
	}
	testutil.Eventually(t, 10*time.Second, 10*time.Millisecond, func() bool { return st.seen("crash-tcp", StateRunning) }, "instance state running")
	if np := ph.PID("tcp"); np == 0 || np == pid {
		t.Fatalf("pid after relaunch %d (was %d)", np, pid)
	}
	after, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer after.Close()
	if err := echoOnce(after, []byte("served after relaunch")); err != nil {
		t.Fatalf("connection after the relaunch: %v", err)
	}
	if err := echoOnce(held, []byte("after")); err != nil {
		t.Fatal(err)
	}
	_ = held.Close()
	_ = after.Close()
	total := int64(len("before the crash") + len("during the outage") + len("served after relaunch") + len("after"))
	testutil.Eventually(t, 5*time.Second, 10*time.Millisecond, func() bool {
		s := meter.Snapshot()
		return s.TCPRx == total && s.TCPTx == total && s.TCPs == 0
	}, "exact tcp counters")
	var reason string
	for _, g := range st.all() {
		if strings.HasPrefix(g, "crash-tcp error ") {
			reason = g
			break
		}
	}
	if !strings.Contains(reason, "died") || !strings.Contains(reason, "killed") {
		t.Fatalf("error reason %q does not say the plugin was killed", reason)
	}
	// The udp plugin is another process and never stopped.
	c, err := net.Dial("udp", uaddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 64)
	ok := false
	for try := 0; try < 5 && !ok; try++ {
		_, _ = c.Write([]byte("udp still"))
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, err := c.Read(buf)
		ok = err == nil && string(buf[:n]) == "udp still"
	}
	if !ok {
		t.Fatal("udp instance not serving")
	}
	if st.seen("crash-udp", StateError) {
		t.Fatal("udp instance affected by the tcp plugin's crash")
	}
}

// TestUDPCrashRelaunch kills the udp plugin: its Dial links drop, and new
// datagrams are served again after the relaunch.
func TestUDPCrashRelaunch(t *testing.T) {
	e := newEnv(t)
	st := &states{}
	ph := processHost(t, Config{OnState: st.on, MinBackoff: 100 * time.Millisecond}, "udp")
	uh := mustHandler(t, ph, "udp")
	uaddr, meter := e.start(uh, "u", "udp")
	c, err := net.Dial("udp", uaddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	roundTrip := func(msg string) bool {
		buf := make([]byte, 64)
		for try := 0; try < 10; try++ {
			_, _ = c.Write([]byte(msg))
			_ = c.SetReadDeadline(time.Now().Add(time.Second))
			n, err := c.Read(buf)
			if err == nil && string(buf[:n]) == msg {
				return true
			}
		}
		return false
	}
	if !roundTrip("one") {
		t.Fatal("udp before crash")
	}
	_ = syscall.Kill(ph.PID("udp"), syscall.SIGKILL)
	testutil.Eventually(t, 10*time.Second, 10*time.Millisecond, func() bool { return st.seen("u", StateRunning) }, "udp instance running again")
	if !roundTrip("two") {
		t.Fatal("udp after relaunch")
	}
	// The reply can reach the peer a moment before the host counts it.
	testutil.Eventually(t, 5*time.Second, 10*time.Millisecond, func() bool {
		s := meter.Snapshot()
		return s.UDPRx >= 6 && s.UDPTx >= 6
	}, "udp counters of at least 6 bytes each way")
}

func TestChecksumChangedIsRefused(t *testing.T) {
	ph := processHost(t, Config{}, "tcp")
	// Replace the binary after it was pinned (same owner and mode).
	path := filepath.Join(ph.cfg.Dir, "burrow-tcp")
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.Write([]byte("tampered"))
	_ = f.Close()
	h := mustHandler(t, ph, "tcp")
	_, err = h.Describe(context.Background())
	if err == nil || !strings.Contains(err.Error(), "does not match the manifest") {
		t.Fatalf("got %v, want a checksum refusal", err)
	}
	t.Log(err)
}

func TestOtherProtocolVersionIsRefused(t *testing.T) {
	ph := processHost(t, Config{}, "v2")
	_, err := mustHandler(t, ph, "v2").Describe(context.Background())
	if err == nil || !strings.Contains(err.Error(), "another handler protocol version") || !strings.Contains(err.Error(), "Plugin version: 2") {
		t.Fatalf("got %v, want a protocol version refusal", err)
	}
	t.Log(err)
}

func TestStartTimeout(t *testing.T) {
	ph := processHost(t, Config{StartTimeout: time.Second}, "mute")
	begin := time.Now()
	_, err := mustHandler(t, ph, "mute").Describe(context.Background())
	if err == nil || !strings.Contains(err.Error(), "start timeout") {
		t.Fatalf("got %v, want a start timeout", err)
	}
	if d := time.Since(begin); d > 5*time.Second {
		t.Fatalf("start timeout took %s", d)
	}
	if !strings.Contains(err.Error(), "mute plugin: not answering") {
		t.Errorf("error lacks the plugin's stderr: %v", err)
	}
	t.Log(err)
}

func TestPluginExitingAtStartShowsStderr(t *testing.T) {
	ph := processHost(t, Config{}, "crash")
	_, err := mustHandler(t, ph, "crash").Describe(context.Background())
	if err == nil || !strings.Contains(err.Error(), "panic: crash plugin refuses to start") {
		t.Fatalf("got %v", err)
	}
}

// TestSecureConfigIsFreshPerLaunch shows why every launch builds a new
// SecureConfig: go-plugin hashes into the given hash without Reset, so a
// reused one refuses the relaunch of an unchanged binary.
func TestSecureConfigIsFreshPerLaunch(t *testing.T) {
	a, b := secureConfig(make([]byte, 32)), secureConfig(make([]byte, 32))
	if a.Hash == b.Hash {
		t.Fatal("secureConfig shares a hash between launches")
	}

	st := &states{}
	ph := processHost(t, Config{OnState: st.on, MinBackoff: 50 * time.Millisecond, MaxBackoff: 100 * time.Millisecond}, "tcp")
	var shared *plugin.SecureConfig
	ph.secure = func(sum []byte) *plugin.SecureConfig {
		if shared == nil {
			shared = &plugin.SecureConfig{Checksum: sum, Hash: sha256.New()}
		}
		return shared
	}
	e := newEnv(t)
	h := mustHandler(t, ph, "tcp")
	e.start(h, "reuse", "tcp")
	_ = syscall.Kill(ph.PID("tcp"), syscall.SIGKILL)
	testutil.Eventually(t, 10*time.Second, 10*time.Millisecond, func() bool {
		for _, g := range st.all() {
			if strings.Contains(g, "does not match the manifest") {
				return true
			}
		}
		return false
	}, "relaunch refused with a reused SecureConfig")
}

// A plugin that cannot be relaunched (its binary broken) is retried with a
// capped back-off for as long as the host runs, its instance in error with
// the reason, its port refusing; once the binary is good again it comes
// back by itself, running, with no Stop and Start.
func TestCrashLoopRetriesForeverAndRecovers(t *testing.T) {
	e := newEnv(t)
	st := &states{}
	ph := processHost(t, Config{OnState: st.on, MinBackoff: 20 * time.Millisecond, MaxBackoff: 80 * time.Millisecond}, "tcp")
	h := mustHandler(t, ph, "tcp")
	addr, _ := e.start(h, "loop", "tcp")
	bin := filepath.Join(ph.cfg.Dir, "burrow-tcp")
	good, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	replace := func(content []byte) {
		t.Helper()
		tmp := filepath.Join(ph.cfg.Dir, "new")
		if err := os.WriteFile(tmp, content, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, bin); err != nil {
			t.Fatal(err)
		}
	}
	replace([]byte("#!/bin/sh\nexit 1\n"))
	_ = syscall.Kill(ph.PID("tcp"), syscall.SIGKILL)
	failures := func() int {
		n := 0
		for _, g := range st.all() {
			if strings.HasPrefix(g, "loop error ") && strings.Contains(g, "could not be relaunched") {
				n++
			}
		}
		return n
	}
	// Far more attempts than the old limit of 5 crashes, none given up.
	testutil.Eventually(t, 10*time.Second, 10*time.Millisecond, func() bool { return failures() >= 8 }, "relaunch retried")
	if err := testutil.Refused(addr); err != nil {
		t.Fatalf("connection while the plugin is down: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if _, err := h.Describe(ctx); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Fatalf("Describe while down: %v, want the relaunch failure", err)
	}
	replace(good)
	testutil.Eventually(t, 10*time.Second, 10*time.Millisecond, func() bool { return st.seen("loop", StateRunning) }, "instance running again by itself")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := echoOnce(c, []byte("back")); err != nil {
		t.Fatalf("connection after the recovery: %v", err)
	}
}

func TestDirectoryChecks(t *testing.T) {
	dir := pluginDir(t, "tcp")
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{Dir: dir}); err == nil || !strings.Contains(err.Error(), "world-writable") {
		t.Fatalf("world-writable dir: %v", err)
	}
	_ = os.Chmod(dir, 0o700)
	bin := filepath.Join(dir, "burrow-tcp")
	_ = os.Chmod(bin, 0o775)
	ph, err := New(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer ph.Close()
	h, _ := ph.Handler("tcp")
	if _, err := h.Describe(context.Background()); err == nil || !strings.Contains(err.Error(), "group- or world-writable") {
		t.Fatalf("group-writable binary: %v", err)
	}
	_ = os.Chmod(bin, 0o755)
	// Unlisted binaries are not offered.
	if err := os.WriteFile(filepath.Join(dir, "burrow-extra"), []byte("x"), 0o755); err != nil {
		t.Fatal(err)
	}
	ph2, err := New(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer ph2.Close()
	if got := strings.Join(ph2.Schemes(), ","); got != "tcp" {
		t.Fatalf("schemes %q", got)
	}
	if _, err := ph2.Handler("extra"); err == nil {
		t.Fatal("unpinned plugin offered")
	}
	// A missing manifest is an error.
	_ = os.Remove(filepath.Join(dir, ManifestName))
	if _, err := New(Config{Dir: dir}); err == nil {
		t.Fatal("no manifest accepted")
	}
}

func TestParseManifest(t *testing.T) {
	sum := strings.Repeat("ab", 32)
	good := "# comment\n\n" + sum + "  burrow-tcp\n" + sum + " *burrow-udp\n"
	m, err := parseManifest(strings.NewReader(good), "m")
	if err != nil || len(m) != 2 || m["burrow-udp"] == nil {
		t.Fatalf("%v %v", m, err)
	}
	for _, bad := range []string{
		"xyz  burrow-tcp\n",
		sum + "\n",
		sum + "  ../burrow-tcp\n",
		sum + "  burrow-tcp\n" + sum + "  burrow-tcp\n",
	} {
		if _, err := parseManifest(strings.NewReader(bad), "m"); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func TestHandlerErrors(t *testing.T) {
	ph := processHost(t, Config{}, "tcp")
	if _, err := ph.Handler("nope"); err == nil || !strings.Contains(err.Error(), "burrow-nope") {
		t.Fatalf("got %v", err)
	}
	h := mustHandler(t, ph, "tcp")
	if err := h.Stop(context.Background(), "unknown"); !errors.Is(err, sdk.ErrUnknownInstance) {
		t.Fatalf("got %v", err)
	}
	e := newEnv(t)
	spec, _ := e.add("twice", "tcp")
	if err := h.Start(context.Background(), spec, e.host); err != nil {
		t.Fatal(err)
	}
	defer e.stop(h, "twice")
	if err := h.Start(context.Background(), spec, e.host); err == nil {
		t.Fatal("started twice")
	}
	_ = ph.Close()
	if _, err := ph.Handler("tcp"); err == nil {
		t.Fatal("handler after close")
	}
}
