package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/burrowproject/burrow/test/e2e/framework"
)

func TestCLIVersion(t *testing.T) {
	t.Parallel()
	f := framework.New(t)
	p := f.Burrow("version", "version")
	code, err := p.Wait(10 * time.Second)
	if err != nil || code != 0 {
		t.Fatalf("burrow version: exit %d, %v; want 0", code, err)
	}
	out := strings.TrimSpace(p.Output())
	if out == "" || !strings.Contains(strings.ToLower(out), "burrow") {
		t.Fatalf("burrow version printed %q, want a version line naming burrow", out)
	}
}

func TestCLIHelp(t *testing.T) {
	t.Parallel()
	f := framework.New(t)
	p := f.Burrow("help", "--help")
	code, err := p.Wait(10 * time.Second)
	if err != nil || code != 0 {
		t.Fatalf("burrow --help: exit %d, %v; want 0", code, err)
	}
	out := p.Output()
	for _, want := range []string{"usage", "server://", "client://"} {
		if !strings.Contains(strings.ToLower(out), want) {
			t.Errorf("burrow --help does not mention %q:\n%s", want, out)
		}
	}
}

// A malformed URL exits with code 2 and a message naming the problem,
// without logging the key.
func TestCLIMalformedURL(t *testing.T) {
	t.Parallel()
	// Every address uses an allocated port: if the binary wrongly accepts
	// a URL it must not bind anything that matters.
	f := framework.New(t)
	a, b := framework.Addr(f.Port()), framework.Addr(f.Port())
	for _, tc := range []struct {
		name, url, want string
	}{
		{"no scheme", a + "/" + b, "scheme"},
		{"port out of range", "server://s3cretkey@127.0.0.1:99999/" + b, "port"},
		{"port not a number", "server://s3cretkey@127.0.0.1:http/" + b, "port"},
		{"server without target", "server://s3cretkey@" + a, "target"},
		{"key with bad percent-encoding", "server://s3cretkey%zz@" + a + "/" + b, "key"},
		{"fragment", "server://s3cretkey@" + a + "/" + b + "#x", "#"},
		{"client without bridge host", "client://s3cretkey@:" + strings.Split(a, ":")[1] + "/" + b, "host"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := framework.New(t)
			p := f.Burrow("bad-url", tc.url)
			code, err := p.Wait(10 * time.Second)
			if err != nil {
				t.Fatalf("burrow %q: %v", tc.url, err)
			}
			out := p.Output()
			if code != 2 {
				t.Errorf("burrow %q: exit code %d, want 2; output:\n%s", tc.url, code, out)
			}
			if !strings.Contains(strings.ToLower(out), tc.want) {
				t.Errorf("burrow %q: message does not name %q:\n%s", tc.url, tc.want, out)
			}
			if strings.Contains(out, "s3cretkey") {
				t.Errorf("burrow %q: the key appears in the output:\n%s", tc.url, out)
			}
		})
	}
}

// `burrow key` prints a master's API key from its data directory, and
// fails clearly without one.
func TestCLIKey(t *testing.T) {
	t.Parallel()
	f := framework.New(t)
	p := f.Burrow("key-missing", "key", "-data", f.Dir()+"/nothing-here")
	code, err := p.Wait(10 * time.Second)
	if err != nil || code != 1 || !strings.Contains(p.Output(), "burrow key:") {
		t.Fatalf("burrow key on an empty dir: exit %d, %v, output %q; want 1 and a message", code, err, p.Output())
	}
	p = f.Burrow("key-extra", "key", "-data", f.Dir(), "extra")
	if code, err := p.Wait(10 * time.Second); err != nil || code != 2 {
		t.Fatalf("burrow key with an extra argument: exit %d, %v; want 2", code, err)
	}
	m := f.Master("master")
	key := m.Key()
	got, err := f.ReadKey(m.DataDir)
	if err != nil || got != key {
		t.Fatalf("burrow key = %q, %v; want the created key %q", got, err, key)
	}
}
