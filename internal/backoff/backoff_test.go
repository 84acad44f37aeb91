package backoff

import (
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestNextGrowsWithJitterAndCap(t *testing.T) {
	b := New(100*time.Millisecond, time.Second)
	wantMax := []time.Duration{100, 200, 400, 800, 1000, 1000, 1000}
	for i, hi := range wantMax {
		hi *= time.Millisecond
		d := b.Next()
		if d < hi/2 || d > hi {
			t.Fatalf("attempt %d: delay %v outside [%v, %v]", i, d, hi/2, hi)
		}
	}
	b.Reset()
	if d := b.Next(); d > 100*time.Millisecond {
		t.Fatalf("after Reset: delay %v, want <= 100ms", d)
	}
}

func TestSleepStopsOnCancel(t *testing.T) {
	b := New(time.Hour, time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	if b.Sleep(ctx) {
		t.Fatal("Sleep reported a full delay on a cancelled context")
	}
	if time.Since(start) > time.Second {
		t.Fatal("Sleep did not return promptly on cancel")
	}
}
