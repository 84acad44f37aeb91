package store

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func sample() State {
	return State{
		MasterID: "0123456789abcdef", APIKey: "00112233445566778899aabbccddeeff", MasterAlias: "edge",
		Instances: []Instance{{ID: "deadbeef", URL: "server://:1/b:2", Restart: true, Mode: 1,
			Meta: Meta{Peer: Peer{SID: "s"}, Tags: map[string]string{"k": "v"}}, Counters: Counters{TCPRx: 5}}},
	}
}

func TestSaveLoadRoundTripAndPermissions(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("load of a fresh dir: %v", err)
	}
	if err := s.Save(sample()); err != nil {
		t.Fatal(err)
	}
	got, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	if got.APIKey != sample().APIKey || got.Version != Version || len(got.Instances) != 1 ||
		got.Instances[0].Meta.Tags["k"] != "v" || got.Instances[0].Counters.TCPRx != 5 {
		t.Errorf("round trip: %+v", got)
	}
	for path, want := range map[string]os.FileMode{dir: 0o700, s.Path(): 0o600, filepath.Join(dir, backupName): 0o600} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s mode %v, want %v", path, fi.Mode().Perm(), want)
		}
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), tempPrefix) {
			t.Errorf("temporary file left: %s", e.Name())
		}
	}
}

func TestStaleTempFilesRemoved(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, tempPrefix+"123")
	if err := os.WriteFile(stale, []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, fs.ErrNotExist) {
		t.Error("stale temporary file kept")
	}
}

func TestCorruptFileMovedAside(t *testing.T) {
	for name, content := range map[string]string{
		"truncated": `{"version":1,"api_key":"00112233445566778899aabbccddeeff","instances":[{"id":"dead`,
		"garbage":   "\x00\x01not json",
		"empty":     "",
		"no key":    `{"version":1,"instances":[]}`,
		"dup ids":   `{"version":1,"api_key":"k","instances":[{"id":"a"},{"id":"a"}]}`,
		"trailing":  `{"version":1,"api_key":"k"} {}`,
		"version":   `{"version":99,"api_key":"k"}`,
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			s, _ := Open(dir)
			if err := os.WriteFile(s.Path(), []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := s.Load()
			var ce *CorruptError
			if !errors.As(err, &ce) || ce.Recovered {
				t.Fatalf("load: %v", err)
			}
			if !strings.Contains(err.Error(), "corrupt") || !strings.Contains(err.Error(), ce.MovedTo) {
				t.Errorf("message %q", err)
			}
			if !strings.HasPrefix(filepath.Base(ce.MovedTo), "state.json.corrupt-") {
				t.Errorf("moved to %s", ce.MovedTo)
			}
			kept, err := os.ReadFile(ce.MovedTo)
			if err != nil || string(kept) != content {
				t.Errorf("corrupt file not kept intact: %v", err)
			}
			if _, err := os.Stat(s.Path()); !errors.Is(err, fs.ErrNotExist) {
				t.Error("corrupt file still in place")
			}
		})
	}
}

func TestCorruptFileRecoveredFromBackup(t *testing.T) {
	dir := t.TempDir()
	s, _ := Open(dir)
	if err := s.Save(sample()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(); err != nil { // a good load refreshes the backup
		t.Fatal(err)
	}
	if err := os.WriteFile(s.Path(), []byte(`{"version":1,"api_`), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := s.Load()
	var ce *CorruptError
	if !errors.As(err, &ce) || !ce.Recovered || got.APIKey != sample().APIKey {
		t.Fatalf("recovery: %+v %v", got, err)
	}
	if !strings.Contains(err.Error(), "recovered") {
		t.Errorf("message %q", err)
	}
}

func TestConcurrentSaves(t *testing.T) {
	s, _ := Open(t.TempDir())
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := sample()
			st.MasterAlias = strings.Repeat("x", i)
			if err := s.Save(st); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if _, err := s.Load(); err != nil {
		t.Fatalf("state after concurrent saves: %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	if _, err := Open(""); err == nil {
		t.Error("empty dir accepted")
	}
	file := filepath.Join(t.TempDir(), "f")
	_ = os.WriteFile(file, nil, 0o600)
	if _, err := Open(filepath.Join(file, "sub")); err == nil {
		t.Error("dir under a file accepted")
	}
}
