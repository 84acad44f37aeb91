// Package store persists the master's state (instances, API key, master id
// and alias) as one JSON file in the data directory.
//
// Every save writes a temporary file in the same directory, fsyncs it,
// renames it over the state file and fsyncs the directory, so a crash leaves
// either the old or the new state, never a torn one. A state file that fails
// to decode is never overwritten: Load moves it aside as
// state.json.corrupt-<timestamp> and reports a *CorruptError, falling back to
// the backup taken at the last successful load when there is one.
package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// File names inside the data directory.
const (
	FileName   = "state.json"     // the state
	backupName = "state.json.bak" // the state before the last save (and as loaded at start)
	tempPrefix = ".state-"        // temporary files of an unfinished save
)

// Version is the format version written into the file.
const Version = 1

// Peer is the meta.peer object of an instance.
type Peer struct {
	SID   string `json:"sid"`
	Type  string `json:"type"`
	Alias string `json:"alias"`
}

// Meta is the free-form metadata of an instance.
type Meta struct {
	Peer Peer              `json:"peer"`
	Tags map[string]string `json:"tags"`
}

// Counters are the cumulative traffic counters of an instance in bytes.
type Counters struct {
	TCPRx int64 `json:"tcprx"`
	TCPTx int64 `json:"tcptx"`
	UDPRx int64 `json:"udprx"`
	UDPTx int64 `json:"udptx"`
}

// Instance is the persisted part of one instance.
type Instance struct {
	ID       string    `json:"id"`
	URL      string    `json:"url"`
	Config   string    `json:"config"`
	Alias    string    `json:"alias"`
	Restart  bool      `json:"restart"`
	Meta     Meta      `json:"meta"`
	Mode     int       `json:"mode"`
	Counters Counters  `json:"counters"`
	Created  time.Time `json:"created"`
	// Source is "file" for an instance a config file declares, Name its
	// name there and File the file; "" (absent) for one made through the
	// API, as in every state file written before config files.
	Source string `json:"source,omitempty"`
	Name   string `json:"name,omitempty"`
	File   string `json:"file,omitempty"`
}

// State is everything the master persists.
type State struct {
	Version     int        `json:"version"`
	MasterID    string     `json:"master_id"`
	APIKey      string     `json:"api_key"`
	MasterAlias string     `json:"master_alias"`
	Instances   []Instance `json:"instances"`
}

// CorruptError reports a state file that could not be decoded. The file has
// been moved to MovedTo. When Recovered is true the state returned with the
// error comes from the backup of the last good load.
type CorruptError struct {
	Path      string
	MovedTo   string
	Recovered bool
	Err       error
}

func (e *CorruptError) Error() string {
	what := "no usable backup, starting from an empty state"
	if e.Recovered {
		what = "recovered the state of the last successful start from " + backupName
	}
	return fmt.Sprintf("state file %s is corrupt (%v): moved it to %s; %s", e.Path, e.Err, e.MovedTo, what)
}

func (e *CorruptError) Unwrap() error { return e.Err }

// Store reads and writes the state file of one data directory. Save is safe
// for concurrent use; saves are serialised.
type Store struct {
	dir  string
	path string
	now  func() time.Time
	mu   sync.Mutex
}

// Open prepares dir (created with mode 0700 when missing) and removes
// temporary files left by an interrupted save.
func Open(dir string) (*Store, error) {
	if dir == "" {
		return nil, errors.New("store: empty data directory")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: create data directory: %w", err)
	}
	stale, err := filepath.Glob(filepath.Join(dir, tempPrefix+"*"))
	if err != nil {
		return nil, fmt.Errorf("store: list temporary files: %w", err)
	}
	for _, f := range stale {
		if err := os.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("store: remove stale temporary file: %w", err)
		}
	}
	return &Store{dir: dir, path: filepath.Join(dir, FileName), now: time.Now}, nil
}

// Path returns the state file's path.
func (s *Store) Path() string { return s.path }

