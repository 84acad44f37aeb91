package main

import (
	"bytes"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/burrowproject/burrow/conf/file"
	"github.com/burrowproject/burrow/internal/testutil"
)

// verify runs `burrow verify -c path` and returns its exit status and
// output.
func verify(t *testing.T, path string) (int, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run([]string{"verify", "-c", path}, &out, &errOut)
	return code, out.String()
}

func TestVerifyAcceptsTheExample(t *testing.T) {
	t.Setenv("BURROW_AGENT_KEY", "example-agent-key")
	code, out := verify(t, filepath.Join("..", "..", "packaging", "burrow.example.toml"))
	if code != 0 || !strings.Contains(out, "ok: a master on 127.0.0.1:9090 with 3 instance(s): ssh, web, dns") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	if strings.Contains(out, "example-agent-key") {
		t.Fatalf("verify printed the secret:\n%s", out)
	}
}

func TestVerifyReportsEveryProblemWithItsLine(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("BURROW_TEST_SECRET", "verysecretkey")
	src := `[master]
listen = "127.0.0.1:9090"
bridge = ":8024"
handlers = "inprocess"
data = "` + filepath.Join(dir, "data") + `"
colour = 1

[instances.a]
url = "tcp://:2222/127.0.0.1:22?agent=${env:BURROW_TEST_SECRET}&bogus=1"

[instances.b]
url = "tcp://:2223/127.0.0.1:22?agent=k"

[instances.c]
url = "tcp://:2223/127.0.0.1:22?agent=k"

[instances.d]
url = "http://:8443/127.0.0.1:80?agent=k&host=a.example&tls=2&crt=` + filepath.Join(dir, "none.crt") + `&key=` + filepath.Join(dir, "none.key") + `"

[instances.e]
url = "frob://:1/x"

[instances.f]
url = "tcp://:2224/127.0.0.1:22?agent=${env:BURROW_TEST_UNSET}"

[instances.g]
url = "client://k@127.0.0.1:8024?ca=` + filepath.Join(dir, "none.pem") + `"
`
	path := filepath.Join(dir, "bad.toml")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out := verify(t, path)
	if code != 1 {
		t.Fatalf("exit %d, want 1:\n%s", code, out)
	}
	for _, want := range []string{
		path + `:6: unknown key "colour" in [master]`,
		path + `:9: instances.a: Invalid URL format`,
		path + `:14: instances.c's listen address tcp :2223 conflicts with instances.b's listen address (line 11)`,
		path + `:18: instances.d: crt= and key=: open`,
		path + `:21: instances.e: Invalid URL scheme`,
		path + `:24: instances.f.url: environment variable BURROW_TEST_UNSET is not set or empty`,
		path + `:27: instances.g: ca=: read CA bundle`,
		path + `: 7 problem(s)`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
	if strings.Contains(out, "verysecretkey") {
		t.Fatalf("verify printed the secret:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); err == nil {
		t.Fatal("verify created the data directory")
	}
}

func TestVerifyAgentAndUsage(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "agent.toml")
	if err := os.WriteFile(path, []byte("[agent]\nurl = \"client://k@127.0.0.1:8024?fp=&allow=127.0.0.1:22\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out := verify(t, path); code != 0 || !strings.Contains(out, "ok: an agent of 127.0.0.1:8024") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	var out, errOut bytes.Buffer
	if code := run([]string{"verify"}, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "-c FILE is required") {
		t.Fatalf("verify without -c: exit %d, %s", code, errOut.String())
	}
	if code, out := verify(t, filepath.Join(dir, "missing.toml")); code != 1 || !strings.Contains(out, "no such file") {
		t.Fatalf("missing file: exit %d, %s", code, out)
	}
}

func TestIsConfigFlag(t *testing.T) {
	for arg, want := range map[string]bool{
		"-c": true, "--c": true, "-config": true, "--config": true, "-c=x.toml": true, "--config=x.toml": true,
		"c": false, "-cx": false, "master://:1/api": false, "-": false, "--configs": false,
	} {
		if got := isConfigFlag(arg); got != want {
			t.Errorf("isConfigFlag(%q) = %v", arg, got)
		}
	}
}

func TestRunConfigRefusesABadFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "burrow.toml")
	if err := os.WriteFile(path, []byte("[master]\nlisten = \"127.0.0.1:9090\"\nlog = 3.5\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := run([]string{"-c=" + path}, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), path+":3: master.log must be a string") {
		t.Fatalf("exit %d, stderr %s", code, errOut.String())
	}
}

func TestMasterRefusesAConfigWithAProblem(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "burrow.toml")
	src := "[master]\nlisten = \"127.0.0.1:9090\"\nhandlers = \"inprocess\"\ndata = \"" + filepath.Join(dir, "data") + "\"\n\n" +
		"[instances.a]\nurl = \"tcp://127.0.0.1:2222/127.0.0.1:22\"\n" // no agent=
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := file.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logs := &testutil.SyncBuffer{}
	_, err = newMaster(c.Master.Inst, slog.New(slog.NewTextHandler(logs, nil)),
		masterOptions{runtime: fakeRuntime{}, listener: ln, config: &configSource{path: path, first: c}})
	if err == nil || !strings.Contains(err.Error(), "1 problem(s)") {
		t.Fatalf("newMaster: %v", err)
	}
	if !strings.Contains(logs.String(), path+":7: instances.a: Invalid URL format") {
		t.Fatalf("the problem is not logged with its line:\n%s", logs)
	}
	if _, err := ln.Accept(); err == nil {
		t.Fatal("the API listener is still open")
	}
}
