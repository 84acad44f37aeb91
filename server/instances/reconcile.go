package instances

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/burrowproject/burrow/conf"
	"github.com/burrowproject/burrow/server/events"
)

// Declared is an instance a config file declares, under its name there.
type Declared struct {
	Name    string
	URL     string // may hold secrets: never logged
	Alias   string
	Restart bool
	Tags    map[string]string
}

// CheckDeclared checks d as the API checks a POST of its URL and a PATCH
// of its alias and tags, and returns the normalised URL: the one place
// both the master's reconcile and `burrow verify` check a declaration.
func CheckDeclared(master *conf.Instance, v Validator, d Declared) (*conf.Instance, error) {
	tags := d.Tags
	if err := validatePatch(Patch{Alias: &d.Alias, Meta: &MetaPatch{Tags: &tags}}); err != nil {
		return nil, err
	}
	return Normalize(master, v, d.URL)
}

// Reconciled says what Reconcile did, by name.
type Reconciled struct {
	Created, Replaced, Updated, Deleted, Unchanged []string
}

// Reconcile makes the instances a config file declares (file is its path,
// named in the API's refusals) those of decl; the API's instances are left
// alone. Every declaration is checked first (CheckDeclared): if one fails,
// nothing changes and the error names each that failed. Then one instance
// at a time: names no longer declared are deleted (first, so their ports
// are free), then in decl's order a new name is created, a changed URL
// replaces the instance's (stopped, then started again, as PUT does), and
// a changed alias, restart policy or tags apply to the instance as it runs
// (its connections stay). Before Start nothing is started: Start starts
// the instances whose restart policy is true. After it, Reconcile waits
// for each start before the next change.
func (m *Manager) Reconcile(ctx context.Context, file string, decl []Declared) (Reconciled, error) {
	m.reconcileMu.Lock()
	defer m.reconcileMu.Unlock()
	parsed := make([]*conf.Instance, len(decl))
	var errs []error
	seen := make(map[string]bool, len(decl))
	for i, d := range decl {
		if seen[d.Name] {
			errs = append(errs, fmt.Errorf("instance %s: declared twice", d.Name))
			continue
		}
		seen[d.Name] = true
		p, err := CheckDeclared(m.cfg.Master, m.rt, d)
		if err != nil {
			errs = append(errs, fmt.Errorf("instance %s: %w", d.Name, err))
			continue
		}
		parsed[i] = p
	}
	if len(errs) > 0 {
		return Reconciled{}, errors.Join(errs...)
	}
	m.mu.RLock()
	closed, started := m.closed, m.started
	owned := make(map[string]*instance)
	for _, in := range m.sortedLocked() {
		if in.owner.source == SourceFile {
			owned[in.owner.name] = in
		}
	}
	m.mu.RUnlock()
	if closed {
		return Reconciled{}, errClosed
	}
	var res Reconciled
	for _, name := range slices.Sorted(maps.Keys(owned)) {
		if seen[name] {
			continue
		}
		if err := m.remove(owned[name]); err != nil {
			return res, fmt.Errorf("instance %s: delete: %w", name, err)
		}
		res.Deleted = append(res.Deleted, name)
	}
	for i, d := range decl {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		in := owned[d.Name]
		sameURL := false
		if in != nil {
			m.mu.RLock()
			sameURL = in.url == parsed[i].String()
			m.mu.RUnlock()
		}
		var err error
		switch {
		case in == nil:
			err = m.createDeclared(file, d, parsed[i], started)
			res.Created = append(res.Created, d.Name)
		case !sameURL:
			err = m.replaceDeclared(in, file, d, parsed[i], started)
			res.Replaced = append(res.Replaced, d.Name)
		default:
			m.mu.Lock()
			changed := m.applyDeclaredLocked(in, file, d)
			m.mu.Unlock()
			if !changed {
				res.Unchanged = append(res.Unchanged, d.Name)
				continue
			}
			m.persist()
			res.Updated = append(res.Updated, d.Name)
		}
		if err != nil {
			return res, fmt.Errorf("instance %s: %w", d.Name, err)
		}
	}
	return res, nil
}

// createDeclared adds the instance d (URL parsed) owned by file, and
// starts it if the manager has started.
func (m *Manager) createDeclared(file string, d Declared, parsed *conf.Instance, start bool) error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return errClosed
	}
	in := m.newInstance(m.newInstanceIDLocked(), time.Now())
	in.setURLLocked(parsed)
	in.owner = owner{source: SourceFile, name: d.Name}
	m.applyDeclaredLocked(in, file, d)
	m.byID[in.id] = in
	m.publishLocked(events.Create, m.viewLocked(in), "")
	m.mu.Unlock()
	m.persist()
	m.log.Info("Instance created", "instance", in.id, "name", d.Name, "file", file, "url", parsed.Redacted())
	if !start {
		return nil
	}
	return m.runSync(in, func() { m.doStart(in) })
}

// replaceDeclared gives in the URL parsed and d's other fields, starting
// it again if the manager has started.
func (m *Manager) replaceDeclared(in *instance, file string, d Declared, parsed *conf.Instance, start bool) error {
	err := m.runSync(in, func() {
		m.swapURL(in, parsed, func() { m.applyDeclaredLocked(in, file, d) })
		if start {
			m.pause()
			m.doStart(in)
		}
	})
	if err == nil {
		m.log.Info("Instance replaced", "instance", in.id, "name", d.Name, "file", file, "url", parsed.Redacted())
	}
	return err
}

// applyDeclaredLocked gives in d's alias, restart policy and tags, and
// file as its owner, announcing a change; it reports whether there was
// one.
func (m *Manager) applyDeclaredLocked(in *instance, file string, d Declared) bool {
	tags := maps.Clone(d.Tags)
	if tags == nil {
		tags = map[string]string{}
	}
	changed := in.alias != d.Alias || in.restart != d.Restart || !maps.Equal(in.meta.Tags, tags) || in.owner.file != file
	in.alias, in.restart, in.meta.Tags, in.owner.file = d.Alias, d.Restart, tags, file
	if changed && m.byID[in.id] == in {
		m.publishLocked(events.Update, m.viewLocked(in), "")
	}
	return changed
}
