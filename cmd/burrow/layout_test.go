package main

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The master has one composition root: only main knows the HTTP API.
// Every other package of the module (tests included) is checked for an
// import of web.
func TestOnlyMainImportsWeb(t *testing.T) {
	const web = "github.com/burrowproject/burrow/web"
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			if strings.HasPrefix(d.Name(), ".") || rel == "bin" || rel == filepath.Join("plugins", "examples") {
				return filepath.SkipDir
			}
			return nil
		}
		dir := filepath.Dir(rel)
		if !strings.HasSuffix(path, ".go") || dir == filepath.Join("cmd", "burrow") || dir == "web" {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		seen++
		for _, imp := range f.Imports {
			if p, _ := strconv.Unquote(imp.Path.Value); p == web {
				t.Errorf("%s imports %s: only cmd/burrow, the composition root, may", rel, web)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen < 100 {
		t.Fatalf("checked only %d files under %s", seen, root)
	}
}
