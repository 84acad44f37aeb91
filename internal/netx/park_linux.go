package netx

import (
	"errors"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// canPark: a quiet copy's wait can be handed to an epoll instance.
const canPark = true

// Parker holds the waits of quiet copies without a goroutine each. A copy
// of Start that moved its wait to a fresh goroutine (see pump) and heard
// nothing from its socket for the Parker's patience (NewParker's after)
// hands the wait to the Parker and its goroutine exits: an idle link then
// holds no goroutine at all, where it held one per direction and end (2
// KiB of stack and a goroutine's descriptor each). The Parker watches the
// sockets in one epoll instance (one-shot registrations, re-armed per
// wait) and starts a copy's goroutine again once its socket is readable,
// closed by the copy's own link (its other direction, its idle timeout:
// at once) or by anyone else (found by a sweep, every NewParker's sweep
// or at once after Sweep).
//
// Its one goroutine runs while anything is parked and exits once nothing
// is, closing the epoll instance; it needs no Close. Make one with
// NewParker; Start parks nothing when JoinOptions.Park is nil.
type Parker struct {
	after, sweep time.Duration

	mu    sync.Mutex
	ep    *os.File // the epoll instance; nil while nothing runs
	epfd  int
	slots []parkSlot // by the index in a registration's event
	free  []int32    // unused slots
	n     int        // parked copies
	last  time.Time  // when the last sweep ran
	next  time.Time  // when the next one is due (ep's read deadline)
}

// sweepGap is the least time between two sweeps however often Sweep is
// called: a sweep looks at every parked copy, and a flood of aborts must
// not make the watch do nothing else.
const sweepGap = 50 * time.Millisecond

// parkSlot is one parked copy; gen tells a registration of an earlier
// copy in the same slot from its own.
type parkSlot struct {
	p   *pump
	gen int32
}

// Parker defaults: a copy that moved its wait parks after 200 ms without
// a byte (a park and its wake cost a few microseconds: a link quiet that
// long pays them at most five times a second, while a burst of new links
// holds its goroutines a fifth as long as with a second; BenchmarkIdleMemory
// measures both); closes by others are found within a second.
const (
	DefaultParkAfter = 200 * time.Millisecond
	DefaultParkSweep = time.Second
)

// NewParker returns a Parker whose copies park after after without a byte
// and whose sweep for sockets closed by others runs every sweep (<= 0:
// the defaults).
func NewParker(after, sweep time.Duration) *Parker {
	if after <= 0 {
		after = DefaultParkAfter
	}
	if sweep <= 0 {
		sweep = DefaultParkSweep
	}
	return &Parker{after: after, sweep: sweep}
}

// Parked is how many copies are parked now.
func (k *Parker) Parked() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.n
}

// Sweep has the Parker look soon (at once, or sweepGap after its last
// sweep), not at its next sweep, for parked copies whose connections
// someone else closed: call it after closing connections of started
// links, so that their copies end.
func (k *Parker) Sweep() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.ep == nil {
		return
	}
	at := time.Now()
	if soonest := k.last.Add(sweepGap); at.Before(soonest) {
		at = soonest
	}
	if at.Before(k.next) {
		k.next = at
		_ = k.ep.SetReadDeadline(at)
	}
}

// patience is how long a moved wait blocks before it parks.
func (k *Parker) patience() time.Duration { return k.after }

// park registers p's socket and holds p until it is readable; false when
// it could not (p's socket is closed, or epoll failed): p goes on waiting
// where it is.
func (k *Parker) park(p *pump) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.ep == nil {
		if err := k.startLocked(); err != nil {
			return false
		}
	}
	var i int32
	if n := len(k.free); n > 0 {
		i, k.free = k.free[n-1], k.free[:n-1]
	} else {
		i = int32(len(k.slots))
		k.slots = append(k.slots, parkSlot{})
	}
	s := &k.slots[i]
	s.gen++
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT, Fd: i, Pad: s.gen}
	var cerr error
	err := p.pk.rc.Control(func(fd uintptr) {
		// The socket stays registered, disarmed, after its event: the
		// next wait re-arms it. A registration in an epoll instance since
		// closed is gone: added again.
		op := unix.EPOLL_CTL_ADD
		if p.armed {
			op = unix.EPOLL_CTL_MOD
		}
		cerr = unix.EpollCtl(k.epfd, op, int(fd), &ev)
		switch {
		case errors.Is(cerr, unix.ENOENT):
			cerr = unix.EpollCtl(k.epfd, unix.EPOLL_CTL_ADD, int(fd), &ev)
		case errors.Is(cerr, unix.EEXIST):
			cerr = unix.EpollCtl(k.epfd, unix.EPOLL_CTL_MOD, int(fd), &ev)
		}
	})
	if err != nil || cerr != nil {
		k.free = append(k.free, i)
		return false
	}
	p.armed = true
	s.p, p.parkedAt = p, i+1
	k.n++
	return true
}

