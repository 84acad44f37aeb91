package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/burrowproject/burrow/conf"
)

// isHelp reports whether arg asks for help.
func isHelp(arg string) bool {
	return arg == "help" || arg == "--help" || arg == "-h"
}

// printParams is `burrow help params`: every parameter conf declares, as it
// declares it (conf.ParamDocs), so the help cannot drift from the parser.
func printParams(w io.Writer) {
	fmt.Fprint(w, `Instance URL parameters (?name=value&...). [schemes] are the schemes that take one;
"plugins" are handler plugins' schemes (socks5, ...), whose own parameters their plugin
declares (GET /api/v1/schemes on a master). Elsewhere a parameter is an error, except that
NodePass's schemes (master, server, client) keep parameters they do not know, as NodePass does.

`)
	all := len(conf.BuiltinSchemes()) + 1 // and plugins
	for _, d := range conf.ParamDocs() {
		schemes := strings.Join(d.Schemes, " ")
		if len(d.Schemes) == all {
			schemes = "every scheme"
		}
		line := "  " + d.Name + " = " + d.Values
		if d.Default != "" {
			line += "  default " + d.Default
		}
		line += "  [" + schemes + "]"
		doc := d.Doc
		if d.Secret {
			doc += "; never logged"
		}
		fmt.Fprintf(w, "%s\n      %s\n", line, doc)
	}
}
