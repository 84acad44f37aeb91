package pluginhost

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// BinaryPrefix starts the file name of every plugin binary: a plugin
// serving scheme NAME is the file "burrow-NAME" in the plugin directory.
const BinaryPrefix = "burrow-"

// ManifestName is the default manifest file in the plugin directory.
//
// The manifest pins every plugin binary the server may run. It is the
// output of sha256sum: one line per binary, the lowercase hex SHA-256 of
// the file, two spaces (or a space and '*'), and the file's bare name.
// Blank lines and lines starting with '#' are ignored. Generate it with
//
//	cd bin/plugins && sha256sum burrow-* > plugins.sha256
//
// A binary not listed is not offered; a binary whose contents no longer
// match its line is refused at launch.
const ManifestName = "plugins.sha256"

// binary is one plugin found in the directory and pinned in the manifest.
type binary struct {
	name string // scheme, e.g. "tcp"
	path string
	sum  []byte // SHA-256 from the manifest
}

// readManifest parses a manifest.
func readManifest(path string) (map[string][]byte, error) {
	if err := checkOwnership(path, false); err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("plugin manifest: %w", err)
	}
	defer f.Close()
	return parseManifest(f, path)
}

func parseManifest(r io.Reader, path string) (map[string][]byte, error) {
	sums := make(map[string][]byte)
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		hexSum, name, ok := strings.Cut(text, " ")
		name = strings.TrimPrefix(strings.TrimLeft(name, " "), "*")
		sum, err := hex.DecodeString(hexSum)
		switch {
		case !ok || name == "":
			return nil, fmt.Errorf("%s:%d: want \"<sha256>  <file>\"", path, line)
		case err != nil || len(sum) != sha256.Size:
			return nil, fmt.Errorf("%s:%d: %q is not a hex SHA-256", path, line, hexSum)
		case strings.ContainsRune(name, '/') || name == "." || name == "..":
			return nil, fmt.Errorf("%s:%d: %q must be a file name in the plugin directory", path, line, name)
		}
		if _, dup := sums[name]; dup {
			return nil, fmt.Errorf("%s:%d: %s is listed twice", path, line, name)
		}
		sums[name] = sum
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("plugin manifest %s: %w", path, err)
	}
	return sums, nil
}

// scan finds the plugin binaries in dir that the manifest pins. Binaries
// the manifest does not list are returned in skipped.
func scan(dir, manifest string) (found map[string]binary, skipped []string, err error) {
	if err := checkOwnership(dir, true); err != nil {
		return nil, nil, err
	}
	sums, err := readManifest(manifest)
	if err != nil {
		return nil, nil, err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("plugin directory: %w", err)
	}
	found = make(map[string]binary)
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, BinaryPrefix) || len(name) == len(BinaryPrefix) || e.IsDir() {
			continue
		}
		sum, ok := sums[name]
		if !ok {
			skipped = append(skipped, name)
			continue
		}
		found[strings.TrimPrefix(name, BinaryPrefix)] = binary{name: strings.TrimPrefix(name, BinaryPrefix), path: filepath.Join(dir, name), sum: sum}
	}
	return found, skipped, nil
}

// checkOwnership refuses a file or directory that others could change
// between the checksum and the exec: group- or world-writable, owned by
// someone other than this process's user or root, or (for files) not a
// regular file.
func checkOwnership(path string, dir bool) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return fmt.Errorf("plugin: %w", err)
	}
	switch {
	case dir && !fi.IsDir():
		return fmt.Errorf("plugin directory %s is not a directory", path)
	case !dir && !fi.Mode().IsRegular():
		return fmt.Errorf("plugin file %s is not a regular file (symlinks are refused)", path)
	case fi.Mode().Perm()&0o022 != 0:
		return fmt.Errorf("plugin %s %s is group- or world-writable (mode %v): refused; chmod go-w it",
			kind(dir), path, fi.Mode().Perm())
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return errors.New("plugin: cannot read file owner on this system")
	}
	if uid := uint32(os.Geteuid()); st.Uid != uid && st.Uid != 0 {
		return fmt.Errorf("plugin %s %s is owned by uid %d, not by this server's user (%d) or root: refused",
			kind(dir), path, st.Uid, uid)
	}
	return nil
}

func kind(dir bool) string {
	if dir {
		return "directory"
	}
	return "file"
}
