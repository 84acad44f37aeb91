package framework

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/burrowproject/burrow/internal/testutil"
)

// Environment variables that steer the framework.
const (
	// EnvBin names a prebuilt burrow binary to test instead of building one.
	EnvBin = "BURROW_BIN"
	// EnvRace=1 builds the binary with -race.
	EnvRace = "BURROW_RACE"
	// EnvVerbose=1 prints every process's output at cleanup, not only on failure.
	EnvVerbose = "BURROW_E2E_VERBOSE"
)

// binary is the burrow binary under test. It is resolved at most once per
// test binary (the build is expensive), and only when a spec first starts a
// process, so framework self-tests and filtered runs never pay for it.
// buildDir is removed by Main after the run.
var binary struct {
	once     sync.Once
	path     string
	err      error
	buildDir string
}

// Main is the TestMain of an e2e package:
//
//	func TestMain(m *testing.M) { framework.Main(m) }
//
// It runs the tests, removes the binary it built, and fails the run if a
// goroutine is left behind (every mock server and expectation must stop its
// goroutines).
func Main(m *testing.M) {
	code := m.Run()
	if binary.buildDir != "" {
		_ = os.RemoveAll(binary.buildDir)
	}
	if code == 0 {
		if err := goleak.Find(testutil.LeakOptions()...); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: goroutines left behind: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// Binary returns the path of the burrow binary, building it on first use.
func Binary() (string, error) {
	binary.once.Do(func() {
		if p := os.Getenv(EnvBin); p != "" {
			binary.path, binary.err = filepath.Abs(p)
			return
		}
		binary.path, binary.err = build()
	})
	return binary.path, binary.err
}

// goModule returns the go tool and the burrow module's root directory.
func goModule() (goTool, root string, err error) {
	goTool, err = exec.LookPath("go")
	if err != nil {
		return "", "", fmt.Errorf("find the go tool: %w", err)
	}
	gomod, err := exec.Command(goTool, "env", "GOMOD").Output()
	if err != nil {
		return "", "", fmt.Errorf("go env GOMOD: %w", err)
	}
	modFile := strings.TrimSpace(string(gomod))
	if modFile == "" || modFile == os.DevNull {
		return "", "", fmt.Errorf("not inside the burrow module (go env GOMOD = %q)", modFile)
	}
	return goTool, filepath.Dir(modFile), nil
}

func build() (string, error) {
	goTool, root, err := goModule()
	if err != nil {
		return "", fmt.Errorf("e2e: %w", err)
	}
	dir, err := os.MkdirTemp("", "burrow-e2e-bin-")
	if err != nil {
		return "", fmt.Errorf("e2e: temp dir for the binary: %w", err)
	}
	binary.buildDir = dir
	out := filepath.Join(dir, "burrow")
	args := []string{"build", "-o", out}
	if os.Getenv(EnvRace) == "1" {
		args = append(args, "-race")
	}
	args = append(args, "./cmd/burrow")
	cmd := exec.Command(goTool, args...)
	cmd.Dir = root
	start := time.Now()
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("e2e: go %s: %w\n%s", strings.Join(args, " "), err, msg)
	}
	fmt.Fprintf(os.Stderr, "e2e: built %s in %v\n", out, time.Since(start).Round(time.Millisecond))
	// Its default plugin directory, beside it, holds the plugins (as
	// `make build` leaves bin/plugins beside bin/burrow).
	if err := buildPluginsInto(filepath.Join(dir, "plugins")); err != nil {
		return "", fmt.Errorf("e2e: plugins beside the binary: %w", err)
	}
	return out, nil
}
