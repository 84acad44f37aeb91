package netx_test

import (
	"errors"
	"io"
	"syscall"
	"testing"
	"time"

	"github.com/burrowproject/burrow/internal/netx"
)

// readErr reads c until it fails and returns the error (bounded: 5s).
func readErr(t *testing.T, c interface {
	Read([]byte) (int, error)
	SetReadDeadline(time.Time) error
}) error {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 64<<10)
	for range 10_000 {
		if _, err := c.Read(buf); err != nil {
			return err
		}
	}
	t.Fatal("read never ended")
	return nil
}

// A target that resets mid-transfer reaches the user as a reset
// (ECONNRESET), never as a clean end that makes a cut-off download look
// complete.
func TestJoinTargetResetResetsUser(t *testing.T) {
	t.Parallel()
	j := join(t, netx.JoinOptions{})
	if _, err := j.target.Write(randomBytes(t, 100<<10)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(j.user, make([]byte, 100<<10)); err != nil {
		t.Fatal(err)
	}
	_ = netx.Reset(j.target)
	if err := readErr(t, j.user); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("user read after the target reset: %v, want ECONNRESET", err)
	}
	j.wait(t, 5*time.Second)
	if j.err == nil {
		t.Fatal("Join returned no error for a reset")
	}
}

// The other way: a user that resets makes Join reset the target.
func TestJoinUserResetResetsTarget(t *testing.T) {
	t.Parallel()
	j := join(t, netx.JoinOptions{})
	if _, err := j.user.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(j.target, make([]byte, 5)); err != nil {
		t.Fatal(err)
	}
	_ = netx.Reset(j.user)
	if err := readErr(t, j.target); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("target read after the user reset: %v, want ECONNRESET", err)
	}
	j.wait(t, 5*time.Second)
}

// An orderly end stays orderly: the target closes after its data and the
// user reads all of it, then EOF.
func TestJoinOrderlyEndIsEOF(t *testing.T) {
	t.Parallel()
	j := join(t, netx.JoinOptions{})
	data := randomBytes(t, 1<<20)
	go func() { _, _ = j.target.Write(data); _ = j.target.Close() }()
	got, err := io.ReadAll(j.user)
	if err != nil {
		t.Fatalf("user read: %v, want EOF after %d bytes", err, len(data))
	}
	if len(got) != len(data) {
		t.Fatalf("user got %d bytes, want %d", len(got), len(data))
	}
}