// Load reads the state. A missing file gives an error matching
// fs.ErrNotExist. A file that does not decode is moved aside and reported
// as a *CorruptError; if the backup decodes, its state is returned with it.
func (s *Store) Load() (State, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	data, err := os.ReadFile(s.path)
	if err != nil {
		return State{}, fmt.Errorf("store: read state: %w", err)
	}
	st, decodeErr := decode(data)
	if decodeErr == nil {
		if err := writeAtomic(s.dir, filepath.Join(s.dir, backupName), data); err != nil {
			return st, fmt.Errorf("store: write backup: %w", err)
		}
		return st, nil
	}
	moved := fmt.Sprintf("%s.corrupt-%s", s.path, s.now().UTC().Format("20060102T150405.000000000Z"))
	if err := os.Rename(s.path, moved); err != nil {
		return State{}, fmt.Errorf("store: state file %s is corrupt (%v) and could not be moved aside: %w", s.path, decodeErr, err)
	}
	cerr := &CorruptError{Path: s.path, MovedTo: moved, Err: decodeErr}
	if backup, err := os.ReadFile(filepath.Join(s.dir, backupName)); err == nil {
		if st, err := decode(backup); err == nil {
			cerr.Recovered = true
			return st, cerr
		}
	}
	return State{}, cerr
}

// Peek reads the state in dir without changing anything there (no backup
// written, nothing moved aside): for tools that only look, such as
// `burrow key`. A corrupt file is an error.
func Peek(dir string) (State, error) {
	path := filepath.Join(dir, FileName)
	data, err := os.ReadFile(path)
	if err != nil {
		return State{}, fmt.Errorf("store: read state: %w", err)
	}
	st, err := decode(data)
	if err != nil {
		return State{}, fmt.Errorf("store: state file %s: %w", path, err)
	}
	return st, nil
}

// decode parses a state file and checks its basic invariants.
func decode(data []byte) (State, error) {
	var st State
	dec := json.NewDecoder(strings.NewReader(string(data)))
	if err := dec.Decode(&st); err != nil {
		return State{}, fmt.Errorf("decode: %w", err)
	}
	if dec.More() {
		return State{}, errors.New("decode: trailing data after the state object")
	}
	switch {
	case st.Version != Version:
		return State{}, fmt.Errorf("unsupported format version %d (want %d)", st.Version, Version)
	case st.APIKey == "":
		return State{}, errors.New("no API key in the state")
	}
	seen := make(map[string]bool, len(st.Instances))
	for _, in := range st.Instances {
		if in.ID == "" || seen[in.ID] {
			return State{}, fmt.Errorf("missing or duplicate instance id %q", in.ID)
		}
		seen[in.ID] = true
	}
	return st, nil
}

// Save writes st atomically (temp file, fsync, rename, fsync directory)
// with file mode 0600.
func (s *Store) Save(st State) error {
	st.Version = Version
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("store: encode state: %w", err)
	}
	data = append(data, '\n')
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.keepPrevious(); err != nil {
		return err
	}
	if err := writeAtomic(s.dir, s.path, data); err != nil {
		return fmt.Errorf("store: save state: %w", err)
	}
	return nil
}

// keepPrevious makes the current state file the backup before it is
// replaced: a hard link renamed over the backup, so it is atomic, copies
// nothing, and the backup is always the last state saved whole. Without a
// state file yet there is nothing to keep.
func (s *Store) keepPrevious() error {
	tmp := filepath.Join(s.dir, tempPrefix+"bak")
	_ = os.Remove(tmp)
	if err := os.Link(s.path, tmp); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("store: keep previous state: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(s.dir, backupName)); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("store: keep previous state: %w", err)
	}
	return nil
}

// writeAtomic replaces path (in dir) by data.
func writeAtomic(dir, path string, data []byte) (err error) {
	f, err := os.CreateTemp(dir, tempPrefix+"*")
	if err != nil {
		return fmt.Errorf("create temporary file: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if err = f.Chmod(0o600); err != nil {
		return fmt.Errorf("chmod temporary file: %w", err)
	}
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("write temporary file: %w", err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("fsync temporary file: %w", err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("close temporary file: %w", err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("rename temporary file: %w", err)
	}
	return syncDir(dir)
}

// syncDir fsyncs a directory so a rename in it is durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open directory for fsync: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return fmt.Errorf("fsync directory: %w", err)
	}
	return nil
}
