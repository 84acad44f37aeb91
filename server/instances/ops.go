package instances

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"time"

	"github.com/burrowproject/burrow/conf"
	"github.com/burrowproject/burrow/server/events"
)

// Create adds an instance from a URL (normalised, see normalize) with an
// optional alias, announces it, persists it and starts it asynchronously.
// The returned view is the new instance, status stopped.
func (m *Manager) Create(_ context.Context, rawURL, alias string) (View, error) {
	if len(alias) > MaxAlias {
		return View{}, errAliasLength
	}
	parsed, err := m.normalize(rawURL)
	if err != nil {
		return View{}, err
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return View{}, errClosed
	}
	in := m.newInstance(m.newInstanceIDLocked(), time.Now())
	in.setURLLocked(parsed)
	in.alias, in.restart = alias, true
	m.byID[in.id] = in
	v := m.viewLocked(in)
	m.publishLocked(events.Create, v, "")
	_ = m.enqueueLocked(in, func() { m.doStart(in) })
	m.mu.Unlock()
	m.persist()
	m.log.Info("Instance created", "instance", in.id, "url", parsed.Redacted())
	return v, nil
}

// validatePatch checks every field of p before anything is applied.
func validatePatch(p Patch) error {
	if p.Alias != nil && len(*p.Alias) > MaxAlias {
		return errAliasLength
	}
	if p.Action != nil {
		switch *p.Action {
		case ActionStart, ActionStop, ActionRestart, ActionReset:
		default:
			return errorf(KindInvalid, "Invalid action: %s", *p.Action)
		}
	}
	if p.Meta == nil {
		return nil
	}
	if peer := p.Meta.Peer; peer != nil {
		for name, s := range map[string]string{"sid": peer.SID, "type": peer.Type, "alias": peer.Alias} {
			if len(s) > MaxAlias {
				return errorf(KindInvalid, "Meta peer.%s exceeds maximum length %d", name, MaxAlias)
			}
		}
	}
	if p.Meta.Tags != nil {
		for k, v := range *p.Meta.Tags {
			if len(k) > MaxAlias {
				return errorf(KindInvalid, "Meta tag key exceeds maximum length %d", MaxAlias)
			}
			if len(v) > MaxAlias {
				return errorf(KindInvalid, "Meta tag value exceeds maximum length %d", MaxAlias)
			}
		}
		if b, _ := json.Marshal(*p.Meta.Tags); len(b) > MaxMetaLen {
			return errorf(KindInvalid, "Meta tags exceed maximum size %d", MaxMetaLen)
		}
	}
	return nil
}

// Patch applies p in NodePass's order (alias, action, restart policy,
// meta), each change announced with its own update event, after checking
// every field. start, stop and restart are asynchronous: the returned view
// still shows the old status. reset is synchronous. On the key record only
// the action restart does something: it rotates the API key.
func (m *Manager) Patch(_ context.Context, id string, p Patch) (View, error) {
	if id == KeyID {
		if p.Action != nil && *p.Action == ActionRestart {
			return m.RotateKey()
		}
		return m.Get(KeyID)
	}
	if err := validatePatch(p); err != nil {
		return View{}, err
	}
	m.mu.RLock()
	in, ok := m.byID[id]
	m.mu.RUnlock()
	if !ok {
		return View{}, errNotFound
	}
	reset := p.Action != nil && *p.Action == ActionReset
	if reset {
		m.refresh(in) // the reset starts from the freshest counters
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return View{}, errClosed
	}
	if in.deleted {
		m.mu.Unlock()
		return View{}, errNotFound
	}
	if err := in.declaredLocked(p); err != nil {
		m.mu.Unlock()
		return View{}, err
	}
	changed := false
	announce := func() {
		changed = true
		m.publishLocked(events.Update, m.viewLocked(in), "")
	}
	if p.Alias != nil && *p.Alias != in.alias {
		in.alias = *p.Alias
		announce()
	}
	if p.Action != nil {
		switch *p.Action {
		case ActionReset:
			in.resetLocked()
			announce()
		case ActionStart:
			_ = m.enqueueLocked(in, func() { m.doStart(in) })
		case ActionStop:
			_ = m.enqueueLocked(in, func() { m.doStop(in, true) })
		case ActionRestart:
			_ = m.enqueueLocked(in, func() { m.doRestart(in) })
		}
	}
	if p.Restart != nil && *p.Restart != in.restart {
		in.restart = *p.Restart
		announce()
	}
	if p.Meta != nil && (p.Meta.Peer != nil || p.Meta.Tags != nil) {
		if p.Meta.Peer != nil {
			in.meta.Peer = *p.Meta.Peer
		}
		if p.Meta.Tags != nil {
			in.meta.Tags = maps.Clone(*p.Meta.Tags)
			if in.meta.Tags == nil {
				in.meta.Tags = map[string]string{}
			}
		}
		announce()
	}
	v := m.viewLocked(in)
	m.mu.Unlock()
	if changed {
		m.persist()
	}
	return v, nil
}

