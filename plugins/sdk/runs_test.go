package sdk_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/burrowproject/burrow/internal/testutil"
	"github.com/burrowproject/burrow/plugins/sdk"
)

func TestMain(m *testing.M) { testutil.VerifyNoLeaks(m) }

func TestRunsGoStop(t *testing.T) {
	t.Parallel()
	var r sdk.Runs // the zero value is ready
	started := make(chan struct{})
	var ended atomic.Bool
	if err := r.Go("a", func(ctx context.Context) {
		close(started)
		<-ctx.Done()
		time.Sleep(20 * time.Millisecond) // Stop must wait for this
		ended.Store(true)
	}); err != nil {
		t.Fatal(err)
	}
	<-started
	if err := r.Go("a", func(context.Context) {}); err == nil {
		t.Fatal("a second Go for a running id succeeded")
	}
	if err := r.Stop(context.Background(), "a"); err != nil {
		t.Fatal(err)
	}
	if !ended.Load() {
		t.Fatal("Stop returned before the instance goroutine did")
	}
	if err := r.Stop(context.Background(), "a"); !errors.Is(err, sdk.ErrUnknownInstance) {
		t.Fatalf("second Stop: %v, want ErrUnknownInstance", err)
	}
	// The id is free again.
	if err := r.Go("a", func(ctx context.Context) { <-ctx.Done() }); err != nil {
		t.Fatalf("Go after Stop: %v", err)
	}
	if err := r.Stop(context.Background(), "a"); err != nil {
		t.Fatal(err)
	}
}

func TestRunsIndependent(t *testing.T) {
	t.Parallel()
	var r sdk.Runs
	var bDone atomic.Bool
	for _, id := range []string{"a", "b"} {
		if err := r.Go(id, func(ctx context.Context) {
			<-ctx.Done()
			if id == "b" {
				bDone.Store(true)
			}
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Stop(context.Background(), "a"); err != nil {
		t.Fatal(err)
	}
	if bDone.Load() {
		t.Fatal("stopping a stopped b")
	}
	if err := r.Stop(context.Background(), "b"); err != nil || !bDone.Load() {
		t.Fatalf("Stop b: %v", err)
	}
}

func TestRunsStopGivesUpWithCtx(t *testing.T) {
	t.Parallel()
	var r sdk.Runs
	release := make(chan struct{})
	finished := make(chan struct{})
	if err := r.Go("stuck", func(context.Context) {
		defer close(finished)
		<-release // ignores its context
	}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := r.Stop(ctx, "stuck")
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > time.Second {
		t.Fatalf("Stop of a goroutine ignoring ctx: %v after %v", err, time.Since(start))
	}
	close(release)
	<-finished
}

func TestLinkError(t *testing.T) {
	t.Parallel()
	e := &sdk.LinkError{Instance: "i", Target: "10.0.0.5:22", Reason: "agent offline", Err: sdk.ErrNoAgent}
	if e.Error() != "link to 10.0.0.5:22: agent offline" {
		t.Fatalf("Error() = %q", e.Error())
	}
	if !errors.Is(e, sdk.ErrNoAgent) || errors.Is(e, sdk.ErrSlotsFull) {
		t.Fatal("Unwrap")
	}
	d := &sdk.LinkError{Reason: "x"}
	if d.Error() != "link to default target: x" || d.Unwrap() != nil {
		t.Fatalf("default target: %q", d.Error())
	}
	for _, s := range []error{sdk.ErrUnknownInstance, sdk.ErrTargetNotAllowed, sdk.ErrNoAgent, sdk.ErrSlotsFull} {
		if s.Error() == "" {
			t.Fatal("empty sentinel text")
		}
	}
}
