package conf

import (
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// LogLevel is an instance log level as given by the log= parameter.
type LogLevel string

// Log levels understood by NodePass and Burrow.
const (
	LogNone  LogLevel = "none"  // log nothing, report nothing
	LogDebug LogLevel = "debug" // everything
	LogInfo  LogLevel = "info"  // the default
	LogWarn  LogLevel = "warn"  // warnings and errors
	LogError LogLevel = "error" // errors only
	LogEvent LogLevel = "event" // events (traffic reports) and errors; logs like info
)

// LevelNone is the slog level of LogNone: above every level Burrow logs at,
// so a handler with this minimum level drops everything.
const LevelNone = slog.LevelError + 8

// ParseLogLevel returns the level named s (case-insensitive); anything
// unrecognised, including "", is LogInfo, as in NodePass.
func ParseLogLevel(s string) LogLevel {
	switch l := LogLevel(strings.ToLower(s)); l {
	case LogNone, LogDebug, LogInfo, LogWarn, LogError, LogEvent:
		return l
	}
	return LogInfo
}

// SlogLevel maps the level to a slog.Level: event logs at info, none at
// LevelNone (above error), anything unrecognised at info.
func (l LogLevel) SlogLevel() slog.Level {
	switch l {
	case LogDebug:
		return slog.LevelDebug
	case LogWarn:
		return slog.LevelWarn
	case LogError:
		return slog.LevelError
	case LogNone:
		return LevelNone
	}
	return slog.LevelInfo
}

// LogFormat is the log_format= parameter: how a process writes its log.
type LogFormat string

// Log formats.
const (
	LogText LogFormat = "text" // slog's key=value lines (the default)
	LogJSON LogFormat = "json" // one JSON object a line
)

func setLogFormat(p *Params, v string) string {
	switch f := LogFormat(strings.ToLower(v)); f {
	case LogText, LogJSON:
		p.Format = f
		return ""
	}
	return fmt.Sprintf("%q is not text or json", v)
}

// TLSMode is the tls= parameter.
type TLSMode int

// TLS modes.
const (
	TLSOff        TLSMode = 0 // plain
	TLSSelfSigned TLSMode = 1 // in-memory self-signed certificate
	TLSFiles      TLSMode = 2 // certificate and key from the crt= and key= files
)

// Params is the typed view of an instance URL's query. Parse fills every
// field with its default (DefaultParams) and then applies the parameters
// given. Empty values (param=) count as absent.
type Params struct {
	Log     LogLevel      // log, default "info"
	Format  LogFormat     // log_format, default "text"
	TLS     TLSMode       // tls, default 0; 2 requires Crt and KeyFile
	TLSSet  bool          // tls= was given (a client at tls=0 speaks plain; without it, TLS first)
	Crt     string        // crt: certificate file
	KeyFile string        // key: private key file (the query key is "key")
	FP      string        // fp: SHA-256 fingerprint a client pins the bridge certificate to, lower-case hex without colons
	CA      string        // ca: PEM bundle a client verifies the bridge certificate against (instead of the system roots)
	SNI     string        // sni: TLS server name a client presents; "" when absent or "none"
	DNS     time.Duration // dns: DNS cache TTL, default 5m
	Dial    string        // dial: source IP for outgoing connections or "auto" (default)
	Read    time.Duration // read: per-connection read timeout, default 0 (none)
	Rate    int           // rate: Mbit/s, default 0 = unlimited, >= 0
	Slot    int           // slot: maximum concurrent connections, default 65536, >= 1
	Proxy   bool          // proxy: send a PROXY protocol v1 header to the target
	Block   string        // block: digits of refused protocols (1 SOCKS, 2 HTTP, 3 TLS); "" when none ("0" or absent)
	NoTCP   bool          // notcp: TCP forwarding disabled
	NoUDP   bool          // noudp: UDP forwarding disabled
	Mode    int           // mode: 0 auto, 1, 2 (meaning depends on server/client)
	LBS     int           // lbs: target group strategy 0 round-robin, 1 lowest latency, 2 primary-backup
	Min     int           // min: client pool of idle work connections, default 64, 0 (none)..65535
	Max     int           // max: server cap on each agent's pool, default 1024, 1..65535
	Type    int           // type: the tunnel's carrier 0 TCP, 1 QUIC, 2 WebSocket, 3 HTTP/2 (server: its bridge's; client: the one it dials)

	// Burrow's own parameters.

	Agent       string        // agent: agent pool key the instance links through (secret; required for tcp/udp/http)
	Host        []string      // host: host names an http instance serves, lower-case, "*.example.com" wildcards allowed
	Path        string        // path: URL path prefix an http instance serves, starts with "/"
	Auth        string        // auth: "user:pass" (basic auth / SOCKS auth); secret
	HostRewrite string        // hostrewrite: Host header sent upstream (http)
	Redirect    string        // redirect: "https" or "https:PORT": answer 308 to HTTPS (http)
	Inspect     InspectMode   // inspect: record requests for the master's inspector (http), default off
	Allow       []string      // allow: what a client may dial: CIDRs, IPs, host:port, host:*, *.domain:port
	Bridge      string        // bridge: host:port of the shared bridge (master; standalone tcp/udp/http)
	BridgeTLS   TLSMode       // bridgetls: the bridge= listener's TLS: 1 (default) self-signed (kept in data= by a master), 2 files, 0 also accepts plain agents
	BridgeCrt   string        // bridgecrt: certificate file for bridgetls=2
	BridgeKey   string        // bridgekey: key file for bridgetls=2
	BridgeType  int           // bridgetype: the shared bridge's carrier, as type= (master)
	WSPath      string        // wspath: the WebSocket carrier's HTTP path (type=2 / bridgetype=2); "" = "/"
	WSHost      string        // wshost: the Host a WebSocket agent sends (client, type=2), e.g. the site a CDN serves
	Data        string        // data: data directory (master), default "./data"
	Handlers    string        // handlers: "process" (default) or "inprocess" (master)
	Plugins     string        // plugins: the plugin directory (master); "" = "plugins" next to the binary
	Idle        time.Duration // idle: UDP session idle timeout, default 60s, > 0

	// Bounds on what strangers may hold (see README, security).

	Handshakes       int           // handshakes: bridge handshakes in progress at once, default 128, >= 1
	HandshakesPerIP  int           // hsperip: of them from one source IP, default 16, >= 1
	HandshakeTimeout time.Duration // hstimeout: time an agent has to connect and say hello, default 5s, > 0
	Sessions         int           // sessions: UDP sessions of an instance at once, default 8192, >= 1
	PerSource        int           // persource: UDP sessions from one source IP at once, default 256, >= 1
	LinkLog          int           // linklog: failed-link warnings an instance logs per 10 s, default 5, >= 0
}

// DefaultParams returns the parameters of a URL that gives none.
func DefaultParams() Params {
	return Params{
		Log:       LogInfo,
		Format:    LogText,
		TLS:       TLSOff,
		BridgeTLS: TLSSelfSigned,
		DNS:       5 * time.Minute,
		Dial:      "auto",
		Slot:      65536,
		Min:       64,
		Max:       1024,
		Data:      "./data",
		Handlers:  "process",
		Idle:      60 * time.Second,

		Handshakes:       128,
		HandshakesPerIP:  16,
		HandshakeTimeout: 5 * time.Second,
		Sessions:         8192,
		PerSource:        256,
		LinkLog:          5,
	}
}

// clone returns a deep copy of p.
func (p Params) clone() Params {
	p.Host = cloneStrings(p.Host)
	p.Allow = cloneStrings(p.Allow)
	return p
}

func cloneStrings(s []string) []string {
	if s == nil {
		return nil
	}
	return append([]string(nil), s...)
}

// schemeSet is a set of the schemes a parameter applies to.
type schemeSet uint8

// The scheme classes a parameter may apply to. onPlugin means any scheme
// served by a handler plugin: such parameters are used by the host itself
// (limits, accounting, the bridge a standalone run dials); everything else
// on a plugin scheme is the plugin's, declared in its descriptor.
const (
	onMaster schemeSet = 1 << iota
	onServer
	onClient
	onTCP
	onUDP
	onHTTP
	onPlugin

	onNodePass = onServer | onClient
	onHandler  = onTCP | onUDP | onHTTP | onPlugin
	onAll      = onMaster | onNodePass | onHandler
)

// setOf returns the class of scheme.
func setOf(scheme string) schemeSet {
	for _, b := range builtins {
		if b.name == scheme {
			return b.on
		}
	}
	return onPlugin
}

// keepsUnknown reports whether the scheme keeps parameters it does not know,
// as NodePass does for its own schemes (server, client, master). Burrow's
// own schemes refuse them.
func keepsUnknown(scheme string) bool {
	return setOf(scheme)&(onMaster|onNodePass) != 0
}

// paramSpec is one typed query parameter. set parses v (never "") into p
// and returns "" or the problem, which must not contain v when secret.
type paramSpec struct {
	name string
	on   schemeSet // the schemes that take it
	// nodePass: the parameter is NodePass's, so a NodePass scheme it does
	// not apply to keeps it untouched, as NodePass would; Burrow's own
	// parameters on a scheme they do not apply to are an error everywhere.
	nodePass bool
	secret   bool // value never shown (errors, Redacted)
	set      func(p *Params, v string) string
	// why, if set, explains why the parameter does not apply to a scheme.
	why map[string]string

	// Help (burrow help params): the values it takes, its default as
	// written in a URL ("" when none), and one line saying what it does.
	kind, def, doc string
}

// paramSpecs lists the typed parameters in the order problems are reported.
// Each carries its help: `burrow help params` prints them as declared here.
var paramSpecs = []paramSpec{
	{name: "log", on: onAll, nodePass: true, kind: "none|debug|info|warn|error|event", def: "info",
		doc: "log level; event logs traffic reports and errors",
		set: func(p *Params, v string) string { p.Log = ParseLogLevel(v); return "" }},
	{name: "log_format", on: onAll, kind: "text|json", def: "text",
		doc: "log lines as text (key=value) or JSON, one object a line; instances of a master log in the master's",
		set: setLogFormat},
	{name: "tls", on: onAll, nodePass: true, kind: "0|1|2", def: "0",
		doc: "the listener's TLS (a master's: its admin API): 0 plain, 1 self-signed, 2 crt=/key= files; a client: 0 plain, else TLS first",
		set: setTLS},
	{name: "crt", on: onAll &^ onClient, nodePass: true, kind: "file", doc: "certificate file (PEM) for tls=2",
		set: func(p *Params, v string) string { p.Crt = v; return "" }},
	{name: "key", on: onAll &^ onClient, nodePass: true, kind: "file", doc: "private key file (PEM) for tls=2",
		set: func(p *Params, v string) string { p.KeyFile = v; return "" }},
	{name: "fp", on: onClient, kind: "64 hex digits", doc: "SHA-256 fingerprint the agent pins the bridge's certificate to", set: setFP},
	{name: "ca", on: onClient, kind: "file", doc: "PEM CA bundle the agent verifies the bridge against instead of the system roots", set: setCA},
	{name: "sni", on: onClient, nodePass: true, kind: "host|none", def: "none", doc: "TLS server name the agent presents and verifies", set: setSNI},
	{name: "dns", on: onNodePass, nodePass: true, kind: "duration", def: "5m", doc: "DNS cache time to live",
		set: durationParam(func(p *Params) *time.Duration { return &p.DNS }, 0)},
	{name: "dial", on: onNodePass, nodePass: true, kind: "IP|auto", def: "auto", doc: "source IP of outgoing connections", set: setDial, why: map[string]string{
		SchemeTCP: "the agent dials the target; set dial= on the agent's client:// URL", SchemeUDP: "the agent dials the target; set dial= on the agent's client:// URL",
		SchemeHTTP: "the agent dials the target; set dial= on the agent's client:// URL",
	}},
	{name: "read", on: onNodePass | onHandler, nodePass: true, kind: "duration", def: "0", doc: "idle timeout of a connection; 0 is none",
		set: durationParam(func(p *Params) *time.Duration { return &p.Read }, 0)},
	{name: "rate", on: onNodePass | onHandler, nodePass: true, kind: "int >= 0", def: "0", doc: "bandwidth limit in Mbit/s; 0 is unlimited",
		set: intParam(func(p *Params) *int { return &p.Rate }, 0, -1)},
	{name: "slot", on: onNodePass | onHandler, nodePass: true, kind: "int >= 1", def: "65536", doc: "maximum concurrent connections",
		set: intParam(func(p *Params) *int { return &p.Slot }, 1, -1)},
	{name: "proxy", on: onNodePass | onTCP | onPlugin, nodePass: true, kind: "0|1", def: "0", doc: "send a PROXY protocol v1 header to the target",
		set: boolParam(func(p *Params) *bool { return &p.Proxy }), why: map[string]string{
			SchemeHTTP: "one upstream connection carries many clients' requests; backends get X-Forwarded-For and X-Real-IP instead",
			SchemeUDP:  "the PROXY protocol header is for TCP connections",
		}},
	{name: "block", on: onNodePass, nodePass: true, kind: "0 or digits 1-3", def: "0", doc: "refuse protocols: 1 SOCKS, 2 HTTP, 3 TLS", set: setBlock},
	{name: "notcp", on: onNodePass, nodePass: true, kind: "0|1", def: "0", doc: "disable TCP forwarding",
		set: boolParam(func(p *Params) *bool { return &p.NoTCP })},
	{name: "noudp", on: onNodePass, nodePass: true, kind: "0|1", def: "0", doc: "disable UDP forwarding",
		set: boolParam(func(p *Params) *bool { return &p.NoUDP })},
	{name: "mode", on: onNodePass, nodePass: true, kind: "0|1|2", def: "0", doc: "0 auto; server: 1 reverse, 2 forward; client: 1 single-end, 2 dual-end",
		set: intParam(func(p *Params) *int { return &p.Mode }, 0, 2)},
	// lbs: server, client (the egress side's target group strategy).
	{name: "lbs", on: onNodePass, nodePass: true, kind: "0|1|2", def: "0", doc: "target group strategy: 0 round-robin, 1 lowest latency, 2 primary-backup",
		set: intParam(func(p *Params) *int { return &p.LBS }, 0, 2)},
	// min: client (idle work connections the agent keeps open to the
	// bridge; 0, a Burrow extension: none, every link rides the session);
	// max: server (the most the bridge keeps per agent session, sent to
	// the agent). Up to 65535, the wire's bound.
	{name: "min", on: onClient, nodePass: true, kind: "0..65535", def: "64", doc: "idle work connections the agent keeps open; 0 is none",
		set: intParam(func(p *Params) *int { return &p.Min }, 0, 65535)},
	{name: "max", on: onServer, nodePass: true, kind: "1..65535", def: "1024", doc: "the most work connections the bridge keeps per agent",
		set: intParam(func(p *Params) *int { return &p.Max }, 1, 65535)},
	// type: server (its bridge's carrier), client (the carrier it dials).
	{name: "type", on: onServer | onClient, nodePass: true, kind: "0|1|2|3", def: "0", doc: "the tunnel's carrier: 0 TCP, 1 QUIC, 2 WebSocket, 3 HTTP/2",
		set: intParam(func(p *Params) *int { return &p.Type }, 0, 3)},
	// The carrier's HTTP path (master, server, client) and Host (client),
	// for a WebSocket carrier behind a reverse proxy or CDN.
	{name: "wspath", on: onMaster | onServer | onClient, kind: "/path", doc: "the WebSocket carrier's HTTP path; / when not given", set: setWSPath},
	{name: "wshost", on: onClient, kind: "host[:port]", doc: "the Host a WebSocket agent sends (the site a CDN serves)", set: setWSHost},
	{name: "agent", on: onHandler, secret: true, kind: "key", doc: "the agent pool key the instance links through (secret)",
		set: func(p *Params, v string) string { p.Agent = v; return "" }},
	{name: "host", on: onHTTP, kind: "list of hosts", doc: "host names served; *.example.com wildcards allowed", set: setHost},
	{name: "path", on: onHTTP, kind: "/path", doc: "URL path prefix served", set: setPath},
	{name: "auth", on: onHTTP | onPlugin, secret: true, kind: "user:pass", doc: "basic auth (http) or SOCKS5 username/password (secret)", set: setAuth},
	{name: "hostrewrite", on: onHTTP, kind: "host[:port]", doc: "the Host header sent upstream", set: setHostRewrite},
	{name: "redirect", on: onHTTP, kind: "https|https:PORT", doc: "answer 308 to HTTPS", set: setRedirect},
	// inspect: http only (the HTTP inspector records requests and responses).
	{name: "inspect", on: onHTTP, kind: "0|1|body", def: "0", doc: "record requests for the master's inspector: 1 headers, body also the first 16 KiB of bodies", set: setInspect},
	{name: "allow", on: onClient, kind: "list", doc: "what the agent may dial: CIDRs, IPs, host:port, host:*, *.domain:port; * is everything", set: setAllow},
	{name: "bridge", on: onMaster | onHandler, kind: "host:port", doc: "the shared bridge agents dial (a master's, or a handler run alone)", set: setBridge},
	// the bridge= listener: the master's shared bridge; tcp, udp, http and plugins run alone
	{name: "bridgetls", on: onMaster | onHandler, kind: "0|1|2", def: "1",
		doc: "the bridge's TLS: 1 self-signed (kept in data= by a master), 2 bridgecrt=/bridgekey= files, 0 also accepts plain agents",
		set: setBridgeTLS},
	{name: "bridgecrt", on: onMaster | onHandler, kind: "file", doc: "certificate file (PEM) for bridgetls=2",
		set: func(p *Params, v string) string { p.BridgeCrt = v; return "" }},
	{name: "bridgekey", on: onMaster | onHandler, kind: "file", doc: "private key file (PEM) for bridgetls=2",
		set: func(p *Params, v string) string { p.BridgeKey = v; return "" }},
	// bridgetype: the master's shared bridge's carrier (type= of servers and clients).
	{name: "bridgetype", on: onMaster, kind: "0|1|2|3", def: "0", doc: "the shared bridge's carrier, as type=",
		set: intParam(func(p *Params) *int { return &p.BridgeType }, 0, 3)},
	{name: "data", on: onMaster, kind: "dir", def: "./data", doc: "data directory: state, API key, certificate",
		set: func(p *Params, v string) string { p.Data = v; return "" }},
	{name: "handlers", on: onMaster, kind: "process|inprocess", def: "process", doc: "run handlers as plugin processes or inside the master", set: setHandlers},
	{name: "plugins", on: onMaster, kind: "dir", doc: "the plugin directory; default: plugins next to the binary",
		set: func(p *Params, v string) string { p.Plugins = v; return "" }},
	{name: "idle", on: onServer | onUDP, kind: "duration > 0", def: "1m", doc: "UDP session idle timeout",
		set: durationParam(func(p *Params) *time.Duration { return &p.Idle }, 1)},
	// Bridge bounds: the master's shared bridge, a server's, and tcp, udp,
	// http and plugins run alone with bridge=.
	{name: "handshakes", on: onMaster | onServer | onHandler, kind: "int >= 1", def: "128", doc: "bridge handshakes in progress at once",
		set: intParam(func(p *Params) *int { return &p.Handshakes }, 1, -1)},
	{name: "hsperip", on: onMaster | onServer | onHandler, kind: "int >= 1", def: "16", doc: "bridge handshakes in progress from one source IP",
		set: intParam(func(p *Params) *int { return &p.HandshakesPerIP }, 1, -1)},
	{name: "hstimeout", on: onMaster | onServer | onHandler, kind: "duration > 0", def: "5s", doc: "time an agent has to connect and say hello",
		set: durationParam(func(p *Params) *time.Duration { return &p.HandshakeTimeout }, 1)},
	// The host logs at most this many failed links per instance per 10 s
	// and counts the rest.
	{name: "linklog", on: onServer | onHandler, kind: "int >= 0", def: "5", doc: "failed-link warnings logged per 10 s; the rest are counted",
		set: intParam(func(p *Params) *int { return &p.LinkLog }, 0, -1)},
	// UDP session bounds.
	{name: "sessions", on: onServer | onUDP, kind: "int >= 1", def: "8192", doc: "UDP sessions of an instance at once",
		set: intParam(func(p *Params) *int { return &p.Sessions }, 1, -1)},
	{name: "persource", on: onServer | onUDP, kind: "int >= 1", def: "256", doc: "UDP sessions from one source IP at once",
		set: intParam(func(p *Params) *int { return &p.PerSource }, 1, -1)},
}

// specNamed returns the parameter called name, or nil.
func specNamed(name string) *paramSpec {
	for i := range paramSpecs {
		if paramSpecs[i].name == name {
			return &paramSpecs[i]
		}
	}
	return nil
}

// isSecretParam reports whether the value of query parameter name is secret.
func isSecretParam(name string) bool {
	s := specNamed(name)
	return s != nil && s.secret
}

// PluginHostParams are the parameters the host itself uses on an instance
// of a plugin scheme; every other parameter of such an instance must be
// declared by the plugin (see CheckDeclared).
func PluginHostParams() []string {
	var names []string
	for _, s := range paramSpecs {
		if s.on&onPlugin != 0 && s.name != "auth" {
			names = append(names, s.name)
		}
	}
	return names
}

// Applies reports whether the parameter called name is one scheme takes.
func Applies(scheme, name string) bool {
	s := specNamed(name)
	return s != nil && s.on&setOf(scheme) != 0
}

// knownNames returns the names of the parameters scheme takes, plus extra.
func knownNames(scheme string, extra []string) []string {
	set := setOf(scheme)
	names := append([]string(nil), extra...)
	for _, s := range paramSpecs {
		if s.on&set != 0 {
			names = append(names, s.name)
		}
	}
	return names
}

// unknownProblem describes a parameter the scheme does not take, naming the
// closest one it does take when there is one.
func unknownProblem(scheme, name string, known []string) string {
	if s := specNamed(name); s != nil {
		msg := fmt.Sprintf("parameter %s does not apply to %s", name, scheme)
		if why := s.why[scheme]; why != "" {
			msg += ": " + why
		}
		return msg
	}
	msg := fmt.Sprintf("unknown parameter %q for %s", name, scheme)
	if c := closest(name, known); c != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", c)
	}
	return msg
}

