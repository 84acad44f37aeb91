package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/burrowproject/burrow/plugins/sdk/fdlink"
)

// pluginDirs are the plugin directories a master without plugins= looks
// in, in order, for the binary exe: "plugins" beside it (bin/plugins after
// make build, plugins/ in a release archive), then the installed layout
// (PREFIX/bin/burrow with PREFIX/lib/burrow/plugins after make install).
func pluginDirs(exe string) []string {
	dir := filepath.Dir(exe)
	return []string{
		filepath.Join(dir, "plugins"),
		filepath.Join(dir, "..", "lib", "burrow", "plugins"),
	}
}

// findPluginDir returns the first of pluginDirs(exe) that exists as a
// directory. When none does, the error names every place it looked.
func findPluginDir(exe string) (string, error) {
	dirs := pluginDirs(exe)
	for _, d := range dirs {
		fi, err := os.Stat(d)
		switch {
		case err == nil && fi.IsDir():
			return d, nil
		case err == nil:
			return "", fmt.Errorf("plugin directory %s is not a directory", d)
		case !errors.Is(err, fs.ErrNotExist):
			return "", fmt.Errorf("plugin directory: %w", err)
		}
	}
	return "", fmt.Errorf("no plugin directory: neither %s exists (plugins=DIR names another)", strings.Join(dirs, " nor "))
}

// probeFDLink makes and closes one fd link, which every plugin process
// needs: an AF_UNIX SOCK_SEQPACKET socket pair, which macOS lacks.
func probeFDLink() error {
	c, f, err := fdlink.Pair()
	if err != nil {
		return fmt.Errorf("plugin processes cannot run on %s: their fd link: %w", runtime.GOOS, err)
	}
	_ = f.Close()
	return c.Close()
}
