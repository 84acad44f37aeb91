package conf

// ParamDoc describes one parameter as conf declares it, for help text.
type ParamDoc struct {
	Name    string
	Schemes []string // the built-in schemes that take it, and "plugins" when plugin schemes do
	Values  string   // the values it takes: "0|1|2", "duration", "file", ...
	Default string   // as written in a URL; "" when it has none
	Doc     string   // one line
	Secret  bool     // its value is never shown
}

// pluginSchemes names every plugin scheme in ParamDoc.Schemes.
const pluginSchemes = "plugins"

// ParamDocs returns every parameter conf declares, in declaration order.
func ParamDocs() []ParamDoc {
	docs := make([]ParamDoc, 0, len(paramSpecs))
	for _, s := range paramSpecs {
		d := ParamDoc{Name: s.name, Values: s.kind, Default: s.def, Doc: s.doc, Secret: s.secret}
		for _, b := range builtins {
			if s.on&b.on != 0 {
				d.Schemes = append(d.Schemes, b.name)
			}
		}
		if s.on&onPlugin != 0 {
			d.Schemes = append(d.Schemes, pluginSchemes)
		}
		docs = append(docs, d)
	}
	return docs
}
