package framework

import (
	"fmt"
	"os"
	"path/filepath"
)

// This file runs a master from a config file: `burrow -c FILE`.

// MasterWithConfig starts `burrow -c FILE` for a master the file declares:
// the framework writes its [master] table (the API on 127.0.0.1:PORT, the
// shared bridge, the data directory, log=debug), then body (the spec's
// [instances.NAME] tables), and adds env ("KEY=value") to the master's
// environment. It waits until the master is ready.
func (f *Framework) MasterWithConfig(name, body string, env ...string) *Master {
	f.t.Helper()
	m := f.newMaster(name)
	m.ConfigPath = filepath.Join(f.dir, sanitize(name)+"-config", "burrow.toml")
	if err := os.MkdirAll(filepath.Dir(m.ConfigPath), 0o755); err != nil {
		f.t.Fatalf("e2e: %v", err)
	}
	m.WriteConfig(body)
	bin, err := Binary()
	if err != nil {
		f.t.Fatalf("e2e: %v", err)
	}
	m.Process = f.CommandEnv(name, env, bin, "-c", m.ConfigPath)
	m.MustWaitReady()
	return m
}

// WriteConfig replaces the master's config file by its [master] table and
// body the way editors save: a new file renamed over the old one.
func (m *Master) WriteConfig(body string) {
	m.f.t.Helper()
	head := fmt.Sprintf("[master]\nlisten = %q\nlog = \"debug\"\nbridge = %q\ndata = %q\n\n",
		Addr(m.Port), Addr(m.BridgePort), m.DataDir)
	tmp := m.ConfigPath + ".tmp"
	if err := os.WriteFile(tmp, []byte(head+body), 0o600); err != nil {
		m.f.t.Fatalf("e2e: %v", err)
	}
	if err := os.Rename(tmp, m.ConfigPath); err != nil {
		m.f.t.Fatalf("e2e: %v", err)
	}
}
