package framework

import (
	"fmt"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"
)

// This file drives a master: `burrow master://...` with a shared bridge and
// a data directory, its API key read from the log, started, stopped and
// restarted. Its admin API client is in api.go, its event stream reader in
// sse.go.

// Log lines of the master's CLI contract.
const (
	LogMasterStarted = "Master started: "
	LogKeyCreated    = "API Key created: "
	LogKeyLoaded     = "API Key loaded: "
)

// masterReady bounds how long a master may take to log its key (generous:
// the binary may be built with -race and auto-start instances).
const masterReady = 15 * time.Second

// apiTimeout bounds one API request (not SSE streams).
const apiTimeout = 20 * time.Second

// keyLine matches the key line: the whole key when created, a masked one
// (first and last four characters) when loaded.
var keyLine = regexp.MustCompile(`API Key (created: ([0-9a-f]{32})\b|loaded: [0-9a-f]{4}…[0-9a-f]{4} )`)

// Master is one burrow master process with its ports, data directory and
// the API key it logged on its current run.
type Master struct {
	*Process
	f          *Framework
	Port       int    // API port
	BridgePort int    // shared bridge port
	DataDir    string // data= directory (absolute)
	Root       string // http://127.0.0.1:PORT/api/v1
	ConfigPath string // the config file of a master run with -c (MasterWithConfig)

	mu        sync.Mutex
	key       string
	created   bool // the current run logged "API Key created"
	transport *http.Transport
	client    *http.Client
}

// Master starts `burrow "master://127.0.0.1:PORT/api?log=debug&bridge=127.0.0.1:BPORT&data=DIR"`
// and waits until it logs its API key. extraQuery is appended to the URL's
// query ("tls=1", ...).
func (f *Framework) Master(name string, extraQuery ...string) *Master {
	f.t.Helper()
	m := f.newMaster(name)
	q := []string{"log=debug", fmt.Sprintf("bridge=127.0.0.1:%d", m.BridgePort), "data=" + m.DataDir}
	q = append(q, extraQuery...)
	url := fmt.Sprintf("master://127.0.0.1:%d/api?%s", m.Port, strings.Join(q, "&"))
	m.Process = f.Burrow(name, url)
	m.MustWaitReady()
	return m
}

// newMaster is a Master not started yet: its ports, data directory and
// API client.
func (f *Framework) newMaster(name string) *Master {
	m := &Master{
		f: f, Port: f.Port(), BridgePort: f.Port(),
		DataDir: filepath.Join(f.dir, sanitize(name)+"-data"),
	}
	m.Root = fmt.Sprintf("http://127.0.0.1:%d/api/v1", m.Port)
	m.transport = &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 16}
	m.client = &http.Client{Transport: m.transport, Timeout: apiTimeout}
	f.addCloser(func() error { m.transport.CloseIdleConnections(); return nil })
	return m
}

// BridgeAddr is the shared bridge's address.
func (m *Master) BridgeAddr() string { return Addr(m.BridgePort) }

// Key is the API key the current run logged.
func (m *Master) Key() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.key
}

// SetKey replaces the key the client sends (after a key rotation).
func (m *Master) SetKey(key string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.key = key
}

// KeyCreated reports whether the current run logged "API Key created"
// (rather than "API Key loaded").
func (m *Master) KeyCreated() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.created
}

// WaitReady waits until the current run logged "Master started" and its
// API key, and records the key.
func (m *Master) WaitReady() error {
	if err := m.WaitLog(LogMasterStarted, masterReady); err != nil {
		return err
	}
	if err := m.WaitLog("API Key ", masterReady); err != nil {
		return err
	}
	var match []string
	for range 200 { // bounded: the rest of the line follows within moments
		if match = keyLine.FindStringSubmatch(m.RunOutput()); match != nil {
			break
		}
		time.Sleep(pollInterval)
	}
	if match == nil {
		return fmt.Errorf("%s logged no API key line (a new 32-hex key, or a masked loaded one); last lines:\n%s", m.name, tail(m.RunOutput(), 15))
	}
	key, created := match[2], match[2] != ""
	if !created {
		var err error
		if key, err = m.f.ReadKey(m.DataDir); err != nil {
			return err
		}
		if strings.Contains(m.RunOutput(), key) {
			return fmt.Errorf("%s logged its loaded API key in full", m.name)
		}
	}
	m.mu.Lock()
	m.key, m.created = key, created
	m.mu.Unlock()
	return nil
}

// ReadKey runs `burrow key -data dir` and returns the key it prints.
func (f *Framework) ReadKey(dir string) (string, error) {
	p := f.Burrow("key", "key", "-data", dir)
	code, err := p.Wait(masterReady)
	out := strings.TrimSpace(p.Output())
	if err != nil || code != 0 || !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(out) {
		return "", fmt.Errorf("burrow key -data %s: exit %d, %v, printed %q", dir, code, err, out)
	}
	return out, nil
}

// MustWaitReady is WaitReady failing the test.
func (m *Master) MustWaitReady() {
	m.f.t.Helper()
	if err := m.WaitReady(); err != nil {
		m.f.t.Fatalf("e2e: %v", err)
	}
}

// Terminate sends SIGTERM and waits (at most timeout) for a clean exit.
func (m *Master) Terminate(timeout time.Duration) error {
	if err := m.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	code, err := m.Wait(timeout)
	if err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("%s exited with code %d after SIGTERM", m.name, code)
	}
	return nil
}

// Start starts the master again after it exited (or restarts it: SIGTERM,
// then SIGKILL) and waits until it is ready.
func (m *Master) Start() {
	m.f.t.Helper()
	m.transport.CloseIdleConnections()
	m.Process.Restart()
	m.MustWaitReady()
}

// BridgeInfo is the bridge object of GET /info.
type BridgeInfo struct {
	Addr  string `json:"addr"`
	TLS   bool   `json:"tls"`
	FP    string `json:"fp"`
	Agent string `json:"agent"`
}

// Bridge reads the shared bridge's description from GET /info (fails the
// spec when the master reports none).
func (m *Master) Bridge() BridgeInfo {
	m.f.t.Helper()
	var info struct {
		Bridge *BridgeInfo `json:"bridge"`
	}
	if err := m.MustDo(http.StatusOK, http.MethodGet, "/info", nil).JSON(&info); err != nil {
		m.f.t.Fatalf("e2e: %v", err)
	}
	if info.Bridge == nil {
		m.f.t.Fatalf("e2e: %s reports no bridge in GET /info", m.name)
	}
	return *info.Bridge
}

// LogAgentConnected is what an agent logs once its bridge can route to it.
const LogAgentConnected = `msg="connected to bridge"`

// StartAgent starts an agent of this master's shared bridge with key
// (pinned to its certificate, see AgentURL, plus query) and waits until it
// is connected.
func (m *Master) StartAgent(name, key string, query ...string) *Process {
	m.f.t.Helper()
	a := m.f.Burrow(name, m.AgentURL(key, query...))
	a.MustWaitLog(LogAgentConnected, masterReady)
	return a
}

// AgentURL is the URL of an agent of this master's shared bridge with key:
// `client://KEY@BRIDGE?fp=FP&log=debug` pinned to the certificate GET /info
// reports, plus query (e.g. "allow=127.0.0.0/8": an agent dials only what
// it is told). Specs start the agents of a master through it.
func (m *Master) AgentURL(key string, query ...string) string {
	m.f.t.Helper()
	q := append([]string{"fp=" + m.Bridge().FP, "log=debug"}, query...)
	return fmt.Sprintf("client://%s@%s?%s", key, m.BridgeAddr(), strings.Join(q, "&"))
}
