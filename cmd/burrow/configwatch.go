package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/burrowproject/burrow/conf"
	"github.com/burrowproject/burrow/conf/file"
	"github.com/burrowproject/burrow/server/instances"
)

// reloadDebounce is how long the file must stay quiet after a change
// before it is read: an editor's save is several events.
const reloadDebounce = 300 * time.Millisecond

// reload reads the file again and applies it (see reconcile): a file that
// does not parse, or whose instances do not all pass, is refused whole and
// the running set stays as it is.
func (s *configSource) reload(ctx context.Context, m *master, v instances.Validator) {
	refuse := func(args ...any) {
		m.log.Error("Config reload refused: the running instances are unchanged", append([]any{"file", s.path}, args...)...)
	}
	c, err := file.Load(s.path)
	if err != nil {
		refuse("problems", logProblems(m.log, err))
		return
	}
	if c.Master == nil {
		refuse("err", "the file no longer declares a master")
		return
	}
	if c.Master.Inst.String() != m.inst.String() {
		m.log.Warn("Config file: [master] changed; restart the master to apply it (its instances are applied now)", "file", s.path)
	}
	switch err := s.reconcile(ctx, c, m, v); {
	case errors.Is(err, errRefused):
		refuse("err", err)
	case err != nil:
		m.log.Error("Config reload failed", "file", s.path, "err", err)
	}
}

// logProblems logs each problem of a file that did not load and returns
// how many there were.
func logProblems(log *slog.Logger, err error) int {
	var fe *file.Error
	if !errors.As(err, &fe) {
		log.Error("Config file problem", "problem", err)
		return 1
	}
	for _, p := range fe.Problems {
		log.Error("Config file problem", "problem", fe.Format(p))
	}
	return len(fe.Problems)
}

// watchAgent watches an agent's file (see watch): every edit that loads
// and still declares an agent arrives on the channel, newest only; an edit
// that does not is refused with its problems logged, and the agent keeps
// running as it was. wait returns once the watcher has stopped (ctx).
func (s *configSource) watchAgent(ctx context.Context, log *slog.Logger) (<-chan *conf.Instance, func()) {
	next := make(chan *conf.Instance, 1)
	wait := s.watch(ctx, log, func(context.Context) {
		c, err := file.Load(s.path)
		switch {
		case err != nil:
			n := logProblems(log, err)
			log.Error("Config reload refused: the agent keeps running as it was", "file", s.path, "problems", n)
			return
		case c.Agent == nil:
			log.Error("Config reload refused: the file no longer declares an agent", "file", s.path)
			return
		}
		select { // keep only the newest edit
		case <-next:
		default:
		}
		next <- c.Agent.Inst
	})
	return next, wait
}

// changedBy reports whether ev wrote the file or put a new one in its
// place (a rename over it is a Create); a removal is not a change to
// apply: the file is being replaced, or SIGHUP will say so.
func (s *configSource) changedBy(ev fsnotify.Event) bool {
	return filepath.Clean(ev.Name) == s.path && ev.Op&(fsnotify.Write|fsnotify.Create) != 0
}

// watch reloads the file on SIGHUP and whenever it changes, until ctx
// ends; the returned function waits for that. It watches the directory,
// so an editor that writes a new file and renames it over the old one is
// seen too, and waits for reloadDebounce of quiet before reading. When the
// directory cannot be watched, SIGHUP still reloads.
func (s *configSource) watch(ctx context.Context, log *slog.Logger, reload func(context.Context)) (wait func()) {
	var events <-chan fsnotify.Event
	var errs <-chan error
	w, err := fsnotify.NewWatcher()
	if err == nil {
		if err = w.Add(filepath.Dir(s.path)); err != nil {
			_ = w.Close()
		}
	}
	if err != nil {
		log.Error("Config file not watched: reload it with SIGHUP", "file", s.path, "err", err)
	} else {
		events, errs = w.Events, w.Errors
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer signal.Stop(hup)
		if events != nil {
			defer w.Close()
		}
		quiet := time.NewTimer(time.Hour)
		quiet.Stop()
		defer quiet.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				reload(ctx)
			case ev, ok := <-events:
				if !ok {
					events = nil
					continue
				}
				if s.changedBy(ev) {
					quiet.Reset(reloadDebounce)
				}
			case <-quiet.C:
				reload(ctx)
			case err, ok := <-errs:
				if !ok {
					errs = nil
					continue
				}
				log.Warn("Config file watch", "file", s.path, "err", err)
			}
		}
	}()
	return func() { <-done }
}
