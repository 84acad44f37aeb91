// Package e2e holds Burrow's end-to-end specs: they run the real burrow
// binary on loopback ports against the framework's mock servers. See
// framework/doc.go for how to add one.
package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/burrowproject/burrow/internal/testutil"
	"github.com/burrowproject/burrow/test/e2e/framework"
)

func TestMain(m *testing.M) { framework.Main(m) }

// ready bounds how long a process may take to log that it is up (generous:
// the binary may be built with -race).
const ready = 10 * time.Second

// Log lines of the binary's CLI contract.
const (
	logBridgeListening = `msg="bridge listening"`
	logTCPListening    = `msg="tcp listening"`
	logUDPListening    = `msg="udp listening"`
	logAgentConnected  = `msg="agent connected"`
	logLinkFailed      = `msg="link failed"`
	logConnected       = `msg="connected to bridge"`
	logRefused         = `msg="handshake refused"`
)

// pair is a NodePass-style server/client pair: the server runs a bridge and
// forwards its user port (TCP and UDP) through the agent to the agent's
// target.
type pair struct {
	f          *framework.Framework
	key        string
	bridgePort int
	userPort   int
	server     *framework.Process
	agent      *framework.Process
}

// newKey returns a fresh random agent key.
func newKey(t testing.TB) string {
	t.Helper()
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// startServer starts `burrow server://key@bridge/user` and waits for its
// bridge.
func startServer(f *framework.Framework, key string) *pair {
	f.T().Helper()
	p := &pair{f: f, key: key, bridgePort: f.Port(), userPort: f.Port()}
	p.server = f.Burrow("server", fmt.Sprintf("server://%s@127.0.0.1:%d/127.0.0.1:%d?log=debug", key, p.bridgePort, p.userPort))
	p.server.MustWaitLog(logBridgeListening, ready)
	return p
}

// startAgent starts `burrow client://key@bridge/target` without waiting.
func (p *pair) startAgent(name, key, target string) *framework.Process {
	p.f.T().Helper()
	return p.f.Burrow(name, fmt.Sprintf("client://%s@127.0.0.1:%d/%s?log=debug", key, p.bridgePort, target))
}

// newPair starts a server and an agent for target and waits until the
// agent is connected and the user ports are up.
func newPair(f *framework.Framework, target string) *pair {
	f.T().Helper()
	p := startServer(f, newKey(f.T()))
	p.agent = p.startAgent("client", p.key, target)
	p.agent.MustWaitLog(logConnected, ready)
	p.server.MustWaitLog(logAgentConnected, ready)
	p.server.MustWaitLog(logTCPListening, ready)
	p.server.MustWaitLog(logUDPListening, ready)
	return p
}

// user is the address users connect to.
func (p *pair) user() string { return framework.Addr(p.userPort) }

// bridge is the bridge's address.
func (p *pair) bridge() string { return framework.Addr(p.bridgePort) }

// logLine returns the first line of out containing every one of parts.
func logLine(out string, parts ...string) (string, bool) {
	for line := range strings.SplitSeq(out, "\n") {
		all := true
		for _, s := range parts {
			if !strings.Contains(line, s) {
				all = false
				break
			}
		}
		if all {
			return line, true
		}
	}
	return "", false
}

// waitLogLine waits until proc logs a line containing every one of parts.
func waitLogLine(t testing.TB, proc *framework.Process, timeout time.Duration, parts ...string) string {
	t.Helper()
	if err := proc.WaitLog(parts[0], timeout); err != nil {
		t.Fatal(err)
	}
	var line string
	ok := testutil.Poll(timeout, 20*time.Millisecond, func() bool {
		var found bool
		line, found = logLine(proc.RunOutput(), parts...)
		return found
	})
	if !ok {
		t.Fatalf("%s logged %s but no line with all of %q", proc.Name(), parts[0], parts)
	}
	return line
}
