package logx_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/burrowproject/burrow/conf"
	"github.com/burrowproject/burrow/internal/logx"
)

func TestFormats(t *testing.T) {
	p := conf.DefaultParams()
	var text bytes.Buffer
	logx.New(&text, p).Info("Agent: burrow 'client://K@h:1?allow=x'", "err", "boom \"quoted\"")
	if got := text.String(); !strings.HasPrefix(got, "time=") || !strings.Contains(got, `level=INFO msg="Agent: burrow 'client://K@h:1?allow=x'" err="boom \"quoted\""`) {
		t.Errorf("text line %q", got)
	}

	p.Format = conf.LogJSON
	var js bytes.Buffer
	l := logx.New(&js, p)
	l.Info("Master started: 127.0.0.1:9090/api/v1", "err", "a\nb")
	l.With("instance", "x1").Warn("two")
	lines := strings.Split(strings.TrimSuffix(js.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d JSON lines, want 2: %q", len(lines), js.String())
	}
	var first, second map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatalf("line %q: %v", lines[0], err)
	}
	if err := json.Unmarshal([]byte(lines[1]), &second); err != nil {
		t.Fatalf("line %q: %v", lines[1], err)
	}
	if first["msg"] != "Master started: 127.0.0.1:9090/api/v1" || first["level"] != "INFO" || first["err"] != "a\nb" || first["time"] == nil {
		t.Errorf("first line %v", first)
	}
	if second["level"] != "WARN" || second["instance"] != "x1" {
		t.Errorf("second line %v", second)
	}
}

func TestLevel(t *testing.T) {
	for _, tc := range []struct {
		level conf.LogLevel
		want  string
	}{{conf.LogDebug, "d i w e"}, {conf.LogInfo, "i w e"}, {conf.LogEvent, "i w e"}, {conf.LogWarn, "w e"}, {conf.LogError, "e"}, {conf.LogNone, ""}} {
		for _, format := range []conf.LogFormat{conf.LogText, conf.LogJSON} {
			p := conf.DefaultParams()
			p.Log, p.Format = tc.level, format
			var b bytes.Buffer
			l := logx.New(&b, p)
			l.Debug("d")
			l.Info("i")
			l.Warn("w")
			l.Error("e")
			var got []string
			for _, m := range []string{"d", "i", "w", "e"} {
				if strings.Contains(b.String(), `msg=`+m+"\n") || strings.Contains(b.String(), `"msg":"`+m+`"`) {
					got = append(got, m)
				}
			}
			if strings.Join(got, " ") != tc.want {
				t.Errorf("log=%s log_format=%s logged %v, want %q", tc.level, format, got, tc.want)
			}
		}
	}
}
