package packaging

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/burrowproject/burrow/test/e2e/framework"
)

// makeTimeout bounds one make run (a cold build of every binary on a busy
// machine takes minutes).
const makeTimeout = 10 * time.Minute

// ready bounds a master's start.
const ready = 20 * time.Second

// The plugin binaries every build ships.
var pluginNames = []string{"burrow-http", "burrow-socks5", "burrow-tcp", "burrow-udp"}

// logPluginsOn is the master's line when its handlers run as plugins.
const logPluginsOn = `msg="handlers run as plugin processes"`

// repoRoot is the repository's top directory (where the Makefile is).
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "Makefile")); err != nil {
		t.Fatalf("no Makefile at the repository root: %v", err)
	}
	return root
}

// runMake runs make with args at the repository root and returns its
// output. The environment is this process's, without the settings that
// would change what make builds (a cross-compiling GOOS/GOARCH, a parent
// make's flags and variables).
func runMake(t *testing.T, args ...string) string {
	t.Helper()
	mk, err := exec.LookPath("make")
	if err != nil {
		t.Skipf("make is not on PATH: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), makeTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, mk, args...)
	cmd.Dir = repoRoot(t)
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool {
		name, _, _ := strings.Cut(kv, "=")
		return slices.Contains([]string{"GOOS", "GOARCH", "GOARM", "MAKEFLAGS", "MFLAGS", "MAKELEVEL", "VERSION", "COMMIT", "BIN", "DIST", "PREFIX", "DESTDIR", "PLATFORMS"}, name)
	})
	start := time.Now()
	out, err := cmd.CombinedOutput()
	t.Logf("make %s: %v", strings.Join(args, " "), time.Since(start).Round(100*time.Millisecond))
	if err != nil {
		t.Fatalf("make %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// fileSHA256 is the hex SHA-256 of a file.
func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// readSums parses sha256sum output into file name -> hex sum.
func readSums(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sums := make(map[string]string)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok || len(sum) != 64 || name == "" {
			t.Fatalf("%s: line %q is not sha256sum output", path, sc.Text())
		}
		if _, dup := sums[name]; dup {
			t.Fatalf("%s lists %s twice", path, name)
		}
		sums[name] = sum
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return sums
}

// checkPluginDir checks that dir holds exactly the shipped plugins, each
// executable, and a manifest pinning each one's contents.
func checkPluginDir(t *testing.T, dir string) {
	t.Helper()
	sums := readSums(t, filepath.Join(dir, "plugins.sha256"))
	listed := make([]string, 0, len(sums))
	for name := range sums {
		listed = append(listed, name)
	}
	slices.Sort(listed)
	if !slices.Equal(listed, pluginNames) {
		t.Errorf("%s/plugins.sha256 lists %v, want %v", dir, listed, pluginNames)
	}
	for _, name := range pluginNames {
		path := filepath.Join(dir, name)
		fi, err := os.Stat(path)
		if err != nil {
			t.Errorf("plugin missing: %v", err)
			continue
		}
		if fi.Mode().Perm() != 0o755 {
			t.Errorf("%s has mode %v, want 0755", path, fi.Mode().Perm())
		}
		if got := fileSHA256(t, path); got != sums[name] {
			t.Errorf("%s has SHA-256 %s, the manifest says %s", path, got, sums[name])
		}
	}
}

// checkVersion runs `bin version` and checks that it names the version and
// the platform this test runs on.
func checkVersion(t *testing.T, bin, version, platform string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), ready)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("%s version: %v\n%s", bin, err, out)
	}
	first, _, _ := strings.Cut(string(out), "\n")
	if first != "burrow "+version {
		t.Errorf("%s version starts %q, want %q:\n%s", bin, first, "burrow "+version, out)
	}
	for _, want := range []string{"platform:        " + platform + "\n", "plugin protocol: "} {
		if !strings.Contains(string(out), want) {
			t.Errorf("%s version lacks %q:\n%s", bin, want, out)
		}
	}
}

// startMaster starts bin as a master on loopback ports with a fresh data
// directory and no plugins= (so it looks for its plugins where it was
// put), and returns the process once it has logged that it started.
func startMaster(t *testing.T, f *framework.Framework, name, bin string) *framework.Process {
	t.Helper()
	data := filepath.Join(f.Dir(), name+"-data")
	url := fmt.Sprintf("master://127.0.0.1:%d/api?log=info&bridge=127.0.0.1:%d&data=%s", f.Port(), f.Port(), data)
	p := f.Command(name, bin, url)
	p.MustWaitLog(framework.LogMasterStarted, ready)
	return p
}

// expectPluginMaster starts bin as a master and checks that it runs every
// shipped plugin as a process, then stops it cleanly.
func expectPluginMaster(t *testing.T, name, bin string) {
	t.Helper()
	f := framework.New(t)
	p := startMaster(t, f, name, bin)
	line := logLine(p.RunOutput(), logPluginsOn)
	if line == "" {
		t.Fatalf("%s did not log %s; it said:\n%s", name, logPluginsOn, p.RunOutput())
	}
	for _, plugin := range pluginNames {
		if scheme := strings.TrimPrefix(plugin, "burrow-"); !strings.Contains(line, scheme) {
			t.Errorf("%s: %q does not name scheme %s", name, line, scheme)
		}
	}
	if err := p.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if code, err := p.Wait(ready); err != nil || code != 0 {
		t.Errorf("%s after SIGINT: exit %d, %v", name, code, err)
	}
}

// logLine is the first line of out containing substr, or "".
func logLine(out, substr string) string {
	for line := range strings.Lines(out) {
		if strings.Contains(line, substr) {
			return strings.TrimSpace(line)
		}
	}
	return ""
}

// copyFile copies src to dst with mode.
func copyFile(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, mode); err != nil {
		t.Fatal(err)
	}
}