// Replace is PUT: a new URL for an existing instance. A URL whose
// normalised form equals the current one is a conflict. The instance is
// stopped synchronously, its URL, type and config replaced, an update
// (stopped) announced, and it is started again asynchronously whatever its
// previous status. Alias, restart policy, meta and counters are kept.
func (m *Manager) Replace(_ context.Context, id, rawURL string) (View, error) {
	if id == KeyID {
		return View{}, errForbidden
	}
	in, err := m.apiOwned(id)
	if err != nil {
		return View{}, err
	}
	parsed, err := m.normalize(rawURL)
	if err != nil {
		return View{}, err
	}
	var (
		v      View
		result error
	)
	task := func() {
		m.mu.RLock()
		deleted, same := in.deleted, in.url == parsed.String()
		m.mu.RUnlock()
		switch {
		case deleted:
			result = errNotFound
			return
		case same:
			result = errConflict
			return
		}
		v = m.swapURL(in, parsed, nil)
		m.mu.Lock()
		_ = m.enqueueLocked(in, func() { m.pause(); m.doStart(in) })
		m.mu.Unlock()
	}
	if err := m.runSync(in, task); err != nil {
		return View{}, err
	}
	if result != nil {
		return View{}, result
	}
	m.log.Info("Instance replaced", "instance", id, "url", parsed.Redacted())
	return v, nil
}

// Delete stops an instance (announcing update stopped if it was running or
// in error), removes it for good and announces delete.
func (m *Manager) Delete(_ context.Context, id string) error {
	if id == KeyID {
		return errForbidden
	}
	in, err := m.apiOwned(id)
	if err != nil {
		return err
	}
	return m.remove(in)
}

// remove is Delete of in.
func (m *Manager) remove(in *instance) error {
	var result error
	task := func() {
		m.mu.RLock()
		deleted := in.deleted
		m.mu.RUnlock()
		if deleted {
			result = errNotFound
			return
		}
		m.doStop(in, true)
		m.mu.Lock()
		in.deleted = true
		delete(m.byID, in.id)
		m.history.Forget(in.id)
		for _, f := range m.cfg.Forget {
			f.Forget(in.id)
		}
		m.publishLocked(events.Delete, m.viewLocked(in), "")
		m.mu.Unlock()
		m.persist()
	}
	if err := m.runSync(in, task); err != nil {
		return err
	}
	if result == nil {
		m.log.Info("Instance deleted", "instance", in.id)
	}
	return result
}

// swapURL stops in and gives it the URL parsed (and what apply changes,
// under the lock), stopped, announcing it. Runs on in.ops.
func (m *Manager) swapURL(in *instance, parsed *conf.Instance, apply func()) View {
	m.doStop(in, false)
	m.mu.Lock()
	in.setURLLocked(parsed)
	in.status, in.reason = StatusStopped, ""
	if apply != nil {
		apply()
	}
	v := m.viewLocked(in)
	m.publishLocked(events.Update, v, "")
	m.mu.Unlock()
	m.persist()
	return v
}

// apiOwned returns the instance id names if the API may replace or delete
// it: not one a config file declares.
func (m *Manager) apiOwned(id string) (*instance, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	in, ok := m.byID[id]
	if !ok {
		return nil, errNotFound
	}
	return in, in.ownedErrLocked()
}

// runSync runs task on in's queue and waits for it.
func (m *Manager) runSync(in *instance, task func()) error {
	done := make(chan struct{})
	m.mu.Lock()
	err := m.enqueueLocked(in, func() { defer close(done); task() })
	m.mu.Unlock()
	if err != nil {
		return fmt.Errorf("instance %s: %w", in.id, err)
	}
	<-done
	return nil
}