// parseParams returns the typed view of q for scheme, and the problems found.
// A parameter the scheme does not take is a problem on Burrow's own schemes;
// NodePass's schemes keep unknown parameters (and NodePass parameters that
// do not apply to them) as NodePass does. On plugin schemes only the
// parameters the host uses are typed here; the plugin's own are checked
// against its descriptor by CheckDeclared.
func parseParams(scheme string, q url.Values) (Params, []string) {
	p := DefaultParams()
	var problems []string
	set := setOf(scheme)
	for _, s := range paramSpecs {
		if s.on&set == 0 {
			continue
		}
		v := q.Get(s.name)
		if v == "" {
			continue
		}
		if msg := s.set(&p, v); msg != "" {
			problems = append(problems, "parameter "+s.name+": "+msg)
		}
	}
	if set != onPlugin {
		known := knownNames(scheme, nil)
		for _, name := range sortedKeys(q) {
			s := specNamed(name)
			switch {
			case s != nil && s.on&set != 0:
			case keepsUnknown(scheme) && (s == nil || s.nodePass):
			default:
				problems = append(problems, unknownProblem(scheme, name, known))
			}
		}
	}
	if p.TLS == TLSFiles && (p.Crt == "" || p.KeyFile == "") {
		problems = append(problems, "parameter tls=2 requires crt and key")
	}
	if p.BridgeTLS == TLSFiles && (p.BridgeCrt == "" || p.BridgeKey == "") {
		problems = append(problems, "parameter bridgetls=2 requires bridgecrt and bridgekey")
	}
	if p.TLSSet && p.TLS == TLSOff && (p.FP != "" || p.CA != "") {
		problems = append(problems, "parameter tls=0 (plain TCP) cannot verify the bridge: drop fp= and ca=, or tls=0")
	}
	problems = append(problems, modeProblems(scheme, p, q)...)
	return p, problems
}

