package pluginhost

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/time/rate"
)

// hclogFor returns an hclog.Logger that forwards to log, for go-plugin: its
// own messages and every line of a plugin's stderr (which it parses as
// hclog JSON) end up in log, re-emitted by the host's handler in the
// host's format (text or JSON lines): a plugin need not know it. The
// plugin's own lines keep their level; go-plugin's chatter is demoted to
// debug (see slogSink.level).
func hclogFor(log *slog.Logger) hclog.Logger {
	il := hclog.NewInterceptLogger(&hclog.LoggerOptions{Output: io.Discard, Level: hclog.Trace})
	il.RegisterSink(&slogSink{log: log})
	return il
}

type slogSink struct{ log *slog.Logger }

// Accept implements hclog.SinkAdapter. name is "" for go-plugin's own
// messages in the host; a plugin's stderr lines come under the name of its
// binary, go-plugin's among them carrying "@module":"go-plugin...".
func (s *slogSink) Accept(name string, level hclog.Level, msg string, args ...any) {
	module := ""
	for i := 0; i+1 < len(args); i += 2 {
		if k, _ := args[i].(string); k == "@module" {
			module = fmt.Sprint(args[i+1])
		}
	}
	lv := slogLevel(level)
	if name == "" || isGoPluginModule(module) {
		lv = goPluginLevel(lv, msg)
	}
	if !s.log.Enabled(context.Background(), lv) {
		return
	}
	attrs := make([]any, 0, len(args)+2)
	if name != "" {
		attrs = append(attrs, "logger", name)
	}
	for i := 0; i+1 < len(args); i += 2 {
		k := fmt.Sprint(args[i])
		if k == "timestamp" || k == "@module" {
			continue // the plugin's own; the host stamps its time
		}
		attrs = append(attrs, k, args[i+1])
	}
	s.log.Log(context.Background(), lv, msg, attrs...)
}

// slogLevel maps an hclog level to slog's.
func slogLevel(level hclog.Level) slog.Level {
	switch level {
	case hclog.Trace:
		return slog.LevelDebug - 4
	case hclog.Debug:
		return slog.LevelDebug
	case hclog.Warn:
		return slog.LevelWarn
	case hclog.Error:
		return slog.LevelError
	}
	return slog.LevelInfo
}

// goPluginExited is go-plugin's line when a plugin process ends, at info
// or, with the exit error, at error.
const goPluginExited = "plugin process exited"

// goPluginLevel is the level of one of go-plugin's own messages: its
// chatter (starting, mTLS, addresses, exits) at most debug; its warnings
// and errors keep their level, except the exit line: the host reports a
// plugin that died itself ("plugin died", with the exit status and the
// plugin's last stderr lines), and a plugin it stopped is no error.
func goPluginLevel(lv slog.Level, msg string) slog.Level {
	if lv < slog.LevelWarn || msg == goPluginExited {
		return min(lv, slog.LevelDebug)
	}
	return lv
}

// tail keeps the last lines written to it (a plugin's raw stderr), for
// crash reports: what the plugin itself said (a panic and its stack, its
// own log lines). go-plugin's own lines (handshake, mTLS, plugin address)
// are left out, so they cannot push the plugin's last words out of the
// tail; they are still logged through hclogFor.
type tail struct {
	mu    sync.Mutex
	max   int
	lines []string
	part  []byte
}

func newTail(n int) *tail { return &tail{max: n} }

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.part = append(t.part, p...)
	for {
		i := bytes.IndexByte(t.part, '\n')
		if i < 0 {
			break
		}
		t.add(string(t.part[:i]))
		t.part = t.part[i+1:]
	}
	if len(t.part) > 4096 {
		t.add(string(t.part))
		t.part = t.part[:0]
	}
	return len(p), nil
}

func (t *tail) add(line string) {
	line = strings.TrimRight(line, "\r")
	if line == "" || fromGoPlugin(line) {
		return
	}
	if len(line) > 512 {
		line = line[:512] + "…"
	}
	t.lines = append(t.lines, line)
	if len(t.lines) > t.max {
		t.lines = t.lines[len(t.lines)-t.max:]
	}
}

// goPluginModule is the name of go-plugin's own logger in a plugin
// (sdk.ServeWith names it so): its JSON lines carry "@module":"go-plugin".
const goPluginModule = "go-plugin"

// fromGoPlugin reports whether a stderr line is one of go-plugin's own
// JSON log lines (its @module is go-plugin or a logger named under it),
// not something the plugin itself wrote.
func fromGoPlugin(line string) bool {
	line = strings.TrimSpace(line)
	if !strings.HasPrefix(line, "{") || !strings.Contains(line, `"@module"`) {
		return false
	}
	var e struct {
		Module string `json:"@module"`
	}
	if json.Unmarshal([]byte(line), &e) != nil {
		return false
	}
	return isGoPluginModule(e.Module)
}

// isGoPluginModule reports whether module is go-plugin's logger in a
// plugin or one named under it.
func isGoPluginModule(module string) bool {
	return module == goPluginModule || strings.HasPrefix(module, goPluginModule+".")
}

// Lines returns the kept lines, oldest first.
func (t *tail) Lines() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]string(nil), t.lines...)
}

// Reset forgets the kept lines (at a new launch).
func (t *tail) Reset() {
	t.mu.Lock()
	t.lines, t.part = nil, nil
	t.mu.Unlock()
}

// stdioSink logs what a plugin prints to its stdout or stderr after the
// handshake (go-plugin streams it over gRPC), rate-limited so a chatty
// plugin cannot flood the server's log. Lines over the limit are counted
// and the count logged with the next line that passes.
type stdioSink struct {
	log     *slog.Logger
	stream  string
	limit   *rate.Limiter
	mu      sync.Mutex
	part    []byte
	dropped int
}

func newStdioSink(log *slog.Logger, stream string) *stdioSink {
	return &stdioSink{log: log, stream: stream, limit: rate.NewLimiter(rate.Every(50*time.Millisecond), 50)}
}

func (s *stdioSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.part = append(s.part, p...)
	for {
		i := bytes.IndexByte(s.part, '\n')
		if i < 0 && len(s.part) < 4096 {
			break
		}
		var line string
		if i < 0 {
			line, s.part = string(s.part), s.part[:0]
		} else {
			line, s.part = string(s.part[:i]), s.part[i+1:]
		}
		if !s.limit.Allow() {
			s.dropped++
			continue
		}
		if s.dropped > 0 {
			s.log.Warn("plugin output dropped (rate limit)", "stream", s.stream, "lines", s.dropped)
			s.dropped = 0
		}
		s.log.Info(strings.TrimRight(line, "\r"), "stream", s.stream)
	}
	return len(p), nil
}
