package host

import (
	"sync"
	"time"
)

// DefaultLinkLog is how many failed-link warnings an instance writes per
// LinkLogWindow when its configuration does not say (linklog=).
const DefaultLinkLog = 5

// DefaultLinkLogWindow is the window the linklog= count applies to.
const DefaultLinkLogWindow = 10 * time.Second

// quiet lets at most limit lines through per window and counts the rest,
// so that a flood of failures (users hammering a port whose agent is
// offline) costs a bounded number of log lines and SSE log events. The
// count of what was held back is reported by flush at the end of the
// window in which it happened, and on the next line let through.
type quiet struct {
	limit  int
	window time.Duration
	flush  func(suppressed int) // called without mu, from a timer

	mu         sync.Mutex
	start      time.Time // of the current window
	passed     int       // lines let through in it
	suppressed int       // lines held back since the last report
	timer      *time.Timer
	stopped    bool
}

func newQuiet(limit int, window time.Duration, flush func(int)) *quiet {
	if window <= 0 {
		window = DefaultLinkLogWindow
	}
	return &quiet{limit: limit, window: window, flush: flush}
}

// allow reports whether a line may be written now and, if so, how many
// were held back since the last report (for the line to say so).
func (q *quiet) allow() (bool, int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := time.Now()
	if now.Sub(q.start) >= q.window {
		q.start, q.passed = now, 0
	}
	if q.passed < q.limit {
		q.passed++
		n := q.suppressed
		q.suppressed = 0
		return true, n
	}
	q.suppressed++
	if q.timer == nil && !q.stopped {
		q.timer = time.AfterFunc(q.start.Add(q.window).Sub(now), q.report)
	}
	return false, 0
}

// report hands the count held back to flush at the end of a window.
func (q *quiet) report() {
	q.mu.Lock()
	n := q.suppressed
	q.suppressed, q.timer = 0, nil
	stopped := q.stopped
	q.mu.Unlock()
	if n > 0 && !stopped {
		q.flush(n)
	}
}

// stop cancels a pending report; what was held back is reported now.
func (q *quiet) stop() {
	q.mu.Lock()
	if q.stopped {
		q.mu.Unlock()
		return
	}
	if q.timer != nil {
		q.timer.Stop()
		q.timer = nil
	}
	n := q.suppressed
	q.suppressed = 0
	q.stopped = true
	q.mu.Unlock()
	if n > 0 {
		q.flush(n)
	}
}
