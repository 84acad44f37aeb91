package e2e

import (
	"io"
	"net"
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
