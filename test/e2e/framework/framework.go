package framework

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Cleanup bounds.
const (
	stopGrace    = 3 * time.Second // SIGTERM, then SIGKILL after this
	dumpLines    = 200             // lines of each process's output printed on failure
	mockStopWait = 5 * time.Second // how long a mock server may take to stop its goroutines
)

// Framework is one spec's world: a temp dir, the processes it started, the
// mock servers it runs. Everything is torn down by t.Cleanup.
type Framework struct {
	t   testing.TB
	dir string

	mu      sync.Mutex
	procs   []*Process
	closers []func() error // mock servers, closed last-in first-out
	seq     int            // names process working dirs
}

// New returns a Framework for t. Its cleanup stops every process (SIGTERM,
// then SIGKILL after 3s), closes every mock server and, if the test failed,
// prints the last lines of every process's output.
func New(t testing.TB) *Framework {
	t.Helper()
	f := &Framework{t: t, dir: t.TempDir()}
	t.Cleanup(f.cleanup)
	return f
}

// T returns the test the framework belongs to.
func (f *Framework) T() testing.TB { return f.t }

// Dir is the spec's temp dir (removed after the spec).
func (f *Framework) Dir() string { return f.dir }

// Port returns a free loopback port, usable for TCP and UDP, that no other
// spec in this test binary gets.
func (f *Framework) Port() int {
	f.t.Helper()
	p, err := ports.allocate()
	if err != nil {
		f.t.Fatalf("e2e: allocate port: %v", err)
	}
	return p
}

// UDPPort is Port; the name says what the caller uses it for.
func (f *Framework) UDPPort() int {
	f.t.Helper()
	return f.Port()
}

// Addr formats a loopback address for port.
func Addr(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

func (f *Framework) addCloser(c func() error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closers = append(f.closers, c)
}

func (f *Framework) cleanup() {
	f.mu.Lock()
	procs := append([]*Process(nil), f.procs...)
	closers := append([]func() error(nil), f.closers...)
	f.mu.Unlock()

	// Stop processes concurrently so a slow shutdown costs stopGrace once.
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Go(func() { p.stop(stopGrace) })
	}
	wg.Wait()

	// A race report, panic or runtime crash in any process fails the spec,
	// whatever the spec itself checked.
	for _, p := range procs {
		if m := crashMarker(p.Output()); m != "" {
			f.t.Errorf("e2e: %s printed %q", p.name, m)
		}
	}

	if f.t.Failed() || os.Getenv(EnvVerbose) == "1" {
		for _, p := range procs {
			f.t.Logf("===== %s: %s (last %d lines) =====\n%s", p.name, p.describe(), dumpLines, tail(p.Output(), dumpLines))
		}
	}

	for i := len(closers) - 1; i >= 0; i-- {
		if err := closers[i](); err != nil {
			f.t.Errorf("e2e: close mock server: %v", err)
		}
	}
}

// crashMarkers are printed by the Go runtime and the race detector.
var crashMarkers = []string{"WARNING: DATA RACE", "panic: ", "fatal error: "}

// crashMarker returns the first crash marker in out, or "".
func crashMarker(out string) string {
	for _, m := range crashMarkers {
		if strings.Contains(out, m) {
			return m
		}
	}
	return ""
}

// waitGroupTimeout waits for wg at most d.
func waitGroupTimeout(wg *sync.WaitGroup, d time.Duration, what string) error {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-time.After(d):
		return fmt.Errorf("%s: goroutines still running after %v", what, d)
	}
}
