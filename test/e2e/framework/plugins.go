package framework

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// This file provides the handler plugins a master runs as processes
// (plugins=DIR), and looks at those processes through /proc.

// EnvPlugins names a prebuilt plugin directory (binaries burrow-<scheme>
// and their plugins.sha256 manifest, as `make plugins` leaves in
// bin/plugins) to use instead of building one.
const EnvPlugins = "BURROW_PLUGINS"

// PluginManifest is the manifest file a plugin directory must hold.
const PluginManifest = "plugins.sha256"

// PluginSchemes are the plugins PluginDir provides: the built-in handlers
// and the socks5 example (a module of its own).
var PluginSchemes = []string{"http", "socks5", "tcp", "udp"}

// pluginDirPrefix names the per-run build directories under os.TempDir:
// burrow-e2e-plugins-<pid>-<random>.
const pluginDirPrefix = "burrow-e2e-plugins-"

var plugins struct {
	once sync.Once
	dir  string
	err  error
}

// PluginDir returns a plugin directory for `plugins=DIR`: the one
// BURROW_PLUGINS names, or one built once per test binary from
// ./plugins/{tcp,udp,http}/cmd/burrow-* and the separate module
// plugins/examples/socks5 (with -race when BURROW_RACE=1), with the
// directory 0755, the binaries 0755 and plugins.sha256 in sha256sum format.
//
// The built directory lives under os.TempDir as
// burrow-e2e-plugins-<pid>-*. It is shared by every spec of the run, so no
// single spec can remove it; instead each build first removes the
// directories of earlier runs whose test binary has exited. At most one
// run's plugins are left behind after the suite.
func PluginDir(t testing.TB) string {
	t.Helper()
	plugins.once.Do(func() {
		if dir := os.Getenv(EnvPlugins); dir != "" {
			plugins.dir, plugins.err = filepath.Abs(dir)
			if plugins.err == nil {
				_, plugins.err = os.Stat(filepath.Join(plugins.dir, PluginManifest))
			}
			if plugins.err != nil {
				plugins.err = fmt.Errorf("%s=%s: %w", EnvPlugins, dir, plugins.err)
			}
			return
		}
		if os.Getenv(EnvBin) == "" {
			// The binary this framework builds has them beside it, where
			// a master looks by default.
			bin, err := Binary()
			if err != nil {
				plugins.err = err
				return
			}
			plugins.dir = filepath.Join(filepath.Dir(bin), "plugins")
			return
		}
		plugins.dir, plugins.err = buildPlugins()
	})
	if plugins.err != nil {
		t.Fatalf("e2e: plugin directory: %v", plugins.err)
	}
	return plugins.dir
}

func buildPlugins() (string, error) {
	sweepPluginDirs()
	dir, err := os.MkdirTemp("", fmt.Sprintf("%s%d-", pluginDirPrefix, os.Getpid()))
	if err != nil {
		return "", err
	}
	if err := buildPluginsInto(dir); err != nil {
		_ = os.RemoveAll(dir)
		return "", err
	}
	return dir, nil
}

// buildPluginsInto builds PluginSchemes' binaries into dir (made 0755 if
// missing) and writes their manifest.
func buildPluginsInto(dir string) error {
	goTool, root, err := goModule()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	flags := []string{"build", "-trimpath", "-o", dir + string(filepath.Separator)}
	if os.Getenv(EnvRace) == "1" {
		flags = append(flags, "-race")
	}
	start := time.Now()
	builds := []struct {
		dir  string
		pkgs []string
	}{
		{root, []string{"./plugins/tcp/cmd/burrow-tcp", "./plugins/udp/cmd/burrow-udp", "./plugins/http/cmd/burrow-http"}},
		{filepath.Join(root, "plugins", "examples", "socks5"), []string{"./cmd/burrow-socks5"}},
	}
	errs := make([]error, len(builds))
	var wg sync.WaitGroup
	for i, b := range builds {
		wg.Go(func() {
			args := append(append([]string(nil), flags...), b.pkgs...)
			cmd := exec.Command(goTool, args...)
			cmd.Dir = b.dir
			if out, err := cmd.CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("go %s (in %s): %w\n%s", strings.Join(args, " "), b.dir, err, out)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := WriteManifest(dir); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "e2e: built plugins %v in %s in %v\n", PluginSchemes, dir, time.Since(start).Round(time.Millisecond))
	return nil
}

// WriteManifest writes dir/plugins.sha256 pinning every burrow-* file in
// dir, in sha256sum format ("<hex>  <name>"), mode 0644, and makes every
// binary 0755.
func WriteManifest(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, "burrow-") || e.IsDir() {
			continue
		}
		path := filepath.Join(dir, name)
		sum, err := FileSHA256(path)
		if err != nil {
			return err
		}
		if err := os.Chmod(path, 0o755); err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s  %s\n", sum, name)
	}
	if b.Len() == 0 {
		return fmt.Errorf("no burrow-* binary in %s", dir)
	}
	path := filepath.Join(dir, PluginManifest)
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		return err
	}
	return os.Chmod(path, 0o644) // whatever the umask
}