// startLocked opens the epoll instance and starts the goroutine that
// watches it.
func (k *Parker) startLocked() error {
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return os.NewSyscallError("epoll_create1", err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		_ = unix.Close(fd)
		return os.NewSyscallError("fcntl", err)
	}
	// Non-blocking, the epoll instance is waited on by Go's own poller:
	// the watch blocks no thread.
	k.ep, k.epfd = os.NewFile(uintptr(fd), "netx-parker"), fd
	go k.watch(k.ep)
	return nil
}

// watch dispatches ep's events until a sweep finds nothing parked (or ep
// fails: then every parked copy goes on waiting in a goroutine of its
// own).
func (k *Parker) watch(ep *os.File) {
	rc, err := ep.SyscallConn()
	if err != nil {
		k.shut(ep)
		return
	}
	evs := make([]unix.EpollEvent, 64)
	var werr error
	drain := func(fd uintptr) bool {
		for {
			n, err := unix.EpollWait(int(fd), evs, 0)
			if errors.Is(err, unix.EINTR) {
				continue
			}
			if err != nil {
				werr = os.NewSyscallError("epoll_wait", err)
				return true
			}
			for _, ev := range evs[:n] {
				k.resume(ev.Fd, ev.Pad)
			}
			if n < len(evs) {
				return false // drained: wait for more
			}
		}
	}
	for !k.swept(ep) {
		err := rc.Read(drain) // returns at the deadline swept set
		if werr != nil || !errors.Is(err, os.ErrDeadlineExceeded) {
			k.shut(ep)
			return
		}
	}
}

// resume starts the copy parked in slot i, when it is still the one
// registered with gen, again.
func (k *Parker) resume(i, gen int32) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if i < 0 || int(i) >= len(k.slots) || k.slots[i].p == nil || k.slots[i].gen != gen {
		return // a registration of a copy that went on already
	}
	k.releaseLocked(i)
}

// wake starts p again if it is parked: its socket was closed by its link.
func (k *Parker) wake(p *pump) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if i := p.parkedAt - 1; i >= 0 && k.slots[i].p == p {
		k.releaseLocked(i)
	}
}

// releaseLocked takes the copy out of slot i and starts its goroutine: it
// finds its socket readable (or closed) and goes on copying.
func (k *Parker) releaseLocked(i int32) {
	p := k.slots[i].p
	k.slots[i].p, p.parkedAt = nil, 0
	k.free = append(k.free, i)
	k.n--
	if k.n == 0 {
		k.next = time.Now()
		_ = k.ep.SetReadDeadline(k.next) // the watch sweeps now, finds nothing and ends
	}
	p.unparked = true
	go p.resumeFn()
}

// swept starts again every parked copy whose socket someone else closed
// and sets when the next sweep is due; once nothing is parked it closes
// ep and reports true: the watch ends. (A release that leaves nothing
// parked makes the next sweep due at once: it holds the same lock.)
func (k *Parker) swept(ep *os.File) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	for i := range k.slots {
		if p := k.slots[i].p; p != nil && p.pk.rc.Control(nopControl) != nil {
			k.releaseLocked(int32(i))
		}
	}
	k.last = time.Now()
	k.next = k.last.Add(k.sweep)
	if k.n > 0 && ep.SetReadDeadline(k.next) == nil {
		return false
	}
	k.closeLocked(ep) // nothing parked, or a deadline failed: ep is broken
	return true
}

// shut starts every parked copy again and closes ep: it failed.
func (k *Parker) shut(ep *os.File) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.closeLocked(ep)
}

// closeLocked starts every parked copy again (they go on waiting in
// goroutines of their own) and closes ep.
func (k *Parker) closeLocked(ep *os.File) {
	for i := range k.slots {
		if k.slots[i].p != nil {
			k.releaseLocked(int32(i))
		}
	}
	_ = ep.Close()
	if k.ep == ep {
		k.ep, k.epfd = nil, -1
		k.slots, k.free = nil, nil
	}
}

func nopControl(uintptr) {}
