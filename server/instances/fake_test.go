package instances

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/burrowproject/burrow/conf"
)

// fakeRuntime runs nothing: each Start returns a fakeRun whose figures the
// test sets.
type fakeRuntime struct {
	mu       sync.Mutex
	runs     map[string]*fakeRun // latest run per id
	starts   map[string]int
	failNext map[string]error         // Start of this id fails once with this error
	order    []string                 // ids in the order Start was called
	slow     map[string]time.Duration // Start of this id takes this long
}

func newFakeRuntime() *fakeRuntime {
	return &fakeRuntime{runs: map[string]*fakeRun{}, starts: map[string]int{}, failNext: map[string]error{}, slow: map[string]time.Duration{}}
}

func (f *fakeRuntime) Validate(inst *conf.Instance) error {
	switch inst.Scheme {
	case conf.SchemeServer, conf.SchemeClient, conf.SchemeTCP, conf.SchemeUDP, conf.SchemeHTTP:
		return nil
	}
	return fmt.Errorf("no handler for %q: %w", inst.Scheme, ErrUnknownScheme)
}

func (f *fakeRuntime) Start(_ context.Context, id string, _ *conf.Instance, log *slog.Logger) (Running, error) {
	f.mu.Lock()
	f.order = append(f.order, id)
	d := f.slow[id]
	f.mu.Unlock()
	time.Sleep(d) // a handler that takes its time to start
	f.mu.Lock()
	defer f.mu.Unlock()
	f.starts[id]++
	if err := f.failNext[id]; err != nil {
		delete(f.failNext, id)
		return nil, err
	}
	r := &fakeRun{done: make(chan struct{}), log: log}
	f.runs[id] = r
	log.Info("fake instance started", "id", id)
	return r, nil
}

func (f *fakeRuntime) run(id string) *fakeRun {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.runs[id]
}

func (f *fakeRuntime) startCount(id string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.starts[id]
}

func (f *fakeRuntime) failStart(id string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failNext[id] = err
}

type fakeRun struct {
	mu      sync.Mutex
	stats   Stats
	done    chan struct{}
	err     error
	ended   bool
	stopped bool
	log     *slog.Logger
}

func (r *fakeRun) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stats
}

func (r *fakeRun) Done() <-chan struct{} { return r.done }

func (r *fakeRun) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

func (r *fakeRun) Stop(context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopped = true
	return nil
}

func (r *fakeRun) isStopped() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stopped
}

func (r *fakeRun) add(s Stats) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stats.TCPRx += s.TCPRx
	r.stats.TCPTx += s.TCPTx
	r.stats.UDPRx += s.UDPRx
	r.stats.UDPTx += s.UDPTx
	r.stats.Mode, r.stats.Ping, r.stats.Pool, r.stats.TCPs, r.stats.UDPs = s.Mode, s.Ping, s.Pool, s.TCPs, s.UDPs
}

// end makes the run end by itself with err.
func (r *fakeRun) end(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.ended {
		r.ended, r.err = true, err
		close(r.done)
	}
}

var errBoom = errors.New("boom")

// healthRun is a fakeRun that reports its health.
type healthRun struct {
	*fakeRun
	mu     sync.Mutex
	health error
}

func (r *healthRun) Health() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.health
}

func (r *healthRun) setHealth(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.health = err
}

// healthRuntime starts healthRuns.
type healthRuntime struct {
	*fakeRuntime
	mu   sync.Mutex
	last *healthRun
}

func (f *healthRuntime) Start(ctx context.Context, id string, inst *conf.Instance, log *slog.Logger) (Running, error) {
	r, err := f.fakeRuntime.Start(ctx, id, inst, log)
	if err != nil {
		return nil, err
	}
	hr := &healthRun{fakeRun: r.(*fakeRun)}
	f.mu.Lock()
	f.last = hr
	f.mu.Unlock()
	return hr, nil
}
