package netx

import (
	"io"
	"sync/atomic"
	"time"
)

// idle closes a pair of connections when neither has delivered a byte for a
// whole period. Copy loops mark activity with one atomic store per chunk; a
// single timer checks once per period, so a quiet pair is closed between one
// and two periods after its last byte.
type idle struct {
	period  time.Duration
	active  atomic.Bool
	timer   *time.Timer
	closers []io.Closer
	stopped atomic.Bool
}

func newIdle(period time.Duration, closers ...io.Closer) *idle {
	t := &idle{period: period, closers: closers}
	t.timer = time.AfterFunc(period, t.check)
	return t
}

// touch records activity; it is safe on a nil tracker.
func (t *idle) touch() {
	if t != nil && !t.active.Load() {
		t.active.Store(true)
	}
}

func (t *idle) check() {
	if t.stopped.Load() {
		return
	}
	if t.active.Swap(false) {
		t.timer.Reset(t.period)
		return
	}
	for _, c := range t.closers {
		_ = c.Close()
	}
}

func (t *idle) stop() {
	t.stopped.Store(true)
	t.timer.Stop()
}
