package instances

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/burrowproject/burrow/conf"
	"github.com/burrowproject/burrow/server/events"
)

// MaxLogLine caps the text of one log event (bytes) so an SSE event stays
// well below 64 KiB even when every byte needs escaping.
const MaxLogLine = 4096

// instanceLogger returns the logger given to the Runtime for in: records at
// or above the instance's level (its log= parameter; none disables it) go
// to the master's handler with an instance attribute, and become log
// events carrying the instance's current state.
func (m *Manager) instanceLogger(in *instance, level conf.LogLevel) *slog.Logger {
	h := &logHandler{
		m:      m,
		in:     in,
		level:  level.SlogLevel(),
		master: m.log.Handler().WithAttrs([]slog.Attr{slog.String("instance", in.id)}),
	}
	return slog.New(h)
}

// logHandler is the slog.Handler of one instance.
type logHandler struct {
	m      *Manager
	in     *instance
	level  slog.Level
	master slog.Handler
	prefix string // group prefix for attribute keys, "a.b."
	attrs  string // pre-formatted attributes from WithAttrs
}

func (h *logHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h *logHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < h.level {
		return nil
	}
	err := h.master.Handle(ctx, r)
	line := h.format(r)
	m := h.m
	m.mu.RLock()
	if !h.in.deleted && !m.closed {
		m.publishLocked(events.Log, m.viewLocked(h.in), line)
	}
	m.mu.RUnlock()
	return err
}

func (h *logHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *h
	c.master = h.master.WithAttrs(attrs)
	var b strings.Builder
	b.WriteString(h.attrs)
	for _, a := range attrs {
		appendAttr(&b, h.prefix, a)
	}
	c.attrs = b.String()
	return &c
}

func (h *logHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	c := *h
	c.master = h.master.WithGroup(name)
	c.prefix = h.prefix + name + "."
	return &c
}

// levelColors mimic NodePass's console lines (its log events carry them).
var levelColors = map[slog.Level]string{
	slog.LevelDebug: "\x1b[34mDEBUG\x1b[0m",
	slog.LevelInfo:  "\x1b[32mINFO\x1b[0m",
	slog.LevelWarn:  "\x1b[33mWARN\x1b[0m",
	slog.LevelError: "\x1b[31mERROR\x1b[0m",
}

// format renders r as a NodePass-style console line:
// "2006-01-02 15:04:05.000  LEVEL  message key=value ...".
func (h *logHandler) format(r slog.Record) string {
	var b strings.Builder
	t := r.Time
	if t.IsZero() {
		t = time.Now()
	}
	b.WriteString(t.Format("2006-01-02 15:04:05.000"))
	b.WriteString("  ")
	if c, ok := levelColors[r.Level]; ok {
		b.WriteString(c)
	} else {
		b.WriteString(r.Level.String())
	}
	b.WriteString("  ")
	b.WriteString(r.Message)
	b.WriteString(h.attrs)
	r.Attrs(func(a slog.Attr) bool {
		appendAttr(&b, h.prefix, a)
		return true
	})
	return truncate(b.String(), MaxLogLine)
}

// appendAttr writes " key=value" (groups flattened with dots).
func appendAttr(b *strings.Builder, prefix string, a slog.Attr) {
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		p := prefix
		if a.Key != "" {
			p += a.Key + "."
		}
		for _, g := range v.Group() {
			appendAttr(b, p, g)
		}
		return
	}
	if a.Equal(slog.Attr{}) {
		return
	}
	b.WriteByte(' ')
	b.WriteString(prefix)
	b.WriteString(a.Key)
	b.WriteByte('=')
	s := v.String()
	if strings.ContainsAny(s, " \t\r\n\"=") || s == "" {
		b.WriteString(strconv.Quote(s))
	} else {
		b.WriteString(s)
	}
}

// truncate cuts s to at most n bytes on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const mark = " …(truncated)"
	cut := n - len(mark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
}
