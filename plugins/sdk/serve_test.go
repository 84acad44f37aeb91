package sdk

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// The plugin logger writes what go-plugin's host parses as hclog JSON: a
// "@timestamp" in its layout, a lower-case "@level" and "@message".
func TestLoggerWritesHclogJSON(t *testing.T) {
	var buf bytes.Buffer
	NewLogger(&buf, "debug").With("instance", "i1").Warn("link failed", "target", "10.0.0.1:22")
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatalf("%v: %s", err, buf.String())
	}
	if m["@level"] != "warn" || m["@message"] != "link failed" || m["instance"] != "i1" || m["target"] != "10.0.0.1:22" {
		t.Fatalf("got %v", m)
	}
	if _, err := time.Parse(hclogTime, m["@timestamp"].(string)); err != nil {
		t.Fatal(err)
	}
	buf.Reset()
	NewLogger(&buf, "").Debug("hidden")
	if buf.Len() != 0 {
		t.Fatalf("debug line at info level: %s", buf.String())
	}
}

func TestSentinel(t *testing.T) {
	if sentinel(ErrNoAgent.Error()) != ErrNoAgent || sentinel("dial: refused") != nil {
		t.Fatal("sentinel mapping")
	}
}
