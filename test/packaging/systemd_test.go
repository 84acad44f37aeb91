package packaging

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/burrowproject/burrow/test/e2e/framework"
)

// installedBinary is the path the shipped units run.
const installedBinary = "/usr/local/bin/burrow"

// maxExposure is the highest `systemd-analyze security` exposure a unit may
// have (0 is fully locked down, 10 is none; below 2 systemd calls "OK").
const maxExposure = 2.0

// The shipped units, each with the instance verified (for a template) and
// the lines it must have.
var units = []struct {
	file, unit string
	must       []string
}{
	{"burrow-master.service", "burrow-master.service", []string{
		"ExecStart=" + installedBinary + " -c /etc/burrow/master.toml",
		"StateDirectory=burrow", "WorkingDirectory=/var/lib/burrow",
	}},
	{"burrow-agent@.service", "burrow-agent@home.service", []string{
		"ExecStart=" + installedBinary + " -c /etc/burrow/agent-%i.toml",
	}},
}

// Lines every unit must have: reload by SIGHUP, a transient user, the file
// system read-only, no privileges but binding low ports.
var mustAll = []string{
	"ExecReload=/bin/kill -HUP $MAINPID", "DynamicUser=yes", "ProtectSystem=strict", "ProtectHome=yes",
	"NoNewPrivileges=yes", "PrivateTmp=yes", "CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
	"AmbientCapabilities=CAP_NET_BIND_SERVICE", "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
}

var exposureLine = regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+)`)

// The systemd units load cleanly (systemd-analyze verify: no warning about
// them, their ExecStart executable) and are locked down (systemd-analyze
// security). They run a copy of the built binary in a temp dir, since
// /usr/local/bin/burrow need not exist here.
func TestSystemdUnits(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skipf("systemd-analyze is not on PATH (%v): the units are not checked", err)
	}
	built, err := framework.Binary()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin", "burrow")
	copyFile(t, built, bin, 0o755)
	unitDir := filepath.Join(dir, "units")
	if err := os.MkdirAll(unitDir, 0o755); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(repoRoot(t), "packaging", "systemd")
	for _, u := range units {
		t.Run(u.unit, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(src, u.file))
			if err != nil {
				t.Fatal(err)
			}
			text := string(b)
			for _, line := range append(u.must, mustAll...) {
				if !hasLine(text, line) {
					t.Errorf("%s lacks the line %q", u.file, line)
				}
			}
			if !strings.Contains(text, "ExecStart="+installedBinary+" ") {
				t.Fatalf("%s does not run %s", u.file, installedBinary)
			}
			path := filepath.Join(unitDir, u.file)
			if err := os.WriteFile(path, []byte(strings.ReplaceAll(text, installedBinary, bin)), 0o644); err != nil {
				t.Fatal(err)
			}
			unit := filepath.Join(unitDir, u.unit)
			name := strings.TrimSuffix(u.file, ".service")
			out, err := analyzeRun(t, analyze, "verify", "--man=no", unit)
			if err != nil {
				t.Fatalf("systemd-analyze verify %s: %v\n%s", u.unit, err, out)
			}
			for line := range strings.Lines(out) {
				if strings.Contains(line, name) {
					t.Errorf("systemd-analyze verify %s: %s", u.unit, strings.TrimSpace(line))
				}
			}
			out, err = analyzeRun(t, analyze, "security", "--offline=yes", unit)
			m := exposureLine.FindStringSubmatch(out)
			if m == nil {
				t.Skipf("systemd-analyze security --offline gave no exposure level (%v; an older systemd?):\n%s", err, out)
			}
			if e, _ := strconv.ParseFloat(m[1], 64); e > maxExposure {
				t.Errorf("%s has exposure %.1f, want at most %.1f:\n%s", u.unit, e, maxExposure, out)
			}
		})
	}
}

// hasLine reports whether text has line as one whole line.
func hasLine(text, line string) bool {
	for l := range strings.Lines(text) {
		if strings.TrimSpace(l) == line {
			return true
		}
	}
	return false
}

func analyzeRun(t *testing.T, analyze string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), ready)
	defer cancel()
	out, err := exec.CommandContext(ctx, analyze, args...).CombinedOutput()
	return string(out), err
}
