package conf

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestReadmeDocumentsEveryParameter keeps the README's parameter table (a
// hand-written explanation) in step with the declarations here, which
// `burrow help params` prints: every declared parameter has a row, and no
// row names a parameter that is not declared.
func TestReadmeDocumentsEveryParameter(t *testing.T) {
	raw, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatalf("read README: %v", err)
	}
	text := string(raw)
	start := strings.Index(text, "### Parameters\n")
	if start < 0 {
		t.Fatal(`README has no "### Parameters" section`)
	}
	section := text[start:]
	if end := strings.Index(section[len("### Parameters\n"):], "\n#"); end >= 0 {
		section = section[:end+len("### Parameters\n")]
	}
	// A row starts with its parameter names: | `a`, `b` | applies to | ...
	row := regexp.MustCompile("(?m)^\\| ((?:`[a-z_]+`(?:, )?)+) \\|")
	name := regexp.MustCompile("`([a-z_]+)`")
	inReadme := map[string]bool{}
	for _, m := range row.FindAllStringSubmatch(section, -1) {
		for _, n := range name.FindAllStringSubmatch(m[1], -1) {
			inReadme[n[1]] = true
		}
	}
	declared := map[string]bool{}
	for _, d := range ParamDocs() {
		declared[d.Name] = true
		if !inReadme[d.Name] {
			t.Errorf("parameter %q is declared but has no row in the README's parameter table", d.Name)
		}
	}
	for n := range inReadme {
		if !declared[n] {
			t.Errorf("the README's parameter table has a row for %q, which conf does not declare", n)
		}
	}
}
