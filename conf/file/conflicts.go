package file

import (
	"fmt"
	"net"
	"strings"

	"github.com/burrowproject/burrow/conf"
)

// Listener is one instance that Conflicts looks at: its name (as problems
// show it), its line and its parsed URL.
type Listener struct {
	Name string // e.g. "instances.ssh" or "master"
	Line int
	Inst *conf.Instance
}

// bind is one socket an instance listens on.
type bind struct {
	proto, host, port string
	shared            string // binds of the same non-empty kind may share the port (http's entry ports)
	what              string
}

// Conflicts returns a problem, at the later one's line, for every two
// listeners that would bind the same port: the same protocol and port
// with hosts equal or one of them a wildcard. The sockets looked at are a
// master's API and bridge=, the listen address of tcp, udp, http and
// plugin instances (http instances share theirs: one entry port serves
// several host names), a server's tunnel port and, unless mode=2, its
// targets (where its users connect), and a single-end client's (mode=1)
// listen address. Port 0 never conflicts.
func Conflicts(list []Listener) []Problem {
	type seen struct {
		b bind
		l Listener
	}
	var all []seen
	var problems []Problem
	for _, l := range list {
		for _, b := range binds(l.Inst) {
			for _, s := range all {
				if s.b.proto != b.proto || s.b.port != b.port || !hostsOverlap(s.b.host, b.host) ||
					(b.shared != "" && b.shared == s.b.shared) || s.l.Name == l.Name {
					continue
				}
				problems = append(problems, Problem{Line: l.Line, Msg: fmt.Sprintf(
					"%s's %s %s %s conflicts with %s's %s (line %d)",
					l.Name, b.what, b.proto, net.JoinHostPort(b.host, b.port), s.l.Name, s.b.what, s.l.Line)})
			}
			all = append(all, seen{b, l})
		}
	}
	return problems
}

// binds lists the sockets inst listens on.
func binds(inst *conf.Instance) []bind {
	var out []bind
	add := func(addr, proto, shared, what string) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil || port == "0" || port == "" {
			return
		}
		out = append(out, bind{proto: proto, host: host, port: port, shared: shared, what: what})
	}
	both := func(addr, what string, p conf.Params) {
		if !p.NoTCP {
			add(addr, "tcp", "", what)
		}
		if !p.NoUDP {
			add(addr, "udp", "", what)
		}
	}
	p := inst.Params
	switch inst.Scheme {
	case conf.SchemeMaster:
		add(inst.Listen, "tcp", "", "API")
		if p.Bridge != "" {
			add(p.Bridge, carrierProto(p.BridgeType), "", "bridge")
		}
	case conf.SchemeServer:
		add(inst.Listen, carrierProto(p.Type), "", "tunnel port")
		if p.Mode != 2 {
			for _, t := range inst.Targets {
				both(t, "target", p)
			}
		}
	case conf.SchemeClient:
		if p.Mode == 1 {
			both(inst.Listen, "listen address", p)
		}
	case conf.SchemeUDP:
		add(inst.Listen, "udp", "", "listen address")
	case conf.SchemeHTTP:
		add(inst.Listen, "tcp", conf.SchemeHTTP, "entry port")
	default:
		add(inst.Listen, "tcp", "", "listen address")
	}
	return out
}

// carrierProto is the protocol a carrier (type=, bridgetype=) listens on:
// QUIC (1) is UDP, the others TCP.
func carrierProto(carrier int) string {
	if carrier == 1 {
		return "udp"
	}
	return "tcp"
}

// hostsOverlap reports whether two listen hosts can collide: equal, or
// one of them every interface.
func hostsOverlap(a, b string) bool {
	wild := func(h string) bool { return h == "" || h == "0.0.0.0" || h == "::" }
	return wild(a) || wild(b) || strings.EqualFold(a, b)
}
