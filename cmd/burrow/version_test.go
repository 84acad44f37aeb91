package main

import (
	"bytes"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/burrowproject/burrow/plugins/sdk"
)

func stamped(settings ...string) *debug.BuildInfo {
	bi := &debug.BuildInfo{GoVersion: "go1.99.1"}
	for i := 0; i+1 < len(settings); i += 2 {
		bi.Settings = append(bi.Settings, debug.BuildSetting{Key: settings[i], Value: settings[i+1]})
	}
	return bi
}

func TestReadBuildInfoCommit(t *testing.T) {
	const rev = "0123456789abcdef0123456789abcdef01234567"
	for _, tc := range []struct {
		name, ldflag string
		bi           *debug.BuildInfo
		commit       string
		dirty        bool
	}{
		{"ldflags", "abc123", stamped("vcs.revision", rev), "abc123", false},
		{"ldflags dirty", "abc123-dirty", stamped("vcs.revision", rev, "vcs.modified", "false"), "abc123", true},
		{"vcs stamp", "", stamped("vcs.revision", rev, "vcs.modified", "false"), rev, false},
		{"vcs stamp modified", "", stamped("vcs.modified", "true", "vcs.revision", rev), rev, true},
		{"no stamp", "", stamped("vcs.modified", "true"), "", false},
		{"no build info", "", nil, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := readBuildInfo("v1.2.3", tc.ldflag, tc.bi)
			if b.Commit != tc.commit || b.Dirty != tc.dirty {
				t.Errorf("commit %q dirty %v, want %q dirty %v", b.Commit, b.Dirty, tc.commit, tc.dirty)
			}
			if b.Version != "v1.2.3" {
				t.Errorf("version %q", b.Version)
			}
		})
	}
}

func TestReadBuildInfoPlatform(t *testing.T) {
	b := readBuildInfo("dev", "", stamped("GOARM", "7"))
	want := runtime.GOOS + "/" + runtime.GOARCH
	if runtime.GOARCH == "arm" {
		want += "/v7"
	}
	if b.Platform != want || b.GoVersion != "go1.99.1" {
		t.Errorf("platform %q go %q, want %q go1.99.1", b.Platform, b.GoVersion, want)
	}
	if b := readBuildInfo("dev", "", nil); b.GoVersion != runtime.Version() {
		t.Errorf("without build info go is %q, want %q", b.GoVersion, runtime.Version())
	}
}

func TestVersionOutput(t *testing.T) {
	for _, tc := range []struct {
		b    buildInfo
		want []string
	}{
		{buildInfo{Version: "v0.1.0", Commit: "abc", Dirty: true, GoVersion: "go1.26.0", Platform: "linux/arm/v7", Protocol: 3, SDK: "9.8.7"},
			[]string{"burrow v0.1.0\n", "commit:          abc (dirty: uncommitted changes)\n", "go:              go1.26.0\n",
				"platform:        linux/arm/v7\n", "plugin protocol: 3 (sdk 9.8.7)\n"}},
		{buildInfo{Version: "dev", Commit: "abc", GoVersion: "go1.26.0", Platform: "linux/amd64"},
			[]string{"commit:          abc\n"}},
		{buildInfo{Version: "dev"}, []string{"commit:          unknown\n"}},
	} {
		var out bytes.Buffer
		if err := tc.b.write(&out); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(out.String(), "burrow "+tc.b.Version+"\n") {
			t.Errorf("output does not start with the version line:\n%s", out.String())
		}
		for _, w := range tc.want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("output lacks %q:\n%s", w, out.String())
			}
		}
	}
}

// The command prints this binary's own version and the protocol its
// plugins must speak.
func TestRunVersion(t *testing.T) {
	for _, arg := range []string{"version", "--version", "-v"} {
		var out, errOut bytes.Buffer
		if code := run([]string{arg}, &out, &errOut); code != 0 || errOut.Len() != 0 {
			t.Fatalf("burrow %s: exit %d, stderr %q", arg, code, errOut.String())
		}
		for _, w := range []string{"burrow " + version + "\n", runtime.GOOS + "/" + runtime.GOARCH,
			fmt.Sprintf("plugin protocol: %d (sdk %s)", sdk.ProtocolVersion, sdk.Version)} {
			if !strings.Contains(out.String(), w) {
				t.Errorf("burrow %s lacks %q:\n%s", arg, w, out.String())
			}
		}
	}
}
