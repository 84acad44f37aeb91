package pluginhost

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/burrowproject/burrow/internal/testutil"
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

// A real plugin process under a host logging JSON lines: every line the
// host writes is one JSON object; the plugin's own lines keep their level
// and say which plugin wrote them; go-plugin's own, in the host and in the
// plugin, are at debug.
func TestPluginLogsJSONAndChatterAtDebug(t *testing.T) {
	var out testutil.SyncBuffer
	log := slog.New(slog.NewJSONHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ph := processHost(t, Config{Logger: log, LogLevel: "debug"}, "chatty")
	if _, err := mustHandler(t, ph, "chatty").Describe(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := ph.Close(); err != nil {
		t.Fatal(err)
	}
	type line struct {
		Level, Msg, Logger, K string
	}
	levels := map[string]string{} // message -> level
	var own []line
	for _, raw := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var l line
		if err := json.Unmarshal([]byte(raw), &l); err != nil {
			t.Fatalf("host log line is not JSON: %q: %v", raw, err)
		}
		levels[l.Msg] = l.Level
		if strings.HasPrefix(l.Msg, "own ") {
			own = append(own, l)
		}
	}
	wantOwn := []line{{"WARN", "own warning", "burrow-chatty", "v"}, {"INFO", "own info", "burrow-chatty", ""}, {"DEBUG", "own debug", "burrow-chatty", ""}}
	if !slices.Equal(own, wantOwn) {
		t.Errorf("the plugin's own lines %+v, want %+v", own, wantOwn)
	}
	// go-plugin's, in the host (client side) and in the plugin (server side).
	for _, msg := range []string{"starting plugin", "waiting for RPC address", "configuring client automatic mTLS",
		"configuring server automatic mTLS", "plugin address", "plugin process exited"} {
		if lv, ok := levels[msg]; !ok || lv != "DEBUG" {
			t.Errorf("go-plugin's %q logged at %q (seen: %v), want DEBUG", msg, lv, ok)
		}
	}
	if t.Failed() {
		t.Logf("host log:\n%s", out.String())
	}
}

// go-plugin's warnings and errors keep their level, but for its exit line,
// whose news the host reports itself ("plugin died").
func TestGoPluginLevels(t *testing.T) {
	var out testutil.SyncBuffer
	hl := hclogFor(slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug})))
	hl.Info("configuring client automatic mTLS")
	hl.Error("plugin process exited", "plugin", "/p/burrow-tcp", "error", "exit status 2")
	hl.Warn("plugin failed to exit gracefully")
	hl.Named("burrow-tcp").Error("upstream failed", "@module", "burrow-tcp")
	hl.Named("burrow-tcp").Info("plugin address", "@module", "go-plugin")
	hl.Named("burrow-tcp").Warn("odd", "@module", "go-plugin.stdio")
	for _, want := range []string{
		`level=DEBUG msg="configuring client automatic mTLS"`,
		`level=DEBUG msg="plugin process exited" plugin=/p/burrow-tcp error="exit status 2"`,
		`level=WARN msg="plugin failed to exit gracefully"`,
		`level=ERROR msg="upstream failed" logger=burrow-tcp`,
		`level=DEBUG msg="plugin address" logger=burrow-tcp`,
		`level=WARN msg=odd logger=burrow-tcp`,
	} {
		if !strings.Contains(out.String(), want+"\n") {
			t.Errorf("log lacks %s:\n%s", want, out.String())
		}
	}
}
