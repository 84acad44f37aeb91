package conf

import (
	"fmt"
	"net/url"
)

// Parameters that only mean something in some modes of a client or a
// server are refused where they would be ignored (issue 9's rule).

// agentOnlyParams act only on a client that dials a bridge (dual-end).
var agentOnlyParams = []string{"fp", "ca", "sni", "allow", "tls", "type", "wspath", "wshost"}

// SingleEndProblems lists the parameters of a client query that a
// single-end client (mode=1) would ignore. The runtime asks too, when
// mode=0 settles on single-end.
func SingleEndProblems(q url.Values) []string {
	var problems []string
	for _, name := range agentOnlyParams {
		if v := q.Get(name); v != "" && !((name == "tls" || name == "type") && v == "0") {
			problems = append(problems, fmt.Sprintf("parameter %s: has no effect on a single-end client (mode=1), which dials its targets itself; use mode=2 for a client of a server", name))
		}
	}
	return problems
}

// modeProblems checks the parameters that depend on an explicit mode.
func modeProblems(scheme string, p Params, q url.Values) []string {
	switch {
	case scheme == SchemeClient && p.Mode == 1:
		return SingleEndProblems(q)
	case scheme == SchemeServer && p.Mode == 1 && q.Get("lbs") != "" && q.Get("lbs") != "0":
		// In reverse mode the server's target is where it listens; its
		// client dials the targets and takes lbs=.
		return []string{"parameter lbs: has no effect on a server in reverse mode (mode=1), whose target is the address it listens on; give lbs= to its client"}
	}
	return nil
}

// InspectMode is the inspect= parameter of an http instance: what the
// HTTP inspector records of each request.
type InspectMode int

// Inspect modes.
const (
	InspectOff     InspectMode = 0 // nothing (the default)
	InspectHeaders InspectMode = 1 // "1": metadata and headers
	InspectBodies  InspectMode = 2 // "body": also the first 16 KiB of each body
)

// String is the mode as written in a URL: "0", "1" or "body".
func (m InspectMode) String() string {
	switch m {
	case InspectHeaders:
		return "1"
	case InspectBodies:
		return "body"
	}
	return "0"
}

func setInspect(p *Params, v string) string {
	switch v {
	case "0":
		p.Inspect = InspectOff
	case "1":
		p.Inspect = InspectHeaders
	case "body":
		p.Inspect = InspectBodies
	default:
		return fmt.Sprintf("%q is not 0, 1 or body", v)
	}
	return ""
}
