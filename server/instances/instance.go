package instances

import (
	"maps"
	"sync"
	"time"

	"github.com/burrowproject/burrow/conf"
	"github.com/burrowproject/burrow/server/store"
)

// instance is the manager's record of one instance. The fields below the
// line are guarded by Manager.mu.
type instance struct {
	id      string
	created time.Time
	ops     *serial // lifecycle operations, one at a time, in order

	url, config, typ string
	parsed           *conf.Instance // nil when the stored URL no longer parses
	alias            string
	restart          bool
	meta             Meta
	status           Status
	reason           string
	mode             int
	ping, pool       int
	tcps, udps       int
	base             store.Counters // totals up to the start of the current run (or a reset)
	last, offset     Stats          // current run: latest counters seen, counters at a reset
	run              *run           // nil unless running
	deleted          bool
	owner            owner
}

// setURLLocked gives in the URL parsed.
func (in *instance) setURLLocked(parsed *conf.Instance) {
	in.url, in.config, in.typ, in.parsed = parsed.String(), parsed.Config(), parsed.Scheme, parsed
}

// ownedErrLocked refuses a change the API may not make to an instance a
// config file declares: its URL, alias, restart policy and meta are the
// file's, and so is deleting it. nil for the API's instances.
func (in *instance) ownedErrLocked() error {
	if in.owner.source != SourceFile {
		return nil
	}
	file := in.owner.file
	if file == "" {
		file = "the config file"
	}
	return errorf(KindConflict, "Instance %s is declared in %s as instances.%s: change it there", in.id, file, in.owner.name)
}

// declaredLocked refuses a PATCH that would change what a config file
// declares (actions are allowed: start, stop, restart, reset).
func (in *instance) declaredLocked(p Patch) error {
	changes := (p.Alias != nil && *p.Alias != in.alias) || (p.Restart != nil && *p.Restart != in.restart)
	if p.Meta != nil {
		changes = changes || (p.Meta.Peer != nil && *p.Meta.Peer != in.meta.Peer) ||
			(p.Meta.Tags != nil && !maps.Equal(*p.Meta.Tags, in.meta.Tags))
	}
	if !changes {
		return nil
	}
	return in.ownedErrLocked()
}

// owner is who declares an instance: the API (the zero value) or a
// config file, under a name.
type owner struct {
	source string // "" or SourceFile
	name   string
	file   string
}

// run is one Runtime.Start of an instance.
type run struct {
	r     Running
	level conf.LogLevel
	stop  chan struct{} // closed when the manager stops it (ends the watcher)
}

func (m *Manager) newInstance(id string, created time.Time) *instance {
	if created.IsZero() {
		created = time.Now()
	}
	return &instance{id: id, created: created, ops: &serial{wg: &m.wg}, status: StatusStopped, meta: cloneMeta(Meta{})}
}

// totalsLocked returns the cumulative counters.
func (in *instance) totalsLocked() store.Counters {
	return store.Counters{
		TCPRx: in.base.TCPRx + in.last.TCPRx - in.offset.TCPRx,
		TCPTx: in.base.TCPTx + in.last.TCPTx - in.offset.TCPTx,
		UDPRx: in.base.UDPRx + in.last.UDPRx - in.offset.UDPRx,
		UDPTx: in.base.UDPTx + in.last.UDPTx - in.offset.UDPTx,
	}
}

// applyStatsLocked takes a Stats reading of the current run: counters only
// grow (a stale reading never lowers them), gauges are replaced.
func (in *instance) applyStatsLocked(s Stats) {
	in.last.TCPRx = max(in.last.TCPRx, s.TCPRx)
	in.last.TCPTx = max(in.last.TCPTx, s.TCPTx)
	in.last.UDPRx = max(in.last.UDPRx, s.UDPRx)
	in.last.UDPTx = max(in.last.UDPTx, s.UDPTx)
	if s.Mode != 0 {
		in.mode = s.Mode
	}
	in.ping, in.pool, in.tcps, in.udps = s.Ping, s.Pool, s.TCPs, s.UDPs
}

// endRunLocked folds the run's counters into base and clears the gauges.
func (in *instance) endRunLocked(final Stats) {
	in.applyStatsLocked(final)
	in.base = in.totalsLocked()
	in.last, in.offset = Stats{}, Stats{}
	in.ping, in.pool, in.tcps, in.udps = 0, 0, 0, 0
	in.run = nil
}

// resetLocked zeroes the counters; the running instance counts on from here.
func (in *instance) resetLocked() {
	in.base = store.Counters{}
	in.offset = in.last
}

func (m *Manager) viewLocked(in *instance) View {
	t := in.totalsLocked()
	url, config, source := in.url, in.config, SourceAPI
	if in.owner.source == SourceFile {
		// A file's instance may hold a secret the file took from the
		// environment or a file: the API never needs it back (its URL is
		// the file's to change), so it shows the URL as the logs do.
		url, config, source = conf.Redact(url), conf.Redact(config), SourceFile
	}
	return View{
		ID: in.id, Alias: in.alias, Type: in.typ, Status: in.status, URL: url, Config: config, Source: source, Name: in.owner.name,
		Restart: in.restart, Meta: cloneMeta(in.meta), Mode: in.mode, Ping: in.ping, Pool: in.pool,
		TCPs: in.tcps, UDPs: in.udps, TCPRx: t.TCPRx, TCPTx: t.TCPTx, UDPRx: t.UDPRx, UDPTx: t.UDPTx,
		Reason: in.reason,
	}
}

func (in *instance) recordLocked() store.Instance {
	return store.Instance{
		ID: in.id, URL: in.url, Config: in.config, Alias: in.alias, Restart: in.restart,
		Meta: cloneMeta(in.meta), Mode: in.mode, Counters: in.totalsLocked(), Created: in.created,
		Source: in.owner.source, Name: in.owner.name, File: in.owner.file,
	}
}

// serial runs queued functions one at a time, in order, on a goroutine that
// exists only while the queue is not empty. wg counts those goroutines.
type serial struct {
	wg      *sync.WaitGroup
	mu      sync.Mutex
	queue   []func()
	running bool
}

// Do queues f.
func (s *serial) Do(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queue = append(s.queue, f)
	if !s.running {
		s.running = true
		s.wg.Add(1)
		go s.loop()
	}
}

// DoWait queues f and waits until it ran.
func (s *serial) DoWait(f func()) {
	done := make(chan struct{})
	s.Do(func() { defer close(done); f() })
	<-done
}

func (s *serial) loop() {
	defer s.wg.Done()
	for {
		s.mu.Lock()
		if len(s.queue) == 0 {
			s.running = false
			s.mu.Unlock()
			return
		}
		f := s.queue[0]
		s.queue[0] = nil
		s.queue = s.queue[1:]
		s.mu.Unlock()
		f()
	}
}
