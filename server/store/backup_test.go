package store

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// Every save keeps the state it replaces as the backup, so a state file
// damaged after any save (not only after a restart) loses at most the last
// change.
func TestSaveKeepsPreviousStateAsBackup(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	first, second := sample(), sample()
	second.MasterAlias = "second"
	if err := s.Save(first); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, backupName)); !os.IsNotExist(err) {
		t.Fatalf("a backup exists before there was a previous state: %v", err)
	}
	if err := s.Save(second); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, backupName))
	if err != nil {
		t.Fatal(err)
	}
	var got State
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	if got.MasterAlias != first.MasterAlias {
		t.Fatalf("backup holds master alias %q, want the previous save's %q", got.MasterAlias, first.MasterAlias)
	}
	if err := os.WriteFile(filepath.Join(dir, FileName), []byte(`{"version":`), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := s.Load()
	if err == nil || st.MasterAlias != first.MasterAlias {
		t.Fatalf("load of a damaged file: state %+v, err %v; want the backup and a corrupt-file error", st, err)
	}
}
