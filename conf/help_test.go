package conf

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

// Every declared parameter carries its help, and its declared default is
// the one DefaultParams holds: setting it changes nothing.
func TestParamDocs(t *testing.T) {
	docs := ParamDocs()
	if len(docs) != len(paramSpecs) {
		t.Fatalf("ParamDocs has %d entries, %d parameters are declared", len(docs), len(paramSpecs))
	}
	for i, d := range docs {
		s := paramSpecs[i]
		if d.Name != s.name || d.Values == "" || d.Doc == "" || strings.Contains(d.Doc, "\n") || len(d.Schemes) == 0 {
			t.Errorf("parameter %s: help %+v: want a name, values, schemes and a one-line doc", s.name, d)
		}
		if d.Default == "" {
			continue
		}
		p := DefaultParams()
		if msg := s.set(&p, d.Default); msg != "" {
			t.Errorf("parameter %s: declared default %q: %s", s.name, d.Default, msg)
		}
		p.TLSSet = false // tls=0 given is plain on a client; the default leaves it unset
		if !reflect.DeepEqual(p, DefaultParams()) {
			t.Errorf("parameter %s: declared default %q is not the default: %+v", s.name, d.Default, p)
		}
	}
}

// The schemes a parameter's help names are the schemes that take it.
func TestParamDocsSchemes(t *testing.T) {
	for _, d := range ParamDocs() {
		for _, scheme := range append(BuiltinSchemes(), "socks5") {
			name := scheme
			if !IsBuiltinScheme(scheme) {
				name = pluginSchemes
			}
			if got, want := slices.Contains(d.Schemes, name), Applies(scheme, d.Name); got != want {
				t.Errorf("parameter %s: help names %s: %v; the parameter applies to %s: %v", d.Name, name, got, scheme, want)
			}
		}
	}
}

// log_format is accepted on every scheme, Burrow's and NodePass's and
// plugins', and a bad value is an error on each.
func TestLogFormatEverywhere(t *testing.T) {
	for _, raw := range []string{"master://:9090?", "server://:1/h:2?", "client://h:1?", "tcp://:1/h:2?agent=a&",
		"udp://:1/h:2?agent=a&", "http://:80?agent=a&host=x.com&", "socks5://:1?"} {
		if inst := mustParse(t, raw+"log_format=json"); inst.Params.Format != LogJSON {
			t.Errorf("%slog_format=json: format %q", raw, inst.Params.Format)
		}
		if _, err := Parse(raw + "log_format=yaml"); err == nil || !strings.Contains(err.Error(), `log_format: "yaml" is not text or json`) {
			t.Errorf("%slog_format=yaml: %v, want the value refused", raw, err)
		}
	}
}
