package pluginhost

import (
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
)

// go-plugin's own lines as a plugin writes them (sdk.ServeWith names its
// logger "go-plugin").
const (
	gpMTLS    = `{"@level":"info","@message":"configuring server automatic mTLS","@module":"go-plugin","@timestamp":"2025-01-02T03:04:05.000000Z"}`
	gpAddress = `{"@level":"debug","@message":"plugin address","@module":"go-plugin","@timestamp":"2025-01-02T03:04:05.000100Z","address":"/tmp/plugin1234","network":"unix"}`
	gpStdio   = `{"@level":"trace","@message":"waiting for stdio data","@module":"go-plugin.stdio","@timestamp":"2025-01-02T03:04:05.000200Z"}`
)

func TestTailLeavesOutGoPluginLines(t *testing.T) {
	for _, tc := range []struct {
		name string
		max  int
		in   []string
		want []string
	}{{
		name: "handshake only",
		max:  20,
		in:   []string{gpMTLS, gpAddress, gpStdio},
		want: nil,
	}, {
		name: "panic after the handshake",
		max:  20,
		in: []string{gpMTLS, gpAddress,
			"panic: runtime error: index out of range [3] with length 3",
			"",
			"goroutine 7 [running]:",
			"main.handle(...)",
			gpStdio},
		want: []string{
			"panic: runtime error: index out of range [3] with length 3",
			"goroutine 7 [running]:",
			"main.handle(...)"},
	}, {
		name: "the plugin's own log lines are kept",
		max:  20,
		in: []string{gpMTLS,
			`{"@level":"info","@message":"listening","@timestamp":"2025-01-02T03:04:05.000000Z","inst":"a1"}`,
			`{"@level":"error","@message":"upstream failed","@module":"burrow-tcp","@timestamp":"2025-01-02T03:04:06.000000Z"}`,
			`{"@level":"warn","@message":"saw \"@module\":\"go-plugin\" in a frame","@timestamp":"2025-01-02T03:04:07.000000Z"}`,
			`{"@level":"info","@message":"x","@module":"go-pluginx"}`,
			gpAddress},
		want: []string{
			`{"@level":"info","@message":"listening","@timestamp":"2025-01-02T03:04:05.000000Z","inst":"a1"}`,
			`{"@level":"error","@message":"upstream failed","@module":"burrow-tcp","@timestamp":"2025-01-02T03:04:06.000000Z"}`,
			`{"@level":"warn","@message":"saw \"@module\":\"go-plugin\" in a frame","@timestamp":"2025-01-02T03:04:07.000000Z"}`,
			`{"@level":"info","@message":"x","@module":"go-pluginx"}`},
	}, {
		name: "go-plugin lines do not push out the plugin's last words",
		max:  2,
		in:   []string{"fatal error: concurrent map writes", "goroutine 9 [running]:", gpMTLS, gpAddress, gpStdio, gpAddress},
		want: []string{"fatal error: concurrent map writes", "goroutine 9 [running]:"},
	}, {
		name: "not JSON, or broken JSON, is kept",
		max:  20,
		in:   []string{`{"@module":"go-plugin"`, `plain "@module":"go-plugin" text`, "\t" + gpMTLS + "\r"},
		want: []string{`{"@module":"go-plugin"`, `plain "@module":"go-plugin" text`},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			tl := newTail(tc.max)
			for _, line := range tc.in {
				// As go-plugin writes them: the line, then its newline.
				_, _ = tl.Write([]byte(line))
				_, _ = tl.Write([]byte{'\n'})
			}
			if got := tl.Lines(); !slices.Equal(got, tc.want) {
				t.Errorf("tail of\n%s\nis\n%q\nwant\n%q", strings.Join(tc.in, "\n"), got, tc.want)
			}
		})
	}
}

// TestTailLeavesOutRealGoPluginLogger feeds the tail what an hclog logger
// named as in sdk.ServeWith writes, so a change of hclog's format shows.
func TestTailLeavesOutRealGoPluginLogger(t *testing.T) {
	tl := newTail(20)
	gp := hclog.New(&hclog.LoggerOptions{Name: "go-plugin", Output: tl, JSONFormat: true, Level: hclog.Trace})
	gp.Info("configuring server automatic mTLS")
	gp.Debug("plugin address", "network", "unix", "address", "/tmp/plugin1234")
	gp.Named("stdio").Trace("waiting for stdio data")
	_, _ = tl.Write([]byte("panic: boom\n\ngoroutine 1 [running]:\n"))
	gp.Debug("plugin address", "network", "unix", "address", "/tmp/plugin1234")
	want := []string{"panic: boom", "goroutine 1 [running]:"}
	if got := tl.Lines(); !slices.Equal(got, want) {
		t.Errorf("tail %q, want %q", got, want)
	}
}
