package testutil

import (
	"testing"

	"go.uber.org/goleak"
)

// leakOptions are the goroutines every Burrow package may leave behind.
//
// The list is deliberately empty: a goroutine still running after a
// package's tests is a bug (an unclosed listener, a copy loop nobody stops,
// a timer goroutine without a stop). Add an entry only for a goroutine the
// project cannot stop, and say here which library starts it and why it
// cannot be stopped.
var leakOptions = []goleak.Option{}

// VerifyNoLeaks runs the package's tests and then fails the run if any
// goroutine is left over. Use it as the whole body of TestMain:
//
//	func TestMain(m *testing.M) { testutil.VerifyNoLeaks(m) }
//
// extra adds package-specific ignores; document each at the call site.
func VerifyNoLeaks(m *testing.M, extra ...goleak.Option) {
	opts := append(append([]goleak.Option{}, leakOptions...), extra...)
	goleak.VerifyTestMain(m, opts...)
}

// LeakOptions returns the project-wide goleak options, for callers that run
// goleak.Find themselves (the e2e framework's Main).
func LeakOptions() []goleak.Option {
	return append([]goleak.Option{}, leakOptions...)
}
