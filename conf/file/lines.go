package file

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"
)

// lineIndex maps a key path (parts joined by NUL) to the line of its first
// definition: a [table] header, a key = value, or a key of an inline table.
// go-toml's decoder gives positions only in its errors; its parser (the
// unstable package, the library's way to reach positions) gives every key's.
type lineIndex map[string]int

func (x lineIndex) at(path ...string) int { return x[strings.Join(path, "\x00")] }

func (x lineIndex) add(path []string, line int) {
	for i := 1; i <= len(path); i++ {
		k := strings.Join(path[:i], "\x00")
		if _, ok := x[k]; !ok {
			x[k] = line
		}
	}
}

// indexLines parses data (already known to be valid TOML) for key lines.
func indexLines(data []byte) (lineIndex, error) {
	x := lineIndex{}
	var p unstable.Parser
	p.Reset(data)
	var table []string
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			var line int
			table, line = keyOf(&p, e)
			x.add(table, line)
		case unstable.KeyValue:
			x.keyValue(&p, table, e)
		}
	}
	if err := p.Error(); err != nil {
		return nil, fmt.Errorf("toml: %w", err)
	}
	return x, nil
}

// keyValue indexes a key = value under prefix, and an inline table's keys.
func (x lineIndex) keyValue(p *unstable.Parser, prefix []string, e *unstable.Node) {
	key, line := keyOf(p, e)
	path := append(slices.Clone(prefix), key...)
	x.add(path, line)
	if v := e.Value(); v.Kind == unstable.InlineTable {
		it := v.Children()
		for it.Next() {
			if n := it.Node(); n.Kind == unstable.KeyValue {
				x.keyValue(p, path, n)
			}
		}
	}
}

// keyOf returns the parts of a node's (possibly dotted) key and its line.
func keyOf(p *unstable.Parser, e *unstable.Node) ([]string, int) {
	var parts []string
	line := 0
	it := e.Key()
	for it.Next() {
		n := it.Node()
		if line == 0 {
			line = p.Shape(n.Raw).Start.Line
		}
		parts = append(parts, string(n.Data))
	}
	return parts, line
}

// sortedByLine returns the keys of t, the table at prefix, in file order.
func sortedByLine[V any](x lineIndex, prefix []string, t map[string]V) []string {
	keys := make([]string, 0, len(t))
	for k := range t {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		return cmp.Or(cmp.Compare(x.at(append(slices.Clone(prefix), a)...), x.at(append(slices.Clone(prefix), b)...)), cmp.Compare(a, b))
	})
	return keys
}
