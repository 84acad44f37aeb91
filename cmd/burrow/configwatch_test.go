package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
)

// waitReload waits for one call of the watcher's reload, failing after a
// bound that only a broken watcher reaches.
func waitReload(t *testing.T, reloads <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-reloads:
	case <-time.After(10 * time.Second):
		t.Fatalf("no reload after %s", what)
	}
}

func TestWatchReloadsOnRenameReplaceWriteAndSIGHUP(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "burrow.toml")
	if err := os.WriteFile(path, []byte("# v1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := &configSource{path: path}
	reloads := make(chan struct{}, 16)
	ctx, cancel := context.WithCancel(context.Background())
	wait := s.watch(ctx, slog.New(slog.DiscardHandler), func(context.Context) { reloads <- struct{}{} })
	defer func() { cancel(); wait() }()

	// An editor's save: a new file renamed over the old one.
	tmp := filepath.Join(dir, ".burrow.toml.swp")
	if err := os.WriteFile(tmp, []byte("# v2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	waitReload(t, reloads, "a rename over the file")
	// A write in place, several events: one reload once it is quiet.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if _, err := f.WriteString("# more\n"); err != nil {
			t.Fatal(err)
		}
	}
	_ = f.Close()
	waitReload(t, reloads, "writes in place")
	for len(reloads) > 0 { // bounded: the buffer holds at most 16
		<-reloads // a loaded machine may have split the writes' quiet period
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitReload(t, reloads, "SIGHUP")
}

func TestWatchChangedBy(t *testing.T) {
	s := &configSource{path: "/etc/burrow/burrow.toml"}
	for _, c := range []struct {
		ev   fsnotify.Event
		want bool
	}{
		{fsnotify.Event{Name: "/etc/burrow/burrow.toml", Op: fsnotify.Write}, true},
		{fsnotify.Event{Name: "/etc/burrow/burrow.toml", Op: fsnotify.Create}, true}, // renamed over it
		{fsnotify.Event{Name: "/etc/burrow/burrow.toml", Op: fsnotify.Remove}, false},
		{fsnotify.Event{Name: "/etc/burrow/burrow.toml", Op: fsnotify.Rename}, false}, // moved away
		{fsnotify.Event{Name: "/etc/burrow/burrow.toml", Op: fsnotify.Chmod}, false},
		{fsnotify.Event{Name: "/etc/burrow/other.toml", Op: fsnotify.Write}, false},
		{fsnotify.Event{Name: "/etc/burrow/.burrow.toml.swp", Op: fsnotify.Create}, false},
	} {
		if got := s.changedBy(c.ev); got != c.want {
			t.Errorf("%v: %v, want %v", c.ev, got, c.want)
		}
	}
}
