package main

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// layout makes the directories dirs under a new root and returns the root
// and the path of a burrow binary in root/bin (the file is not needed).
func layout(t *testing.T, dirs ...string) (root, exe string) {
	t.Helper()
	root = t.TempDir()
	for _, d := range append(dirs, "bin") {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return root, filepath.Join(root, "bin", "burrow")
}

func TestFindPluginDir(t *testing.T) {
	for _, tc := range []struct {
		name string
		dirs []string
		want string
	}{
		{"beside the binary", []string{"bin/plugins"}, "bin/plugins"},
		{"installed layout", []string{"lib/burrow/plugins"}, "lib/burrow/plugins"},
		{"beside wins over installed", []string{"lib/burrow/plugins", "bin/plugins"}, "bin/plugins"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root, exe := layout(t, tc.dirs...)
			got, err := findPluginDir(exe)
			if err != nil {
				t.Fatal(err)
			}
			if want := filepath.Join(root, tc.want); got != want {
				t.Errorf("found %s, want %s", got, want)
			}
		})
	}
}

func TestFindPluginDirNone(t *testing.T) {
	root, exe := layout(t, "lib/burrow")
	_, err := findPluginDir(exe)
	if err == nil {
		t.Fatal("no plugin directory exists, yet one was found")
	}
	for _, want := range []string{filepath.Join(root, "bin", "plugins"), filepath.Join(root, "lib", "burrow", "plugins"), "plugins="} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}

// A file where the directory should be is reported, not passed over.
func TestFindPluginDirNotADirectory(t *testing.T) {
	root, exe := layout(t, "lib/burrow/plugins")
	file := filepath.Join(root, "bin", "plugins")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := findPluginDir(exe); err == nil || !strings.Contains(err.Error(), file+" is not a directory") {
		t.Errorf("error %v, want one saying %s is not a directory", err, file)
	}
}

// Where plugin processes run (Linux), the probe of their fd link succeeds.
func TestProbeFDLink(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skipf("the fd link is only known to work on Linux; on %s the probe decides", runtime.GOOS)
	}
	if err := probeFDLink(); err != nil {
		t.Fatal(err)
	}
}