// ParseParams returns the typed parameters of an instance of scheme whose
// query is params (one value each, as a handler's InstanceSpec carries
// them): handlers use it so that their parameters are read and checked by
// the same rules as the URL. agent= is not required: the host keeps the
// pool key and handlers never see it. The error is a *URLError without a URL.
func ParseParams(scheme string, params map[string]string) (Params, error) {
	q := make(url.Values, len(params))
	for k, v := range params {
		q[k] = []string{v}
	}
	p, problems := parseParams(scheme, q)
	check := p
	if check.Agent == "" {
		check.Agent = "-" // the host's: not the handler's to check
	}
	problems = append(problems, schemeProblems(scheme, check)...)
	if len(problems) > 0 {
		return p, &URLError{Problems: problems, NoURL: true}
	}
	return p, nil
}

// Declared is a parameter a plugin declares in its descriptor.
type Declared struct {
	Name string
	Type string // "string", "int", "bool", "duration", "list"
}

// CheckDeclared checks an instance of a plugin scheme against the
// parameters its plugin declares: every parameter must be one the host uses
// (PluginHostParams) or a declared one, and a declared one's value must have
// its type. The error is a *URLError naming each problem.
func CheckDeclared(inst *Instance, declared []Declared) error {
	types := make(map[string]string, len(declared))
	names := PluginHostParams()
	for _, d := range declared {
		types[d.Name] = d.Type
		names = append(names, d.Name)
	}
	var problems []string
	for _, name := range sortedKeys(inst.Query) {
		typ, ok := types[name]
		if !ok {
			if s := specNamed(name); s != nil && s.on&onPlugin != 0 && s.name != "auth" {
				continue
			}
			problems = append(problems, unknownProblem(inst.Scheme, name, names))
			continue
		}
		v := inst.Query.Get(name)
		if v == "" {
			continue
		}
		if msg := checkType(typ, v, isSecretParam(name)); msg != "" {
			problems = append(problems, "parameter "+name+": "+msg)
		}
	}
	if len(problems) > 0 {
		return &URLError{URL: inst.Redacted(), Problems: problems}
	}
	return nil
}

// checkType returns "" or why v is not a value of a declared type.
func checkType(typ, v string, secret bool) string {
	shown := fmt.Sprintf("%q", v)
	if secret {
		shown = "the value"
	}
	switch typ {
	case "int":
		if _, err := strconv.Atoi(v); err != nil {
			return shown + " is not an integer"
		}
	case "bool":
		if b := strings.ToLower(v); b != "0" && b != "1" && b != "true" && b != "false" {
			return shown + " is not 0 or 1"
		}
	case "duration":
		if _, ok := parseDuration(v); !ok {
			return shown + " is not a duration (e.g. 30s, 5m)"
		}
	case "list":
		for item := range strings.SplitSeq(v, ",") {
			if item == "" {
				return "empty item in the list"
			}
		}
	}
	return ""
}

func sortedKeys(q url.Values) []string {
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
