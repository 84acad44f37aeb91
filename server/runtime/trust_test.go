package runtime_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/burrowproject/burrow/internal/testutil"
	"github.com/burrowproject/burrow/internal/tlsx"
	"github.com/burrowproject/burrow/server/runtime"
)

// A server:// run by a master serves the master's certificate, so an agent
// pins it; at tls=1 it refuses plain agents, at tls=0 it takes them.
func TestServerUsesMasterCertificate(t *testing.T) {
	t.Parallel()
	cert, _, err := tlsx.Persistent(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	fp := tlsx.Fingerprint(cert.Certificate[0])
	rt := runtime.New(runtime.Options{BridgeCert: &cert})
	echo := echoBoth(t)

	bridgePort, user := port(t), "127.0.0.1:"+strconv.Itoa(port(t))
	srv := start(t, rt, "srv", fmt.Sprintf("server://k@127.0.0.1:%d/%s?tls=1", bridgePort, user))
	plain := start(t, rt, "plain", fmt.Sprintf("client://k@127.0.0.1:%d/127.0.0.1:%d?tls=0", bridgePort, echo))
	testutil.Eventually(t, testutil.Wait, 10*time.Millisecond, func() bool {
		err := plain.Health()
		return err != nil && strings.Contains(err.Error(), "tls required")
	}, "plain agent refused by a tls=1 server")
	start(t, rt, "cli", fmt.Sprintf("client://k@127.0.0.1:%d/127.0.0.1:%d?fp=%s", bridgePort, echo, fp))
	testutil.Eventually(t, testutil.Wait, 10*time.Millisecond, func() bool { return srv.Stats().Pool == 1 }, "pinned agent connected")
	tcpEcho(t, user, 100)

	bridge0, user0 := port(t), "127.0.0.1:"+strconv.Itoa(port(t))
	srv0 := start(t, rt, "srv0", fmt.Sprintf("server://k0@127.0.0.1:%d/%s", bridge0, user0))
	start(t, rt, "plain0", fmt.Sprintf("client://k0@127.0.0.1:%d/127.0.0.1:%d?tls=0", bridge0, echo))
	testutil.Eventually(t, testutil.Wait, 10*time.Millisecond, func() bool { return srv0.Stats().Pool == 1 }, "plain agent on a tls=0 server")
	tcpEcho(t, user0, 100)
}

// An agent's ca= bundle verifies a bridge whose certificate it signed; an
// unreadable bundle fails the start with its name.
func TestClientCABundle(t *testing.T) {
	t.Parallel()
	rt := runtime.New(runtime.Options{})
	echo := echoBoth(t)
	crt, key, _ := testutil.CertFiles(t, "localhost")
	bridgePort := port(t)
	tcpInst := start(t, rt, "t", fmt.Sprintf("tcp://127.0.0.1:%d/127.0.0.1:%d?agent=ak&bridge=127.0.0.1:%d&bridgetls=2&bridgecrt=%s&bridgekey=%s", port(t), echo, bridgePort, crt, key))
	start(t, rt, "c", fmt.Sprintf("client://ak@127.0.0.1:%d?ca=%s&sni=localhost&allow=127.0.0.1:%d", bridgePort, crt, echo))
	testutil.Eventually(t, testutil.Wait, 10*time.Millisecond, func() bool { return tcpInst.Stats().Pool == 1 }, "agent verified the bridge by its CA bundle")

	missing := filepath.Join(t.TempDir(), "none.pem")
	_, err := rt.Start(context.Background(), "bad", parse(t, "client://k@127.0.0.1:1?ca="+missing), nil)
	if err == nil || !strings.Contains(err.Error(), "none.pem") {
		t.Fatalf("start with a missing ca=: %v", err)
	}
}

// A targetless agent without fp= refuses a self-signed bridge with the
// fingerprint and the fp= to add.
func TestTargetlessAgentRefusesUnpinnedBridge(t *testing.T) {
	t.Parallel()
	rt := runtime.New(runtime.Options{})
	crt, key, fp := testutil.CertFiles(t, "localhost")
	bridgePort := port(t)
	start(t, rt, "t", fmt.Sprintf("tcp://127.0.0.1:%d/127.0.0.1:1?agent=ak&bridge=127.0.0.1:%d&bridgetls=2&bridgecrt=%s&bridgekey=%s", port(t), bridgePort, crt, key))
	cli := start(t, rt, "c", fmt.Sprintf("client://ak@127.0.0.1:%d?allow=127.0.0.1:1", bridgePort))
	testutil.Eventually(t, testutil.Wait, 10*time.Millisecond, func() bool {
		err := cli.Health()
		return err != nil && strings.Contains(err.Error(), "not trusted") && strings.Contains(err.Error(), "add fp="+fp)
	}, "targetless agent refuses the unpinned certificate")
}
