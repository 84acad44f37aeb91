package instances

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/burrowproject/burrow/conf"
	"github.com/burrowproject/burrow/server/events"
	"github.com/burrowproject/burrow/server/history"
)

// Start starts every instance whose restart policy is true, one after the
// other in creation order (so of two that conflict, such as an HTTPS and a
// plain instance on one shared entry port, the one created first serves
// and the other fails alone, at every restart alike), waits until each is
// running or failed (or ctx ends), and starts the periodic report loop.
// Call it once, before serving the API.
func (m *Manager) Start(ctx context.Context) error {
	m.mu.Lock()
	if m.started || m.closed {
		m.mu.Unlock()
		return errors.New("instances: Start called twice or after Close")
	}
	m.started = true
	var dones []chan struct{}
	prev := make(chan struct{})
	close(prev)
	for _, in := range m.sortedLocked() {
		if !in.restart {
			continue
		}
		done := make(chan struct{})
		dones = append(dones, done)
		after := prev
		in.ops.Do(func() {
			defer close(done)
			select {
			case <-after: // the instance created before it has started (or failed)
			case <-m.quit:
				return
			}
			m.doStart(in)
		})
		prev = done
	}
	m.wg.Add(1)
	m.mu.Unlock()
	go m.reportLoop()
	for _, done := range dones {
		select {
		case <-done:
		case <-ctx.Done():
			return fmt.Errorf("instances: auto-start: %w", ctx.Err())
		}
	}
	return nil
}

// Close stops every instance in parallel (without update events), waits
// for all background work, and saves the state. Operations after Close
// fail with a KindUnavailable error.
func (m *Manager) Close(ctx context.Context) error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	var dones []chan struct{}
	for _, in := range m.byID {
		done := make(chan struct{})
		dones = append(dones, done)
		in.ops.Do(func() { defer close(done); m.doStop(in, false) })
	}
	m.mu.Unlock()
	close(m.quit)
	var waitErr error
	for _, done := range dones {
		select {
		case <-done:
		case <-ctx.Done():
			waitErr = fmt.Errorf("instances: stop instances: %w", ctx.Err())
		}
		if waitErr != nil {
			break
		}
	}
	m.cancelRun()
	m.wg.Wait()
	return errors.Join(waitErr, m.saveNow())
}

// enqueue queues a lifecycle operation of in unless the manager is closed
// (m.mu held, so Close cannot slip between the check and the queueing).
func (m *Manager) enqueueLocked(in *instance, f func()) error {
	if m.closed {
		return errClosed
	}
	in.ops.Do(f)
	return nil
}

// doStart starts in unless it is running or deleted. Runs on in.ops.
func (m *Manager) doStart(in *instance) {
	m.mu.Lock()
	if in.deleted || in.run != nil || m.closed {
		m.mu.Unlock()
		return
	}
	parsed := in.parsed.Clone()
	m.mu.Unlock()
	if parsed == nil {
		m.fail(in, errors.New("URL does not parse"))
		return
	}
	level := parsed.Params.Log
	log := m.instanceLogger(in, level)
	r, err := m.rt.Start(m.runCtx, in.id, parsed, log)
	if err != nil {
		log.Error("Instance start failed", "err", err)
		m.fail(in, err)
		return
	}
	h := &run{r: r, level: level, stop: make(chan struct{})}
	m.mu.Lock()
	in.run = h
	in.last, in.offset = Stats{}, Stats{}
	in.status, in.reason = StatusRunning, ""
	m.publishLocked(events.Update, m.viewLocked(in), "")
	m.wg.Add(1)
	m.mu.Unlock()
	go m.watch(in, h)
}

// fail marks in as failed to start.
func (m *Manager) fail(in *instance, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	in.status, in.reason = StatusError, err.Error()
	in.ping, in.pool, in.tcps, in.udps = 0, 0, 0, 0
	if !in.deleted {
		m.publishLocked(events.Update, m.viewLocked(in), "")
	}
}

// watch waits for a run to end by itself, then records it on in.ops.
func (m *Manager) watch(in *instance, h *run) {
	defer m.wg.Done()
	select {
	case <-h.stop:
	case <-h.r.Done():
		in.ops.Do(func() { m.ended(in, h) })
	}
}

