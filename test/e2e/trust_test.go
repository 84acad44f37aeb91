package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/burrowproject/burrow/internal/testutil"
	"github.com/burrowproject/burrow/test/e2e/framework"
)

// The specs of what an agent trusts and dials (issue 9, parts 2 and 3).
// Every agent here is started by startTrustAgent.

// startTrustAgent starts `burrow URL` for an agent of this file.
func startTrustAgent(f *framework.Framework, name, url string) *framework.Process {
	f.T().Helper()
	return f.Burrow(name, url)
}

// firstBytes listens on a loopback port, starts an agent with query
// against it and returns the first bytes the agent sends.
func firstBytes(t *testing.T, f *framework.Framework, name, key, path, query string) []byte {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	startTrustAgent(f, name, fmt.Sprintf("client://%s@%s%s?log=debug&%s", key, ln.Addr(), path, query))
	_ = ln.(*net.TCPListener).SetDeadline(time.Now().Add(ready))
	c, err := ln.Accept()
	if err != nil {
		t.Fatalf("%s never dialled the listener: %v", name, err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(ready))
	buf := make([]byte, 2048)
	n, err := io.ReadAtLeast(c, buf, 6)
	if err != nil {
		t.Fatalf("%s sent %d bytes: %v", name, n, err)
	}
	return buf[:n]
}

// The first bytes an agent sends are a TLS ClientHello, never its hello
// (which carries the key), whether it has targets or not; only tls=0
// sends the hello, key included, in clear text.
func TestAgentSendsClientHelloFirst(t *testing.T) {
	t.Parallel()
	f := framework.New(t)
	key := newKey(t)
	for _, c := range []struct{ name, path, query string }{
		{"targetless", "", "allow=127.0.0.1:1"},
		{"pair-end", "/127.0.0.1:1", ""},
		{"pinned", "", "fp=" + strings.Repeat("ab", 32)},
	} {
		b := firstBytes(t, f, c.name, key, c.path, c.query)
		// A TLS handshake record (0x16, version 3.x) holding a ClientHello (1).
		if b[0] != 0x16 || b[1] != 3 || b[5] != 1 {
			t.Errorf("%s: first bytes % x are not a TLS ClientHello", c.name, b[:6])
		}
		if bytes.Contains(b, []byte(key)) || bytes.Contains(b, []byte("BRRW")) {
			t.Errorf("%s: the agent's hello (with its key) travelled before TLS", c.name)
		}
	}
	plain := firstBytes(t, f, "plain", key, "/127.0.0.1:1", "tls=0")
	if !bytes.HasPrefix(plain, []byte("BRRW")) {
		t.Fatalf("tls=0 agent sent % x, want its plain hello", plain[:6])
	}
}

// An agent dials its own targets and what allow= lists, nothing else: a
// link to a foreign target is refused with a verdict that says so, which
// the master logs and counts as agent_not_allowed; an agent with neither
// targets nor allow= says at start how to allow some and refuses all.
func TestAgentRefusesForeignTarget(t *testing.T) {
	t.Parallel()
	f := framework.New(t)
	m := f.Master("master")
	allowed, foreign := f.TCPEcho(), f.TCPEcho()
	key, bare := newKey(t), newKey(t)
	okUser, foreignUser, bareUser := framework.Addr(f.Port()), framework.Addr(f.Port()), framework.Addr(f.Port())
	okID := m.Create(fmt.Sprintf("tcp://%s/%s?agent=%s", okUser, allowed, key), "allowed").ID
	foreignID := m.Create(fmt.Sprintf("tcp://%s/%s?agent=%s", foreignUser, foreign, key), "foreign").ID
	bareID := m.Create(fmt.Sprintf("tcp://%s/%s?agent=%s", bareUser, allowed, bare), "bare").ID

	agent := startTrustAgent(f, "agent", m.AgentURL(key, "allow="+allowed))
	nothing := startTrustAgent(f, "nothing", m.AgentURL(bare))
	for _, id := range []string{okID, foreignID, bareID} {
		m.WaitInstance(id, ready, "running with its agent", func(in framework.Instance) bool { return in.Status == "running" && in.Pool == 1 })
	}
	waitLogLine(t, nothing, ready, "level=WARN", "refuses every link", "add allow=host:port,10.0.0.0/8,... to its URL")

	f.ExpectTCPEcho(okUser).Payload([]byte("allowed target")).Ensure()
	f.ExpectTCPClose(foreignUser).Ensure()
	f.ExpectTCPClose(bareUser).Ensure()
	verdict := "target " + foreign + " is not allowed by this agent"
	waitLogLine(t, agent, ready, "link refused", verdict)
	waitLogLine(t, m.Process, ready, logLinkFailed, verdict)
	waitLogLine(t, nothing, ready, "link refused", "target "+allowed+" is not allowed by this agent")

	// The agent logs its refusal before the master reads it: the count is
	// polled, bounded.
	var metrics string
	for deadline := time.Now().Add(ready); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if metrics = string(m.MustDo(http.StatusOK, http.MethodGet, "//metrics", nil).Body); strings.Contains(metrics, `burrow_link_errors_total{reason="agent_not_allowed"} 2`) {
			break
		}
	}
	if !strings.Contains(metrics, `burrow_link_errors_total{reason="agent_not_allowed"} 2`) {
		t.Fatalf("/metrics does not count the two refusals as agent_not_allowed:\n%s", grepLines(metrics, "link_errors"))
	}
	if f.ExpectTCPEcho(okUser).Payload([]byte("still fine")).Ensure(); agent.Exited() {
		t.Fatal("the agent exited after refusing a link")
	}
}

