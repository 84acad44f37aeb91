// Package instances is the master's instance manager: ids, the status
// machine (stopped, running, error), the restart policy, the PATCH actions,
// alias and meta rules, URL normalisation, periodic reports and the log
// events of every instance, and the API key pseudo-instance.
//
// The manager owns the state and its persistence; a Runtime owns the
// sockets. Lifecycle operations of one instance run one at a time, in the
// order they were asked for, on a per-instance queue; the manager never
// calls the Runtime while holding its lock. Every state change is published
// on the events bus while the lock is held, so subscribers see the changes
// of one instance in order.
package instances

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/burrowproject/burrow/conf"
	"github.com/burrowproject/burrow/server/events"
	"github.com/burrowproject/burrow/server/history"
	"github.com/burrowproject/burrow/server/store"
)

// Config holds the manager's dependencies and tunables.
type Config struct {
	Store   *store.Store
	Bus     *events.Bus
	Runtime Runtime
	Log     *slog.Logger   // the master's logger; instance records go there too
	Master  *conf.Instance // the master URL: its log and tls become instance defaults
	// History keeps the traffic history the report loop samples; a new
	// one when nil.
	History *history.Set
	// Forget are other per-instance memories (the inspector's rings),
	// each told when an instance is deleted.
	Forget []Forgetter

	ReportInterval time.Duration // periodic update events; default 5 s
	// RestartDelay is the pause between stop and start; default 500 ms.
	// NodePass pauses 100 ms, but its processes take longer to stop and
	// start; NodePassDash polls its copy of the state every 200 ms and
	// waits 5 s for a "stopped" it missed, so the stopped state must last
	// longer than two of its polls.
	RestartDelay time.Duration
	StopTimeout  time.Duration // bound of one Stop; default 5 s
	ErrorRetry   time.Duration // restart instances in error this often; default 1 h
}

// Forgetter keeps something per instance that goes with the instance.
type Forgetter interface{ Forget(id string) }

// Manager manages the instances of one master. Create it with New, call
// Start once, and Close at the end.
type Manager struct {
	cfg     Config
	log     *slog.Logger
	bus     *events.Bus
	rt      Runtime
	store   *store.Store
	history *history.Set // traffic of every instance, fed by the report loop
	created bool         // the API key was created by New

	runCtx    context.Context // passed to Runtime.Start; cancelled by Close
	cancelRun context.CancelFunc
	quit      chan struct{} // closed by Close: stops the report loop
	wg        sync.WaitGroup

	mu          sync.RWMutex
	byID        map[string]*instance
	key         string
	masterID    string
	masterAlias string
	closed      bool
	started     bool
	dirty       uint64 // bumped by every change to persist

	reconcileMu sync.Mutex // one Reconcile at a time

	saveMu sync.Mutex
	saved  uint64 // last dirty value written
}

