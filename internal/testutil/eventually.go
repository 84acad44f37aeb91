package testutil

import (
	"testing"
	"time"
)

// Eventually polls cond every interval until it returns true, and fails the
// test with msg if it has not within timeout. cond is called at least once
// and at most timeout/interval+1 times, so the loop is bounded in both time
// and count even when cond itself is fast.
func Eventually(t testing.TB, timeout, interval time.Duration, cond func() bool, msg string) {
	t.Helper()
	if !Poll(timeout, interval, cond) {
		t.Fatalf("eventually: %s (not true within %v)", msg, timeout)
	}
}

// Poll is Eventually without the test: it reports whether cond became true
// within timeout.
func Poll(timeout, interval time.Duration, cond func() bool) bool {
	if interval <= 0 {
		interval = 10 * time.Millisecond
	}
	maxCalls := int(timeout/interval) + 1
	deadline := time.Now().Add(timeout)
	for i := 0; i < maxCalls; i++ {
		if cond() {
			return true
		}
		if !time.Now().Before(deadline) {
			return false
		}
		time.Sleep(min(interval, time.Until(deadline)))
	}
	return cond()
}