// The shared bridge's certificate lives in the data directory (0600) and
// keeps its fingerprint across a restart; the banner and GET /info give it
// and the ready agent command line, and an agent pinned to it reconnects
// after the restart and carries traffic.
func TestBridgeFingerprintSurvivesMasterRestart(t *testing.T) {
	t.Parallel()
	f := framework.New(t)
	m := f.Master("master")
	b := m.Bridge()
	crtPEM, err := os.ReadFile(filepath.Join(m.DataDir, "bridge.crt"))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(crtPEM)
	if block == nil {
		t.Fatal("bridge.crt holds no PEM block")
	}
	if sum := sha256.Sum256(block.Bytes); hex.EncodeToString(sum[:]) != b.FP {
		t.Fatalf("GET /info fp %s is not the fingerprint of bridge.crt", b.FP)
	}
	for _, name := range []string{"bridge.crt", "bridge.key"} {
		st, err := os.Stat(filepath.Join(m.DataDir, name))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v, mode %v, want 0600", name, err, st.Mode().Perm())
		}
	}
	wantAgent := fmt.Sprintf("burrow 'client://AGENT_KEY@%s?fp=%s&allow=HOST:PORT'", m.BridgeAddr(), b.FP)
	if !b.TLS || b.Addr != m.BridgeAddr() || b.Agent != wantAgent {
		t.Fatalf("GET /info bridge %+v, want addr %s, tls, agent %s", b, m.BridgeAddr(), wantAgent)
	}
	m.MustWaitLog("Agent: "+wantAgent, ready)

	echo, user, key := f.TCPEcho(), framework.Addr(f.Port()), newKey(t)
	id := m.Create(fmt.Sprintf("tcp://%s/%s?agent=%s", user, echo, key), "pinned").ID
	agent := startTrustAgent(f, "agent", m.AgentURL(key, "allow="+echo))
	agent.MustWaitLog(logConnected, ready)
	m.WaitInstance(id, ready, "running with its agent", func(in framework.Instance) bool { return in.Pool == 1 })
	f.ExpectTCPEcho(user).Payload([]byte("before")).Ensure()

	m.Start() // SIGTERM, then start again on the same data directory
	if again := m.Bridge(); again.FP != b.FP {
		t.Fatalf("bridge fingerprint changed across the restart: %s, then %s", b.FP, again.FP)
	}
	if err := agent.WaitLogN(logConnected, 2, 2*ready); err != nil {
		t.Fatal(err)
	}
	m.WaitInstance(id, ready, "running with its agent again", func(in framework.Instance) bool { return in.Pool == 1 })
	f.ExpectTCPEcho(user).Payload([]byte("after the restart")).Eventually(ready).Ensure()
}