// FileSHA256 is the hex SHA-256 of a file's contents.
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// sweepPluginDirs removes the plugin directories that earlier runs left
// under os.TempDir, when the test binary that built them has exited.
func sweepPluginDirs() {
	matches, _ := filepath.Glob(filepath.Join(os.TempDir(), pluginDirPrefix+"*"))
	for _, m := range matches {
		rest := strings.TrimPrefix(filepath.Base(m), pluginDirPrefix)
		pidText, _, ok := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidText)
		if !ok || err != nil || pid <= 0 || pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			_ = os.RemoveAll(m)
		}
	}
}

// ---- processes, through /proc (Linux) ----

// ProcInfo is what /proc says about one process.
type ProcInfo struct {
	PID, PPID int
	State     string // "R", "S", "Z", ...
	Cmdline   []string
}

// HasProcFS reports whether /proc describes processes (Linux).
func HasProcFS() bool {
	_, err := os.Stat("/proc/self/status")
	return err == nil
}

// ReadProc reads /proc/PID; ok is false if the process does not exist.
func ReadProc(pid int) (ProcInfo, bool) {
	base := filepath.Join("/proc", strconv.Itoa(pid))
	status, err := os.ReadFile(filepath.Join(base, "status"))
	if err != nil {
		return ProcInfo{}, false
	}
	info := ProcInfo{PID: pid}
	for line := range strings.SplitSeq(string(status), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch k {
		case "PPid":
			info.PPID, _ = strconv.Atoi(v)
		case "State":
			info.State, _, _ = strings.Cut(v, " ")
		}
	}
	if cmd, err := os.ReadFile(filepath.Join(base, "cmdline")); err == nil {
		info.Cmdline = strings.Split(strings.TrimRight(string(cmd), "\x00"), "\x00")
	}
	return info, true
}

// Alive reports whether pid is a process that has not finished exiting.
// A zombie (exited, not yet reaped) counts as gone only once every one of
// its threads is a zombie too: the thread-group leader turns zombie while
// other threads may still be tearing down the address space, and the
// process's files (its sockets, its ports) are released only after that.
func Alive(pid int) bool {
	info, ok := ReadProc(pid)
	if !ok {
		return false
	}
	if info.State != "Z" && info.State != "X" {
		return true
	}
	tasks, err := os.ReadDir(filepath.Join("/proc", strconv.Itoa(pid), "task"))
	if err != nil {
		return false // reaped meanwhile
	}
	for _, task := range tasks {
		status, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "task", task.Name(), "status"))
		if err != nil {
			continue // this thread is gone
		}
		for line := range strings.SplitSeq(string(status), "\n") {
			if v, ok := strings.CutPrefix(line, "State:"); ok {
				if st := strings.TrimSpace(v); !strings.HasPrefix(st, "Z") && !strings.HasPrefix(st, "X") {
					return true
				}
				break
			}
		}
	}
	return false
}

// Processes lists every process /proc shows that matches keep.
func Processes(keep func(ProcInfo) bool) []ProcInfo {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []ProcInfo
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if info, ok := ReadProc(pid); ok && keep(info) {
			out = append(out, info)
		}
	}
	return out
}

// PluginProcesses returns the live plugin processes whose parent is ppid,
// by binary name ("burrow-tcp": its pids). A plugin process is one whose
// program (argv[0]) is a file named burrow-<scheme>.
func PluginProcesses(ppid int) map[string][]int {
	out := map[string][]int{}
	for _, p := range Processes(func(p ProcInfo) bool {
		return p.PPID == ppid && len(p.Cmdline) > 0 && strings.HasPrefix(filepath.Base(p.Cmdline[0]), "burrow-") && Alive(p.PID)
	}) {
		name := filepath.Base(p.Cmdline[0])
		out[name] = append(out[name], p.PID)
	}
	return out
}