// New builds a manager from the stored state. A missing state file gives a
// fresh state with a new API key (KeyCreated reports it); a corrupt one is
// logged at error level with where it was moved (see store.Load).
func New(cfg Config) (*Manager, error) {
	if cfg.Store == nil || cfg.Bus == nil || cfg.Runtime == nil || cfg.Master == nil {
		return nil, errors.New("instances: Store, Bus, Runtime and Master are required")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	cfg.ReportInterval = cmp.Or(cfg.ReportInterval, 5*time.Second)
	cfg.RestartDelay = cmp.Or(cfg.RestartDelay, 500*time.Millisecond)
	cfg.StopTimeout = cmp.Or(cfg.StopTimeout, 5*time.Second)
	cfg.ErrorRetry = cmp.Or(cfg.ErrorRetry, time.Hour)
	if cfg.History == nil {
		cfg.History = history.New()
	}
	m := &Manager{
		cfg: cfg, log: cfg.Log, bus: cfg.Bus, rt: cfg.Runtime, store: cfg.Store, history: cfg.History,
		quit: make(chan struct{}), byID: make(map[string]*instance),
	}
	m.runCtx, m.cancelRun = context.WithCancel(context.Background())
	st, err := cfg.Store.Load()
	var corrupt *store.CorruptError
	switch {
	case err == nil:
	case errors.Is(err, fs.ErrNotExist):
		st = store.State{}
	case errors.As(err, &corrupt):
		m.log.Error("State file corrupt", "err", err)
	default:
		m.cancelRun()
		return nil, fmt.Errorf("instances: load state: %w", err)
	}
	m.restore(st)
	if err := m.saveNow(); err != nil {
		m.cancelRun()
		return nil, fmt.Errorf("instances: save state: %w", err)
	}
	return m, nil
}

// restore fills the manager from st, creating the key and master id when
// missing. Every instance starts stopped.
func (m *Manager) restore(st store.State) {
	m.key, m.masterID, m.masterAlias = st.APIKey, st.MasterID, st.MasterAlias
	if m.key == "" {
		m.key, m.created = newAPIKey(), true
	}
	if m.masterID == "" {
		m.masterID = newMasterID()
	}
	for _, rec := range st.Instances {
		in := m.newInstance(rec.ID, rec.Created)
		in.url, in.config, in.alias, in.restart, in.mode = rec.URL, rec.Config, rec.Alias, rec.Restart, rec.Mode
		in.meta = cloneMeta(rec.Meta)
		in.base = rec.Counters
		if rec.Source == SourceFile {
			in.owner = owner{source: SourceFile, name: rec.Name, file: rec.File}
		}
		parsed, err := conf.Parse(rec.URL)
		if err != nil {
			in.status, in.reason = StatusError, "stored URL is no longer valid: "+err.Error()
			m.log.Error("Stored instance URL invalid", "instance", rec.ID, "err", err)
		} else {
			in.parsed, in.typ = parsed, parsed.Scheme
			if in.config == "" {
				in.config = parsed.Config()
			}
		}
		m.byID[rec.ID] = in
	}
}

// KeyCreated reports whether New generated the API key (first start).
func (m *Manager) KeyCreated() bool { return m.created }

// APIKey returns the current API key.
func (m *Manager) APIKey() string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.key
}

// CheckKey reports whether key is the API key, in constant time.
func (m *Manager) CheckKey(key string) bool {
	m.mu.RLock()
	cur := m.key
	m.mu.RUnlock()
	return keysEqual(key, cur)
}

// MasterInfo returns the master id and alias.
func (m *Manager) MasterInfo() (id, alias string) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.masterID, m.masterAlias
}

// SetMasterAlias sets and persists the master alias ("" clears it) and
// announces the key record's change.
func (m *Manager) SetMasterAlias(alias string) error {
	if len(alias) > MaxAlias {
		return errorf(KindInvalid, "Master alias exceeds maximum length %d", MaxAlias)
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return errClosed
	}
	changed := alias != m.masterAlias
	if changed {
		m.masterAlias = alias
		m.publishLocked(events.Update, m.keyViewLocked(), "")
	}
	m.mu.Unlock()
	if changed {
		m.persist()
	}
	return nil
}

// RotateKey replaces the API key: the old one stops working at once and
// every SSE stream, all opened with the old key, gets a shutdown event and
// is closed before anything could carry the new key to it (no update for
// the key record is published: its only subscribers are gone, and a stream
// opened with the new key starts with the record). It returns the new key
// record.
func (m *Manager) RotateKey() (View, error) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return View{}, errClosed
	}
	m.bus.Reset()
	m.key = newAPIKey()
	v := m.keyViewLocked()
	m.mu.Unlock()
	m.persist()
	m.log.Info("API Key regenerated")
	return v, nil
}

// keyViewLocked returns the key pseudo-instance (m.mu held).
func (m *Manager) keyViewLocked() View {
	return View{ID: KeyID, Alias: m.masterAlias, URL: m.key, Config: m.masterID, Meta: cloneMeta(Meta{})}
}

