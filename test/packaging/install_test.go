package packaging

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/burrowproject/burrow/test/e2e/framework"
)

// make install puts burrow in DESTDIR/PREFIX/bin and the plugins with their
// manifest in DESTDIR/PREFIX/lib/burrow/plugins; the installed binary, with
// no plugins=, finds them there and runs every handler as a plugin process.
func TestInstallFindsPlugins(t *testing.T) {
	const version = "v0.0.0-installtest"
	tmp := t.TempDir()
	root := filepath.Join(tmp, "root")
	runMake(t, "install", "BIN="+filepath.Join(tmp, "bin"), "DESTDIR="+root, "PREFIX=/opt/burrow", "VERSION="+version)

	bin := filepath.Join(root, "opt", "burrow", "bin", "burrow")
	fi, err := os.Stat(bin)
	if err != nil {
		t.Fatalf("make install did not install the binary: %v", err)
	}
	if fi.Mode().Perm() != 0o755 {
		t.Errorf("%s has mode %v, want 0755", bin, fi.Mode().Perm())
	}
	checkPluginDir(t, filepath.Join(root, "opt", "burrow", "lib", "burrow", "plugins"))
	checkVersion(t, bin, version, runtime.GOOS+"/"+runtime.GOARCH)
	expectPluginMaster(t, "installed", bin)
}

// A binary with no plugin directory in either place says where it looked
// and runs its handlers in-process.
func TestNoPluginDirectoryNamed(t *testing.T) {
	f := framework.New(t)
	built, err := framework.Binary()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(f.Dir(), "lonely", "bin", "burrow")
	copyFile(t, built, bin, 0o755)
	p := startMaster(t, f, "lonely", bin)
	line := logLine(p.RunOutput(), "no usable plugin directory")
	if line == "" {
		t.Fatalf("a master without plugins did not warn of it:\n%s", p.RunOutput())
	}
	for _, want := range []string{
		filepath.Join(f.Dir(), "lonely", "bin", "plugins"),
		filepath.Join(f.Dir(), "lonely", "lib", "burrow", "plugins"),
	} {
		if !strings.Contains(line, want) {
			t.Errorf("the warning does not name %s: %s", want, line)
		}
	}
	if strings.Contains(p.RunOutput(), logPluginsOn) {
		t.Errorf("a master without plugins says its handlers run as plugin processes:\n%s", p.RunOutput())
	}
}
