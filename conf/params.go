package conf

import (
	"log/slog"
	"net/url"
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
	TLS     TLSMode       // tls, default 0; 2 requires Crt and KeyFile
	Crt     string        // crt: certificate file
	KeyFile string        // key: private key file (the query key is "key")
	FP      string        // fp: SHA-256 fingerprint a client pins the bridge certificate to, lower-case hex without colons
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
	Min     int           // min: client minimum pool size, default 64, >= 1
	Max     int           // max: server maximum pool size, default 1024, >= 1
	Type    int           // type: pool transport 0 TCP, 1 QUIC, 2 WebSocket, 3 HTTP/2

	// Burrow's own parameters.

	Agent       string        // agent: agent pool key the instance links through (secret; required for tcp/udp/http)
	Host        []string      // host: host names an http instance serves, lower-case, "*.example.com" wildcards allowed
	Path        string        // path: URL path prefix an http instance serves, starts with "/"
	Auth        string        // auth: "user:pass" (basic auth / SOCKS auth); secret
	HostRewrite string        // hostrewrite: Host header sent upstream (http)
	Allow       []string      // allow: what a client may dial: CIDRs, IPs, host:port, host:*, *.domain:port
	Bridge      string        // bridge: host:port of the shared bridge (master; standalone tcp/udp/http)
	Data        string        // data: data directory (master), default "./data"
	Handlers    string        // handlers: "process" (default) or "inprocess" (master)
	Idle        time.Duration // idle: UDP session idle timeout, default 60s, > 0
	LinkLog     int           // linklog: failed-link warnings an instance logs per 10 s, default 5, >= 0 (server, tcp, udp, http, plugins)
}

// DefaultParams returns the parameters of a URL that gives none.
func DefaultParams() Params {
	return Params{
		Log:      LogInfo,
		TLS:      TLSOff,
		DNS:      5 * time.Minute,
		Dial:     "auto",
		Slot:     65536,
		Min:      64,
		Max:      1024,
		Data:     "./data",
		Handlers: "process",
		Idle:     60 * time.Second,
		LinkLog:  5,
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

// paramSpec is one typed query parameter. set parses v (never "") into p
// and returns "" or the problem, which must not contain v when secret.
type paramSpec struct {
	name   string
	common bool // typed for plugin schemes too
	secret bool // value never shown (errors, Redacted)
	set    func(p *Params, v string) string
}

// paramSpecs lists the typed parameters in the order problems are reported.
var paramSpecs = []paramSpec{
	{name: "log", common: true, set: func(p *Params, v string) string { p.Log = ParseLogLevel(v); return "" }},
	{name: "tls", common: true, set: setTLS},
	{name: "crt", common: true, set: func(p *Params, v string) string { p.Crt = v; return "" }},
	{name: "key", common: true, set: func(p *Params, v string) string { p.KeyFile = v; return "" }},
	{name: "fp", set: setFP},
	{name: "sni", set: setSNI},
	{name: "dns", common: true, set: durationParam(func(p *Params) *time.Duration { return &p.DNS }, 0)},
	{name: "dial", common: true, set: setDial},
	{name: "read", common: true, set: durationParam(func(p *Params) *time.Duration { return &p.Read }, 0)},
	{name: "rate", common: true, set: intParam(func(p *Params) *int { return &p.Rate }, 0, -1)},
	{name: "slot", common: true, set: intParam(func(p *Params) *int { return &p.Slot }, 1, -1)},
	{name: "proxy", common: true, set: boolParam(func(p *Params) *bool { return &p.Proxy })},
	{name: "block", set: setBlock},
	{name: "notcp", set: boolParam(func(p *Params) *bool { return &p.NoTCP })},
	{name: "noudp", set: boolParam(func(p *Params) *bool { return &p.NoUDP })},
	{name: "mode", set: intParam(func(p *Params) *int { return &p.Mode }, 0, 2)},
	{name: "min", set: intParam(func(p *Params) *int { return &p.Min }, 1, -1)},
	{name: "max", set: intParam(func(p *Params) *int { return &p.Max }, 1, -1)},
	{name: "type", set: intParam(func(p *Params) *int { return &p.Type }, 0, 3)},
	{name: "agent", common: true, secret: true, set: func(p *Params, v string) string { p.Agent = v; return "" }},
	{name: "host", set: setHost},
	{name: "path", set: setPath},
	{name: "auth", common: true, secret: true, set: setAuth},
	{name: "hostrewrite", set: setHostRewrite},
	{name: "allow", set: setAllow},
	{name: "bridge", common: true, set: setBridge},
	{name: "data", set: func(p *Params, v string) string { p.Data = v; return "" }},
	{name: "handlers", set: setHandlers},
	{name: "idle", common: true, set: durationParam(func(p *Params) *time.Duration { return &p.Idle }, 1)},
	// server, tcp, udp, http and plugin schemes: the host logs at most this
	// many failed links per instance per 10 s and counts the rest.
	{name: "linklog", common: true, set: intParam(func(p *Params) *int { return &p.LinkLog }, 0, -1)},
}

// isSecretParam reports whether the value of query parameter name is secret.
func isSecretParam(name string) bool {
	for _, s := range paramSpecs {
		if s.name == name {
			return s.secret
		}
	}
	return false
}

// parseParams returns the typed view of q for scheme, and the problems found.
// Plugin schemes only get the common parameters typed; the others stay in
// the query for the plugin to check.
func parseParams(scheme string, q url.Values) (Params, []string) {
	p := DefaultParams()
	var problems []string
	builtin := IsBuiltinScheme(scheme)
	for _, s := range paramSpecs {
		if !builtin && !s.common {
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
	if p.TLS == TLSFiles && (p.Crt == "" || p.KeyFile == "") {
		problems = append(problems, "parameter tls=2 requires crt and key")
	}
	return p, problems
}