// Without fp= an agent that serves the master's instances (no targets of
// its own) refuses the self-signed bridge, naming the fingerprint and the
// fp= to add; a NodePass pair's client end (targets of its own) connects
// with a warning naming it; a plain agent is refused: tls required.
func TestUnpinnedSelfSignedBridgeRefused(t *testing.T) {
	t.Parallel()
	f := framework.New(t)
	m := f.Master("master")
	fp := m.Bridge().FP
	key := newKey(t)
	m.Create(fmt.Sprintf("tcp://%s/127.0.0.1:1?agent=%s", framework.Addr(f.Port()), key), "t")

	strict := startTrustAgent(f, "strict", fmt.Sprintf("client://%s@%s?log=debug&allow=127.0.0.1:1", key, m.BridgeAddr()))
	waitLogLine(t, strict, ready, "connect to bridge failed", "bridge certificate is not trusted (self-signed?)", "add fp="+fp+" to the agent URL to pin it, or ca=FILE")
	if strings.Contains(strict.RunOutput(), logConnected) {
		t.Fatal("an agent that refused the certificate connected")
	}

	loose := startTrustAgent(f, "pair-end", fmt.Sprintf("client://%s@%s/127.0.0.1:1?log=debug", key, m.BridgeAddr()))
	waitLogLine(t, loose, ready, "level=WARN", "bridge certificate is not verified", "add fp="+fp)
	waitLogLine(t, loose, ready, logConnected, "tls=true")

	plain := startTrustAgent(f, "plain", fmt.Sprintf("client://%s@%s/127.0.0.1:1?log=debug&tls=0", key, m.BridgeAddr()))
	waitLogLine(t, plain, ready, logRefused, "tls required")
}

// bridgetls=2 serves the certificate files on the shared bridge (the
// agent line then has no fp=: agents verify it, here by ca=); bridgetls=0
// also accepts plain agents, with a warning at start.
func TestMasterBridgeTLSModes(t *testing.T) {
	t.Parallel()
	f := framework.New(t)
	crt, key, fp := testutil.CertFiles(t, "localhost")
	files := f.Master("files", "bridgetls=2", "bridgecrt="+crt, "bridgekey="+key)
	b := files.Bridge()
	if want := fmt.Sprintf("burrow 'client://AGENT_KEY@%s?allow=HOST:PORT'", files.BridgeAddr()); b.FP != fp || b.Agent != want {
		t.Fatalf("bridgetls=2: GET /info bridge %+v, want fp %s and agent %s", b, fp, want)
	}
	echo, user, agentKey := f.TCPEcho(), framework.Addr(f.Port()), newKey(t)
	id := files.Create(fmt.Sprintf("tcp://%s/%s?agent=%s", user, echo, agentKey), "files").ID
	startTrustAgent(f, "ca-agent", fmt.Sprintf("client://%s@%s?log=debug&ca=%s&sni=localhost&allow=%s", agentKey, files.BridgeAddr(), crt, echo))
	files.WaitInstance(id, ready, "running with its agent", func(in framework.Instance) bool { return in.Pool == 1 })
	f.ExpectTCPEcho(user).Payload([]byte("verified by ca=")).Ensure()

	open := f.Master("open", "bridgetls=0")
	waitLogLine(t, open.Process, ready, "level=WARN", "bridgetls=0")
	user0, key0 := framework.Addr(f.Port()), newKey(t)
	id0 := open.Create(fmt.Sprintf("tcp://%s/%s?agent=%s", user0, echo, key0), "open").ID
	startTrustAgent(f, "plain-agent", fmt.Sprintf("client://%s@%s?log=debug&tls=0&allow=%s", key0, open.BridgeAddr(), echo))
	open.WaitInstance(id0, ready, "running with its plain agent", func(in framework.Instance) bool { return in.Pool == 1 })
	f.ExpectTCPEcho(user0).Payload([]byte("plain, opted in")).Ensure()
}