// ended records that run h ended by itself: stopped when it ended cleanly,
// error otherwise.
func (m *Manager) ended(in *instance, h *run) {
	final := h.r.Stats()
	m.mu.Lock()
	if in.run != h {
		m.mu.Unlock()
		return
	}
	in.endRunLocked(final)
	if err := h.r.Err(); err != nil {
		in.status, in.reason = StatusError, err.Error()
	} else {
		in.status, in.reason = StatusStopped, ""
	}
	if !in.deleted {
		m.publishLocked(events.Update, m.viewLocked(in), "")
	}
	m.mu.Unlock()
	m.persist()
}

// doStop stops in. An instance in error becomes stopped. publish says
// whether the change is announced. It reports whether anything changed.
// Runs on in.ops.
func (m *Manager) doStop(in *instance, publish bool) bool {
	m.mu.Lock()
	h := in.run
	if h == nil {
		changed := in.status == StatusError
		in.status, in.reason = StatusStopped, ""
		if changed && publish && !in.deleted {
			m.publishLocked(events.Update, m.viewLocked(in), "")
		}
		m.mu.Unlock()
		return changed
	}
	m.mu.Unlock()
	close(h.stop)
	ctx, cancel := context.WithTimeout(context.Background(), m.cfg.StopTimeout)
	err := h.r.Stop(ctx)
	cancel()
	if err != nil {
		m.log.Warn("Instance stop failed", "instance", in.id, "err", err)
	}
	final := h.r.Stats()
	m.mu.Lock()
	in.endRunLocked(final)
	in.status, in.reason = StatusStopped, ""
	if publish && !in.deleted {
		m.publishLocked(events.Update, m.viewLocked(in), "")
	}
	m.mu.Unlock()
	m.persist()
	return true
}

// doRestart stops in, pauses RestartDelay and starts it. Runs on in.ops.
func (m *Manager) doRestart(in *instance) {
	m.doStop(in, true)
	m.pause()
	m.doStart(in)
}

// pause waits RestartDelay or until Close.
func (m *Manager) pause() {
	t := time.NewTimer(m.cfg.RestartDelay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-m.quit:
	}
}

// refresh reads the runtime figures of in if it runs.
func (m *Manager) refresh(in *instance) {
	m.mu.RLock()
	h := in.run
	m.mu.RUnlock()
	if h == nil {
		return
	}
	s := h.r.Stats()
	var health error
	hh, checks := h.r.(Healther)
	if checks {
		health = hh.Health()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if in.run != h {
		return
	}
	in.applyStatsLocked(s)
	switch {
	case !checks:
	case health != nil && (in.status != StatusError || in.reason != health.Error()):
		in.status, in.reason = StatusError, health.Error()
		in.ping, in.pool = 0, 0
		m.publishLocked(events.Update, m.viewLocked(in), "")
	case health == nil && in.status == StatusError:
		in.status, in.reason = StatusRunning, ""
		m.publishLocked(events.Update, m.viewLocked(in), "")
	}
}

// refreshAll refreshes every running instance and returns them.
func (m *Manager) refreshAll() []*instance {
	m.mu.RLock()
	var list []*instance
	for _, in := range m.byID {
		if in.run != nil {
			list = append(list, in)
		}
	}
	m.mu.RUnlock()
	for _, in := range list {
		m.refresh(in)
	}
	return list
}

// reportLoop publishes an update with fresh figures for every running
// instance (whose log level is not none) each ReportInterval, persists the
// counters, and restarts instances in error each ErrorRetry.
func (m *Manager) reportLoop() {
	defer m.wg.Done()
	report := time.NewTicker(m.cfg.ReportInterval)
	defer report.Stop()
	retry := time.NewTicker(m.cfg.ErrorRetry)
	defer retry.Stop()
	for {
		select {
		case <-m.quit:
			return
		case <-report.C:
			m.report()
		case <-retry.C:
			m.retryErrors()
		}
	}
}

func (m *Manager) report() {
	running := m.refreshAll()
	if len(running) == 0 {
		return
	}
	now := time.Now()
	m.mu.RLock()
	for _, in := range running {
		if in.run == nil || in.deleted {
			continue
		}
		t := in.totalsLocked()
		m.history.Record(in.id, now, history.Totals{
			Rx: t.TCPRx + t.UDPRx, Tx: t.TCPTx + t.UDPTx, Conns: in.tcps + in.udps,
		})
		if in.run.level != conf.LogNone {
			m.publishLocked(events.Update, m.viewLocked(in), "")
		}
	}
	m.mu.RUnlock()
	m.persist()
}

func (m *Manager) retryErrors() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, in := range m.byID {
		if in.status == StatusError && in.run == nil && !in.deleted {
			_ = m.enqueueLocked(in, func() { m.doStart(in) })
		}
	}
}
