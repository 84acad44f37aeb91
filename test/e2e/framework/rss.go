package framework

import (
	"debug/buildinfo"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// RSS returns the resident set size of process pid in bytes, from VmRSS in
// /proc/PID/status (Linux).
func RSS(pid int) (int64, error) {
	status, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0, fmt.Errorf("e2e: rss of %d: %w", pid, err)
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		v, ok := strings.CutPrefix(line, "VmRSS:")
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("e2e: rss of %d: %q: %w", pid, line, err)
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("e2e: rss of %d: no VmRSS line", pid)
}

// RaceBinary reports whether the burrow binary under test was built with
// -race, whose shadow memory multiplies every figure about memory.
func RaceBinary() (bool, error) {
	bin, err := Binary()
	if err != nil {
		return false, err
	}
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		return false, fmt.Errorf("e2e: build info of %s: %w", bin, err)
	}
	for _, s := range info.Settings {
		if s.Key == "-race" {
			return s.Value == "true", nil
		}
	}
	return false, nil
}
