package conf

import (
	"strings"
	"testing"
)

// Parameters a mode would ignore are refused where the mode is explicit.
func TestModeProblems(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]string{
		"client://:1/h:2?mode=1&fp=" + strings.Repeat("ab", 32): "parameter fp: has no effect on a single-end client",
		"client://:1/h:2?mode=1&allow=10.0.0.0/8":               "parameter allow: has no effect",
		"client://:1/h:2?mode=1&tls=1":                          "parameter tls: has no effect",
		"client://:1/h:2?mode=1&type=2&wspath=/t":               "parameter type: has no effect",
		"server://:1/h:2?mode=1&lbs=1":                          "parameter lbs: has no effect on a server in reverse mode",
		"client://:1/h:2?mode=2":                                "client needs a bridge host",
	} {
		if _, err := Parse(raw); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%s) = %v, want %q", raw, err, want)
		}
	}
	for _, raw := range []string{
		"client://:1/h:2?mode=1&tls=0&lbs=2&dns=1m&block=12&type=0",
		"client://k@h:1/h:2?mode=2&fp=" + strings.Repeat("ab", 32) + "&allow=10.0.0.0/8",
		"client://k@h:1/h:2?allow=10.0.0.0/8", // auto: checked when it starts
		"server://:1/h:2?mode=2&lbs=1",
		"server://:1/h:2?lbs=1",
		"client://:1/h:2?mode=1", // single-end on every interface
	} {
		if _, err := Parse(raw); err != nil {
			t.Errorf("Parse(%s): %v", raw, err)
		}
	}
}
