package e2e

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/burrowproject/burrow/internal/testutil"
	"github.com/burrowproject/burrow/test/e2e/framework"
)

// dnsName is the target name the dns= spec resolves through its own hosts
// file.
const dnsName = "backend.burrow-dns.test"

// namedServer answers every connection on addr with its name and closes,
// until the test ends or stop (which closes the listener) is called.
func namedServer(t *testing.T, addr, name string) (stop func()) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	testutil.ServeListener(t, ln, func(c net.Conn) { _, _ = c.Write([]byte(name)) })
	return func() { _ = ln.Close() }
}

// answer connects to addr and returns what the server there said.
func answer(t *testing.T, addr string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("connect %s: %v", addr, err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read from %s: %v (got %q)", addr, err, b)
	}
	return string(b)
}

// dnsClient starts a single-end client forwarding listen to dnsName:port,
// in a mount namespace of its own whose /etc/hosts is hosts, so the spec
// decides what the name resolves to (and changes it) without touching the
// machine's resolver.
func dnsClient(t *testing.T, f *framework.Framework, name, hosts string, listen, port int, ttl string) {
	t.Helper()
	bin, err := framework.Binary()
	if err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("client://127.0.0.1:%d/%s:%d?mode=1&dns=%s&log=debug", listen, dnsName, port, ttl)
	p := f.Command(name, "unshare", "--mount", "sh", "-c", `mount --bind "$0" /etc/hosts && exec "$1" "$2"`, hosts, bin, url)
	p.MustWaitLog("instance running", ready)
}

// writeHosts makes path resolve dnsName to ip (in place: the namespace
// has the file's inode bind-mounted).
func writeHosts(t *testing.T, path, ip string) {
	t.Helper()
	if err := os.WriteFile(path, []byte("127.0.0.1 localhost\n"+ip+" "+dnsName+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// dns=: resolved target names are cached for the TTL, resolved again once
// it has passed, and at once when every cached address fails, so a moved
// backend costs no user a failed connection.
func TestDNSCacheFollowsTheName(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("needs root, to give the client a mount namespace with its own /etc/hosts")
	}
	if out, err := exec.Command("unshare", "--mount", "true").CombinedOutput(); err != nil {
		t.Skipf("no mount namespaces here (unshare --mount: %v %s)", err, strings.TrimSpace(string(out)))
	}
	f := framework.New(t)
	// The same port on two loopback addresses: A before the name moves, B after.
	var stopA func()
	var port int
	for range 20 {
		ln, err := net.Listen("tcp", "127.0.0.2:0")
		if err != nil {
			t.Fatal(err)
		}
		port = ln.Addr().(*net.TCPAddr).Port
		_ = ln.Close()
		if probe, err := net.Listen("tcp", "127.0.0.3:"+strconv.Itoa(port)); err == nil {
			_ = probe.Close()
			break
		}
	}
	stopA = namedServer(t, "127.0.0.2:"+strconv.Itoa(port), "A")
	namedServer(t, "127.0.0.3:"+strconv.Itoa(port), "B")

	short, long := filepath.Join(f.Dir(), "hosts-short"), filepath.Join(f.Dir(), "hosts-long")
	writeHosts(t, short, "127.0.0.2")
	writeHosts(t, long, "127.0.0.2")
	shortPort, longPort := f.Port(), f.Port()
	dnsClient(t, f, "client-dns-1s", short, shortPort, port, "1s")
	dnsClient(t, f, "client-dns-1h", long, longPort, port, "1h")
	for _, p := range []int{shortPort, longPort} {
		if got := answer(t, framework.Addr(p)); got != "A" {
			t.Fatalf("before the name moved: %q, want A", got)
		}
	}

	// The name moves to B.
	writeHosts(t, short, "127.0.0.3")
	writeHosts(t, long, "127.0.0.3")

	// dns=1s resolves again once its TTL has passed (the system resolver
	// may itself keep a hosts file a few seconds).
	deadline := time.Now().Add(20 * time.Second)
	for answer(t, framework.Addr(shortPort)) != "B" {
		if time.Now().After(deadline) {
			t.Fatal("dns=1s still reaches the old address 20 s after the name moved")
		}
		time.Sleep(200 * time.Millisecond)
	}
	// dns=1h keeps the cached address, well past what the resolver itself
	// would keep.
	for end := time.Now().Add(7 * time.Second); time.Now().Before(end); time.Sleep(500 * time.Millisecond) {
		if got := answer(t, framework.Addr(longPort)); got != "A" {
			t.Fatalf("dns=1h resolved again within its TTL: %q, want the cached A", got)
		}
	}
	// Once the cached address fails, it resolves again within the same
	// connection: the user reaches B, with no failed connection.
	stopA()
	for range 5 {
		if got := answer(t, framework.Addr(longPort)); got != "B" {
			t.Fatalf("after the cached address failed: %q, want B at once", got)
		}
	}
}
