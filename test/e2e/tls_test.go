package e2e

import (
	"fmt"
	"regexp"
	"testing"
	"time"

	"github.com/burrowproject/burrow/internal/testutil"
	"github.com/burrowproject/burrow/test/e2e/framework"
)

var fpPattern = regexp.MustCompile(`msg="bridge certificate" fp=([0-9a-f]{64})`)

// startTLSServer starts a server with the given tls query and returns the
// pair and the fingerprint its bridge logged.
func startTLSServer(f *framework.Framework, query string) (*pair, string) {
	t := f.T()
	t.Helper()
	p := &pair{f: f, key: newKey(t), bridgePort: f.Port(), userPort: f.Port()}
	p.server = f.Burrow("server", fmt.Sprintf("server://%s@127.0.0.1:%d/127.0.0.1:%d?log=debug&%s", p.key, p.bridgePort, p.userPort, query))
	p.server.MustWaitLog(logBridgeListening, ready)
	m := fpPattern.FindStringSubmatch(p.server.RunOutput())
	if m == nil {
		t.Fatalf("server logged no certificate fingerprint:\n%s", p.server.RunOutput())
	}
	return p, m[1]
}

// A self-signed bridge (tls=1) logs its fingerprint; an agent pinned to it
// carries traffic, an agent pinned to another certificate is refused
// before it says hello, an agent with its own target and no fp= (a
// NodePass pair's client end) connects over TLS with a warning naming the
// fingerprint, and a plain (tls=0) agent is refused: the bridge requires TLS.
func TestTLSSelfSignedWithPinning(t *testing.T) {
	t.Parallel()
	f := framework.New(t)
	echo := f.TCPEcho()
	p, fp := startTLSServer(f, "tls=1")

	wrong := f.Burrow("wrong-pin", fmt.Sprintf("client://%s@%s/%s?log=debug&fp=%s", p.key, p.bridge(), echo, "00"+fp[2:]))
	waitLogLine(t, wrong, ready, "connect to bridge failed", "does not match fp=")
	if p.server.Exited() {
		t.Fatal("server exited after a bad TLS client")
	}

	pinned := f.Burrow("pinned", fmt.Sprintf("client://%s@%s/%s?log=debug&fp=%s", p.key, p.bridge(), echo, fp))
	waitLogLine(t, pinned, ready, logConnected, "tls=true")
	// The agent logs first; the bridge pools its session a moment later.
	p.server.MustWaitLog(logAgentConnected, ready)
	f.ExpectTCPEcho(p.user()).Payload(framework.RandomBytes(256 << 10)).Timeout(10 * time.Second).Ensure()

	loose := f.Burrow("unpinned", fmt.Sprintf("client://%s@%s/%s?log=debug", p.key, p.bridge(), echo))
	waitLogLine(t, loose, ready, "level=WARN", "bridge certificate is not verified", "add fp="+fp+" to the agent URL")
	waitLogLine(t, loose, ready, logConnected, "tls=true")

	plain := f.Burrow("plain", fmt.Sprintf("client://%s@%s/%s?log=debug&tls=0", p.key, p.bridge(), echo))
	waitLogLine(t, plain, ready, logRefused, "tls required")
}

// tls=2 serves the certificate files; the fingerprint logged is the file's.
func TestTLSCertificateFiles(t *testing.T) {
	t.Parallel()
	f := framework.New(t)
	crtFile, keyFile, want := testutil.CertFiles(t, "localhost")
	p, fp := startTLSServer(f, "tls=2&crt="+crtFile+"&key="+keyFile)
	if fp != want {
		t.Fatalf("bridge logged fingerprint %s, the file's is %s", fp, want)
	}
	p.agent = f.Burrow("client", fmt.Sprintf("client://%s@%s/%s?log=debug&fp=%s", p.key, p.bridge(), f.TCPEcho(), fp))
	waitLogLine(t, p.agent, ready, logConnected, "tls=true")
	p.server.MustWaitLog(logAgentConnected, ready)
	f.ExpectTCPEcho(p.user()).Payload([]byte("over tls files")).Timeout(10 * time.Second).Ensure()
}
