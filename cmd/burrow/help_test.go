package main

import (
	"bytes"
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/burrowproject/burrow/conf"
	"github.com/burrowproject/burrow/server/pluginhost"
	"github.com/burrowproject/burrow/server/runtime"
)

// knownSchemes are the schemes burrow runs: the built-in ones, the
// runtime's handlers and the plugins this repository builds (the
// commands under plugins/, named burrow-SCHEME as the host requires).
func knownSchemes(t *testing.T) []string {
	t.Helper()
	schemes := conf.BuiltinSchemes()
	for _, h := range runtime.New(runtime.Options{}).Handlers(context.Background()) {
		schemes = append(schemes, h.Scheme)
	}
	var cmds []string
	for _, pattern := range []string{"../../plugins/*/cmd/" + pluginhost.BinaryPrefix + "*", "../../plugins/examples/*/cmd/" + pluginhost.BinaryPrefix + "*"} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, m...)
	}
	if len(cmds) < 4 { // tcp, udp, http, socks5
		t.Fatalf("found only the plugin commands %v", cmds)
	}
	for _, c := range cmds {
		schemes = append(schemes, strings.TrimPrefix(filepath.Base(c), pluginhost.BinaryPrefix))
	}
	slices.Sort(schemes)
	return slices.Compact(schemes)
}

// The help carries an example for every scheme burrow runs, the client
// both as a NodePass pair end and as the agent of a master, and every
// example is a URL burrow accepts.
func TestHelpExamples(t *testing.T) {
	var out bytes.Buffer
	if code := run([]string{"--help"}, &out, &out); code != 0 {
		t.Fatalf("--help: exit %d", code)
	}
	examples := map[string][]string{}
	for _, line := range strings.Split(out.String(), "\n") {
		u, ok := strings.CutPrefix(line, "  ")
		scheme, _, isURL := strings.Cut(u, "://")
		if !ok || !isURL || strings.Contains(scheme, " ") {
			continue
		}
		examples[scheme] = append(examples[scheme], u)
		u = strings.ReplaceAll(u, "fp=FP", "fp="+strings.Repeat("ab", 32))
		if _, err := conf.Parse(u); err != nil {
			t.Errorf("help example %s: %v", u, err)
		}
	}
	for _, scheme := range knownSchemes(t) {
		if len(examples[scheme]) == 0 {
			t.Errorf("help has no example for %s://", scheme)
		}
	}
	clients := strings.Join(examples[conf.SchemeClient], "\n")
	if !strings.Contains(clients, "client://KEY@vps.example.com:10101/127.0.0.1:3000") || !strings.Contains(clients, "fp=FP&allow=") {
		t.Errorf("help lacks a client as pair end and as agent of a master:\n%s", clients)
	}
	if !strings.Contains(out.String(), "burrow help params") || strings.Contains(out.String(), "README") {
		t.Errorf("help must point to `burrow help params`, not to a README that does not ship:\n%s", out.String())
	}
	if !strings.Contains(examples[conf.SchemeHTTP][0], "host=") {
		t.Errorf("the http example has no host=: %s", examples[conf.SchemeHTTP][0])
	}
}

// `burrow help params` lists every declared parameter with its values,
// schemes and doc.
func TestHelpParams(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"help", "params"}, &out, &errOut); code != 0 || errOut.Len() > 0 {
		t.Fatalf("help params: exit %d, %s", code, errOut.String())
	}
	text := out.String()
	docs := conf.ParamDocs()
	if len(docs) < 40 {
		t.Fatalf("only %d parameters declared", len(docs))
	}
	// Each entry: "  name = values[  default D]  [schemes]", then "      doc".
	entries := map[string][2]string{}
	lines := strings.Split(text, "\n")
	for i, line := range lines {
		name, _, ok := strings.Cut(strings.TrimPrefix(line, "  "), " = ")
		if ok && strings.HasPrefix(line, "  ") && !strings.HasPrefix(line, "   ") && i+1 < len(lines) {
			entries[name] = [2]string{line, strings.TrimPrefix(lines[i+1], "      ")}
		}
	}
	for _, d := range docs {
		e, ok := entries[d.Name]
		if !ok {
			t.Errorf("help params lacks %s", d.Name)
			continue
		}
		head := "  " + d.Name + " = " + d.Values
		if d.Default != "" {
			head += "  default " + d.Default
		}
		if !strings.HasPrefix(e[0], head+"  [") || !strings.HasPrefix(e[1], d.Doc) {
			t.Errorf("help params entry of %s:\n%s\n%s\nwant it to start %q, then %q", d.Name, e[0], e[1], head, d.Doc)
		}
	}
	if len(entries) != len(docs) {
		t.Errorf("help params lists %d parameters, %d are declared", len(entries), len(docs))
	}
	for _, want := range []string{"  log_format = text|json  default text  [every scheme]", "  host = list of hosts  [http]", "never logged"} {
		if !strings.Contains(text, want) {
			t.Errorf("help params lacks %q", want)
		}
	}
}