// Subscribe returns an SSE subscription whose stream starts with an
// initial event for the key record and for every instance.
func (m *Manager) Subscribe() *events.Subscription {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.subscribeLocked()
}

func (m *Manager) subscribeLocked() *events.Subscription {
	now := time.Now()
	initial := []events.Event{{Type: events.Initial, Time: now, Instance: m.keyViewLocked()}}
	for _, in := range m.sortedLocked() {
		initial = append(initial, events.Event{Type: events.Initial, Time: now, Instance: m.viewLocked(in)})
	}
	return m.bus.Subscribe(initial)
}

// SubscribeAs is Subscribe for a client that authenticated with key: it
// fails with ErrKeyChanged unless key is still the API key, checked under
// the same lock RotateKey holds, so a stream opened with a key that was
// just rotated away never receives the new one.
func (m *Manager) SubscribeAs(key string) (*events.Subscription, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if !keysEqual(key, m.key) {
		return nil, ErrKeyChanged
	}
	return m.subscribeLocked(), nil
}

// publishLocked publishes an event about v (m.mu held, read or write).
func (m *Manager) publishLocked(t events.Type, v View, logs string) {
	m.bus.Publish(events.Event{Type: t, Time: time.Now(), Instance: v, Logs: logs})
}

// sortedLocked returns the instances by creation time, then id.
func (m *Manager) sortedLocked() []*instance {
	list := make([]*instance, 0, len(m.byID))
	for _, in := range m.byID {
		list = append(list, in)
	}
	slices.SortFunc(list, func(a, b *instance) int {
		return cmp.Or(a.created.Compare(b.created), cmp.Compare(a.id, b.id))
	})
	return list
}

// List returns the key record followed by every instance, oldest first,
// with fresh runtime figures.
func (m *Manager) List() []View {
	m.refreshAll()
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := []View{m.keyViewLocked()}
	for _, in := range m.sortedLocked() {
		out = append(out, m.viewLocked(in))
	}
	return out
}

// Get returns one instance (or the key record) with fresh runtime figures.
func (m *Manager) Get(id string) (View, error) {
	if id == KeyID {
		m.mu.RLock()
		defer m.mu.RUnlock()
		return m.keyViewLocked(), nil
	}
	m.mu.RLock()
	in, ok := m.byID[id]
	m.mu.RUnlock()
	if !ok {
		return View{}, errNotFound
	}
	m.refresh(in)
	m.mu.RLock()
	defer m.mu.RUnlock()
	if in.deleted {
		return View{}, errNotFound
	}
	return m.viewLocked(in), nil
}

// Exists reports whether id names an instance or the key record.
func (m *Manager) Exists(id string) bool {
	if id == KeyID {
		return true
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	_, ok := m.byID[id]
	return ok
}

// persist writes the state if it changed since the last save. Concurrent
// callers are coalesced: a caller returns once a save that includes its
// change has been written. Never called with m.mu held.
func (m *Manager) persist() {
	m.mu.Lock()
	m.dirty++
	want := m.dirty
	m.mu.Unlock()
	m.saveMu.Lock()
	defer m.saveMu.Unlock()
	if m.saved >= want {
		return
	}
	if err := m.saveLocked(); err != nil {
		m.log.Error("Save state failed", "err", err)
	}
}

// saveNow writes the state unconditionally.
func (m *Manager) saveNow() error {
	m.saveMu.Lock()
	defer m.saveMu.Unlock()
	return m.saveLocked()
}

// saveLocked snapshots and writes the state (m.saveMu held).
func (m *Manager) saveLocked() error {
	m.mu.RLock()
	gen := m.dirty
	st := store.State{MasterID: m.masterID, APIKey: m.key, MasterAlias: m.masterAlias}
	for _, in := range m.sortedLocked() {
		st.Instances = append(st.Instances, in.recordLocked())
	}
	m.mu.RUnlock()
	if err := m.store.Save(st); err != nil {
		return fmt.Errorf("instances: %w", err)
	}
	m.saved = gen
	return nil
}
