package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/burrowproject/burrow/plugins/sdk"
)

// This file is `burrow version`: what the binary is (its version, the
// commit it was built from and whether the tree had uncommitted changes),
// what built it, where it runs, and which plugin protocol it speaks, so an
// operator can tell whether a plugin built elsewhere will load.

// commit is set at build time with -ldflags "-X main.commit=HASH" (make
// build sets it; a "-dirty" suffix marks uncommitted changes). Without it,
// the revision go build stamped into the binary (vcs.revision) is used.
var commit = ""

// buildInfo is what `burrow version` prints.
type buildInfo struct {
	Version   string
	Commit    string // "" when unknown
	Dirty     bool   // built from a tree with uncommitted changes
	GoVersion string
	Platform  string // GOOS/GOARCH (and GOARM for arm)
	Protocol  int    // go-plugin protocol version of the handler service
	SDK       string // plugins/sdk contract version
}

// readBuildInfo gathers the build information: version and commit from
// the linker flags, else the commit from bi's VCS stamp (bi may be nil).
func readBuildInfo(version, commit string, bi *debug.BuildInfo) buildInfo {
	b := buildInfo{Version: version, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH,
		Protocol: sdk.ProtocolVersion, SDK: sdk.Version}
	if c, dirty := strings.CutSuffix(commit, "-dirty"); c != "" {
		b.Commit, b.Dirty = c, dirty
	}
	if bi != nil {
		b.GoVersion = bi.GoVersion
		for _, s := range bi.Settings {
			switch {
			case s.Key == "vcs.revision" && b.Commit == "":
				b.Commit = s.Value
				b.Dirty = b.Dirty || vcsModified(bi)
			case s.Key == "GOARM" && runtime.GOARCH == "arm":
				b.Platform += "/v" + s.Value
			}
		}
	}
	return b
}

// vcsModified reports the VCS stamp's vcs.modified.
func vcsModified(bi *debug.BuildInfo) bool {
	for _, s := range bi.Settings {
		if s.Key == "vcs.modified" {
			return s.Value == "true"
		}
	}
	return false
}

// write prints b: the first line is "burrow VERSION", then one field a line.
func (b buildInfo) write(w io.Writer) error {
	c := b.Commit
	switch {
	case c == "":
		c = "unknown"
	case b.Dirty:
		c += " (dirty: uncommitted changes)"
	}
	_, err := fmt.Fprintf(w, "burrow %s\n  commit:          %s\n  go:              %s\n  platform:        %s\n  plugin protocol: %d (sdk %s)\n",
		b.Version, c, b.GoVersion, b.Platform, b.Protocol, b.SDK)
	return err
}

// printVersion is `burrow version`.
func printVersion(stdout, stderr io.Writer) int {
	bi, _ := debug.ReadBuildInfo()
	if err := readBuildInfo(version, commit, bi).write(stdout); err != nil {
		fmt.Fprintf(stderr, "burrow version: %v\n", err)
		return 1
	}
	return 0
}
