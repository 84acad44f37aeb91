package e2e

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/burrowproject/burrow/test/e2e/framework"
)

// A download ends for the user the way it ended at the backend: an orderly
// close is a FIN after every byte; a backend that resets mid-download is a
// reset (ECONNRESET), never a clean end that makes a cut-off file look
// complete.
func TestDownloadEndsAsTheBackendEnded(t *testing.T) {
	t.Parallel()
	const size = 32 << 20
	for _, tc := range []struct {
		name  string
		reset bool
		want  string
	}{
		{"orderly close", false, "eof"},
		{"backend reset", true, "reset"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := framework.New(t)
			p := newPair(f, f.TCPDownload(size, tc.reset))
			c, err := net.DialTimeout("tcp", p.user(), 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			got, how := framework.ReadToEnd(c, 10*time.Second)
			t.Logf("user read %d of %d bytes, then %s", got, size, how)
			if how != tc.want {
				t.Fatalf("user connection ended with %s after %d bytes, want %s", how, got, tc.want)
			}
			if !tc.reset && got != size {
				t.Fatalf("orderly download: user got %d bytes, want %d", got, size)
			}
		})
	}
}

// An agent killed with SIGKILL in the middle of a download: the user's
// connection is reset (ECONNRESET) before the file is complete, instead of
// ending with a FIN after part of it.
func TestAgentKilledMidDownloadResetsUser(t *testing.T) {
	t.Parallel()
	const size = 200 << 20
	f := framework.New(t)
	p := newPair(f, f.TCPDownload(size, false))
	c, err := net.DialTimeout("tcp", p.user(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(c, make([]byte, 8<<20)); err != nil { // the download is under way
		t.Fatal(err)
	}
	if err := p.agent.Kill(); err != nil {
		t.Fatal(err)
	}
	got, how := framework.ReadToEnd(c, 10*time.Second)
	got += 8 << 20
	t.Logf("user read %d of %d bytes, then %s", got, size, how)
	if how != "reset" {
		t.Fatalf("user connection ended with %s after %d of %d bytes, want reset", how, got, size)
	}
	if got >= size {
		t.Fatalf("user got the whole download (%d bytes) from a killed agent", got)
	}
}

// A flood of connections to a port whose agent is offline: each link
// fails, but the instance writes at most linklog= warnings per 10 s (to
// the master's log and as SSE log events); the rest are counted in
// burrow_link_logs_suppressed_total and reported in one line, with the
// count, at the end of the window.
func TestFailedLinkFloodIsBounded(t *testing.T) {
	t.Parallel()
	const flood, limit = 200, 3
	f := framework.New(t)
	m := f.Master("master")
	addr := framework.Addr(f.Port())
	id := m.Create(fmt.Sprintf("tcp://%s/127.0.0.1:1?agent=%s&linklog=%d", addr, newKey(t), limit), "offline").ID
	m.WaitInstance(id, ready, "running", func(in framework.Instance) bool { return in.Status == "running" })
	s := m.Subscribe()
	mustWait(t, s, ready, "the initial burst", func(evs []framework.SSEEvent) bool { return len(evs) >= 1 })

	for i := range flood {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if errors.Is(err, syscall.ECONNRESET) {
			continue // accepted and reset before the connect returned: the link failed
		}
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Fatalf("connection %d through an offline agent got data", i)
		}
		c.Close()
	}
	// Within a window (10 s) plus slack, the summaries with the counts
	// held back account for every failure.
	var warnings, suppressed int
	count := func(evs []framework.SSEEvent) int {
		warnings, suppressed = 0, 0
		for _, e := range evs {
			if e.Type != "log" || e.Instance == nil || e.Instance.ID != id {
				continue
			}
			if strings.Contains(e.Logs, "link failed") {
				warnings++
			}
			if strings.Contains(e.Logs, "failed links not logged") {
				n, _ := strconv.Atoi(logField(e.Logs, "suppressed"))
				suppressed += n
			}
		}
		return warnings + suppressed
	}
	evs, err := s.Wait(25*time.Second, func(evs []framework.SSEEvent) bool { return count(evs) >= flood })
	count(evs)
	if err != nil {
		t.Errorf("SSE: %d warnings + %d reported as suppressed within 25s, want all %d failures accounted for: %v", warnings, suppressed, flood, err)
	}
	t.Logf("%d failed links: %d warnings, %d suppressed", flood, warnings, suppressed)
	if warnings > 2*limit { // at most two windows' worth, should the flood straddle one
		t.Errorf("%d failed-link log events for %d failures, want at most %d", warnings, flood, 2*limit)
	}
	if warnings+suppressed != flood {
		t.Errorf("%d warnings + %d suppressed = %d, want exactly the %d failures", warnings, suppressed, warnings+suppressed, flood)
	}
	if n := strings.Count(m.RunOutput(), `msg="link failed"`); n > 2*limit {
		t.Errorf("the master logged %d failed-link lines for %d failures, want at most %d", n, flood, 2*limit)
	}
	r := m.MustDo(http.StatusOK, http.MethodGet, "//metrics", nil)
	if got := metricValue(string(r.Body), "burrow_link_logs_suppressed_total"); got != float64(suppressed) {
		t.Errorf("burrow_link_logs_suppressed_total = %v, want %d", got, suppressed)
	}
}

// logField returns the value of key=value in a logfmt line.
func logField(line, key string) string {
	for f := range strings.FieldsSeq(line) {
		if v, ok := strings.CutPrefix(f, key+"="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}

// metricValue returns the value of an unlabelled metric in Prometheus text.
func metricValue(text, name string) float64 {
	for line := range strings.SplitSeq(text, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f
		}
	}
	return -1
}

// The other way: a user that resets mid-upload makes the agent reset its
// backend connection, and a user that ends the upload cleanly (FIN) ends
// it cleanly at the backend, with every byte.
func TestUploadEndsAtTheBackendAsTheUserEnded(t *testing.T) {
	t.Parallel()
	f := framework.New(t)
	sink := f.TCPSink()
	p := newPair(f, sink.Addr)
	upload := func(reset bool) {
		c, err := net.DialTimeout("tcp", p.user(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write(framework.RandomBytes(1 << 20)); err != nil {
			t.Fatal(err)
		}
		if reset {
			_ = c.(*net.TCPConn).SetLinger(0)
			_ = c.Close()
			return
		}
		_ = c.(*net.TCPConn).CloseWrite()
		_, _ = io.Copy(io.Discard, c) // until the end comes back
	}
	upload(false)
	conns, err := sink.WaitClosed(1, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if c := conns[0]; c.Err != nil || c.Bytes != 1<<20 {
		t.Fatalf("clean upload at the backend: %d bytes, %v; want %d, then EOF", c.Bytes, c.Err, 1<<20)
	}
	upload(true)
	conns, err = sink.WaitClosed(2, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if c := conns[1]; !errors.Is(c.Err, syscall.ECONNRESET) {
		t.Fatalf("backend after the user reset: %d bytes, then %v; want ECONNRESET", c.Bytes, c.Err)
	}
}
