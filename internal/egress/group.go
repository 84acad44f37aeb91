package egress

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Strategy orders a group's targets for each connection (lbs=).
type Strategy int

// Strategies, numbered as NodePass's lbs= parameter.
const (
	// RoundRobin starts each connection at the next target in turn.
	RoundRobin Strategy = 0
	// LowestLatency prefers the target that connected fastest lately; a
	// target whose measurement is older than latencyTTL, or that has none,
	// is tried first so that it gets measured (real connections are the
	// probes).
	LowestLatency Strategy = 1
	// PrimaryBackup always prefers the first target that is not backing
	// off, so traffic returns to the primary as soon as its back-off ends.
	PrimaryBackup Strategy = 2
)

const (
	// downAfter consecutive failed dials put a target into back-off.
	downAfter = 2
	// firstBackoff is the first back-off; each further failure doubles it
	// up to maxBackoff.
	firstBackoff = 2 * time.Second
	maxBackoff   = time.Minute
	// latencyTTL is how long a latency measurement is trusted.
	latencyTTL = 30 * time.Second
)

// Config configures a Group.
type Config struct {
	Targets  []string // host:port, at least one
	Strategy Strategy
	Resolver *Resolver    // nil = NewResolver(DefaultTTL, nil)
	Log      *slog.Logger // target state changes; nil = discard
}

// Group dials one of several targets. It is safe for concurrent use.
type Group struct {
	targets  []*target
	strategy Strategy
	res      *Resolver
	log      *slog.Logger
	now      func() time.Time
	next     atomic.Uint32 // round-robin cursor
}

// target is one member of a group and what the group knows of it.
type target struct {
	addr string

	mu        sync.Mutex
	fails     int           // consecutive failed dials
	downUntil time.Time     // skipped until then
	latency   time.Duration // smoothed dial time; 0 = not measured
	measured  time.Time
}

// NewGroup returns a Group over cfg.Targets.
func NewGroup(cfg Config) (*Group, error) {
	if len(cfg.Targets) == 0 {
		return nil, errors.New("target group: no targets")
	}
	switch cfg.Strategy {
	case RoundRobin, LowestLatency, PrimaryBackup:
	default:
		return nil, fmt.Errorf("target group: unknown strategy %d", cfg.Strategy)
	}
	if cfg.Resolver == nil {
		cfg.Resolver = NewResolver(DefaultTTL, nil)
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	g := &Group{strategy: cfg.Strategy, res: cfg.Resolver, log: cfg.Log, now: time.Now}
	for _, t := range cfg.Targets {
		g.targets = append(g.targets, &target{addr: t})
	}
	return g, nil
}

// Resolver returns the group's resolver, for links that name their own
// target.
func (g *Group) Resolver() *Resolver { return g.res }

// Dial dials the group's targets in the strategy's order until one
// answers, and returns which one did. A failed dial moves on to the next
// target at once; targets backing off are tried last, only when every
// other one failed.
func (g *Group) Dial(ctx context.Context, network string, dial DialFunc) (string, net.Conn, error) {
	order := g.order()
	var errs []error
	for _, t := range order {
		start := g.now()
		c, err := g.res.Dial(ctx, network, t.addr, dial)
		if err == nil {
			g.succeeded(t, g.now().Sub(start))
			return t.addr, c, nil
		}
		if ctx.Err() != nil { // the caller gave up: no verdict on the target
			return t.addr, nil, err
		}
		g.failed(t, err)
		errs = append(errs, err)
	}
	if len(order) == 1 {
		return order[0].addr, nil, errs[0]
	}
	return order[0].addr, nil, fmt.Errorf("all %d targets failed: %w", len(order), errors.Join(errs...))
}

// order is the sequence of targets one connection tries.
func (g *Group) order() []*target {
	n := len(g.targets)
	base := make([]*target, 0, n)
	switch g.strategy {
	case RoundRobin:
		// Modulo in uint32, so the index is never negative, even where
		// int is 32 bits wide.
		start := g.next.Add(1) - 1
		for i := range uint32(n) {
			base = append(base, g.targets[(start+i)%uint32(n)])
		}
	case PrimaryBackup:
		base = append(base, g.targets...)
	case LowestLatency:
		base = append(base, g.targets...)
		now := g.now()
		key := func(t *target) time.Duration {
			t.mu.Lock()
			defer t.mu.Unlock()
			if t.latency == 0 || now.Sub(t.measured) > latencyTTL {
				return 0 // measure it
			}
			return t.latency
		}
		keys := make(map[*target]time.Duration, n)
		for _, t := range base {
			keys[t] = key(t)
		}
		slices.SortStableFunc(base, func(a, b *target) int { return cmp.Compare(keys[a], keys[b]) })
	}
	if n == 1 {
		return base
	}
	now := g.now()
	healthy := base[:0:0]
	var down []*target
	for _, t := range base {
		t.mu.Lock()
		backing := now.Before(t.downUntil)
		t.mu.Unlock()
		if backing {
			down = append(down, t)
		} else {
			healthy = append(healthy, t)
		}
	}
	return append(healthy, down...)
}

// succeeded records a connection to t that took d to set up.
func (g *Group) succeeded(t *target, d time.Duration) {
	d = max(d, time.Microsecond)
	t.mu.Lock()
	wasDown := t.fails >= downAfter
	t.fails, t.downUntil = 0, time.Time{}
	if t.latency == 0 {
		t.latency = d
	} else {
		t.latency = (3*t.latency + d) / 4
	}
	t.measured = g.now()
	t.mu.Unlock()
	if wasDown {
		g.log.Info("target reachable again", "target", t.addr)
	}
}

// failed records a failed dial to t, putting it into back-off once it has
// failed downAfter times in a row.
func (g *Group) failed(t *target, err error) {
	t.mu.Lock()
	t.fails++
	fails := t.fails
	var wait time.Duration
	if fails >= downAfter {
		wait = min(firstBackoff<<min(fails-downAfter, 16), maxBackoff)
		t.downUntil = g.now().Add(wait)
	}
	t.mu.Unlock()
	if len(g.targets) == 1 {
		return // nothing to skip to
	}
	if wait > 0 {
		g.log.Warn("target failing, skipped while backing off", "target", t.addr, "failures", fails, "backoff", wait.String(), "err", err)
	} else {
		g.log.Warn("target failed, trying the next", "target", t.addr, "err", err)
	}
}
