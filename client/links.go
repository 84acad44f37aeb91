package client

import (
	"sync"
	"time"
)

// Bounds of the aborts kept for links not open yet.
const (
	earlyAbortTTL  = headerTimeout // an abort older than this has no link coming
	maxEarlyAborts = 4096
)

// linkTable is a session's open links by stream id, for the bridge's
// aborts. The control stream and each link's stream are read by different
// goroutines, so an abort can overtake the link it names (a user who
// resets at once): an abort for an id that is not open is kept for
// earlyAbortTTL, at most maxEarlyAborts of them, and applied when the link
// registers.
type linkTable struct {
	mu    sync.Mutex
	open  map[uint32]*link
	early map[uint32]time.Time
}

func newLinkTable() *linkTable {
	return &linkTable{open: make(map[uint32]*link), early: make(map[uint32]time.Time)}
}

// add registers l under id; an abort that came first aborts it now.
func (t *linkTable) add(id uint32, l *link) {
	t.mu.Lock()
	_, early := t.early[id]
	if early {
		delete(t.early, id)
	} else {
		t.open[id] = l
	}
	t.mu.Unlock()
	if early {
		l.aborted()
	}
}

func (t *linkTable) remove(id uint32) {
	t.mu.Lock()
	delete(t.open, id)
	t.mu.Unlock()
}

// abort aborts the link id, or keeps the abort for when it registers.
func (t *linkTable) abort(id uint32) {
	t.mu.Lock()
	l := t.open[id]
	if l == nil {
		t.noteEarlyLocked(id)
	}
	t.mu.Unlock()
	if l != nil {
		l.aborted()
	}
}

func (t *linkTable) noteEarlyLocked(id uint32) {
	now := time.Now()
	if len(t.early) >= maxEarlyAborts {
		for k, at := range t.early {
			if now.Sub(at) > earlyAbortTTL {
				delete(t.early, k)
			}
		}
		if len(t.early) >= maxEarlyAborts {
			return // the oldest are still young: this one goes unkept
		}
	}
	t.early[id] = now
}
