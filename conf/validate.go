package conf

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// This file holds the field-level checks. Each returns "" or a problem text
// naming the field; values of secret fields are never put in the text.

func setTLS(p *Params, v string) string {
	m, msg := parseTLSMode(v)
	p.TLS, p.TLSSet = m, msg == ""
	return msg
}

func setBridgeTLS(p *Params, v string) string {
	m, msg := parseTLSMode(v)
	if msg == "" {
		p.BridgeTLS = m
	}
	return msg
}

func parseTLSMode(v string) (TLSMode, string) {
	switch v {
	case "0", "1", "2":
		return TLSMode(v[0] - '0'), ""
	}
	return TLSOff, fmt.Sprintf("%q is not 0, 1 or 2", v)
}

func setCA(p *Params, v string) string {
	p.CA = v // a file name; read, and its problems reported, when the agent starts
	return ""
}

func setFP(p *Params, v string) string {
	fp := strings.ToLower(strings.ReplaceAll(v, ":", ""))
	if len(fp) != 64 || strings.Trim(fp, "0123456789abcdef") != "" {
		return fmt.Sprintf("%q is not a SHA-256 fingerprint (64 hex digits, colons optional)", v)
	}
	p.FP = fp
	return ""
}

func setSNI(p *Params, v string) string {
	if strings.EqualFold(v, "none") {
		p.SNI = ""
		return ""
	}
	if strings.ContainsAny(v, " \t\r\n/") {
		return fmt.Sprintf("%q is not a server name", v)
	}
	p.SNI = v
	return ""
}

func setDial(p *Params, v string) string {
	if v == "auto" {
		p.Dial = v
		return ""
	}
	if _, err := netip.ParseAddr(v); err != nil {
		return fmt.Sprintf("%q is not an IP address or auto", v)
	}
	p.Dial = v
	return ""
}

func setBlock(p *Params, v string) string {
	if v == "0" {
		p.Block = ""
		return ""
	}
	if strings.Trim(v, "123") != "" {
		return fmt.Sprintf("%q must be 0 or digits 1 (SOCKS), 2 (HTTP), 3 (TLS)", v)
	}
	p.Block = v
	return ""
}

func setHost(p *Params, v string) string {
	var hosts []string
	for h := range strings.SplitSeq(v, ",") {
		if !validHostPattern(h) {
			return fmt.Sprintf("%q is not a host name or *.domain wildcard", h)
		}
		hosts = append(hosts, strings.ToLower(h))
	}
	p.Host = hosts
	return ""
}

func setPath(p *Params, v string) string {
	if !strings.HasPrefix(v, "/") || strings.ContainsAny(v, " \t\r\n?#") {
		return fmt.Sprintf("%q must be a URL path starting with /", v)
	}
	p.Path = v
	return ""
}

func setWSPath(p *Params, v string) string {
	if !strings.HasPrefix(v, "/") || strings.ContainsAny(v, " \t\r\n?#") || len(v) > 200 {
		return fmt.Sprintf("%q must be a URL path starting with / (at most 200 bytes, no query)", v)
	}
	p.WSPath = v
	return ""
}

func setWSHost(p *Params, v string) string {
	host := v
	if h, port, ok := splitHostPort(v); ok {
		if _, msg := parsePort(port); msg != "" {
			return fmt.Sprintf("%q: %s", v, msg)
		}
		host = h
	}
	if !validHost(host) {
		return fmt.Sprintf("%q is not a host name or host:port", v)
	}
	p.WSHost = v
	return ""
}

func setAuth(p *Params, v string) string {
	if user, _, ok := strings.Cut(v, ":"); !ok || user == "" {
		return "must be user:pass" // never the value: it is a secret
	}
	p.Auth = v
	return ""
}

func setHostRewrite(p *Params, v string) string {
	h := v
	if host, port, ok := splitHostPort(v); ok {
		if _, msg := parsePort(port); msg != "" {
			return fmt.Sprintf("%q is not host or host:port", v)
		}
		h = host
	}
	if !validHost(h) {
		return fmt.Sprintf("%q is not host or host:port", v)
	}
	p.HostRewrite = v
	return ""
}

func setAllow(p *Params, v string) string {
	var allow []string
	for a := range strings.SplitSeq(v, ",") {
		if !validAllow(a) {
			return fmt.Sprintf("%q is not a CIDR, IP or host:port pattern", a)
		}
		allow = append(allow, a)
	}
	p.Allow = allow
	return ""
}

func setBridge(p *Params, v string) string {
	host, port, ok := splitHostPort(v)
	if !ok || (host != "" && !validHost(host)) {
		return fmt.Sprintf("%q is not host:port", v)
	}
	if _, msg := parsePort(port); msg != "" {
		return fmt.Sprintf("%q: %s", v, msg)
	}
	p.Bridge = v
	return ""
}

func setRedirect(p *Params, v string) string {
	if v == "https" {
		p.Redirect = v
		return ""
	}
	port, ok := strings.CutPrefix(v, "https:")
	if !ok {
		return fmt.Sprintf("%q must be https or https:PORT", v)
	}
	if _, msg := parsePort(port); msg != "" {
		return fmt.Sprintf("%q must be https or https:PORT (%s)", v, msg)
	}
	p.Redirect = v
	return ""
}

func setHandlers(p *Params, v string) string {
	if v != "process" && v != "inprocess" {
		return fmt.Sprintf("%q is not process or inprocess", v)
	}
	p.Handlers = v
	return ""
}

// intParam parses an integer into the field get returns, within [lo, hi]
// (hi < 0: no upper bound).
func intParam(get func(*Params) *int, lo, hi int) func(*Params, string) string {
	return func(p *Params, v string) string {
		n, err := strconv.Atoi(v)
		switch {
		case err != nil && strings.Trim(strings.TrimLeft(v, "+-"), "0123456789") == "" && len(v) > 1:
			return fmt.Sprintf("%q is out of range", v)
		case err != nil:
			return fmt.Sprintf("%q is not an integer", v)
		case hi >= 0 && (n < lo || n > hi):
			return fmt.Sprintf("%q must be between %d and %d", v, lo, hi)
		case n < lo:
			return fmt.Sprintf("%q must be >= %d", v, lo)
		}
		*get(p) = n
		return ""
	}
}

// durationParam parses a Go duration, or a bare integer of seconds, into the
// field get returns; min is 0 (not negative) or 1 (positive).
func durationParam(get func(*Params) *time.Duration, min time.Duration) func(*Params, string) string {
	return func(p *Params, v string) string {
		d, ok := parseDuration(v)
		switch {
		case !ok:
			return fmt.Sprintf("%q is not a duration (e.g. 30s, 5m)", v)
		case min > 0 && d < min:
			return fmt.Sprintf("%q must be positive", v)
		case d < 0:
			return fmt.Sprintf("%q must not be negative", v)
		}
		*get(p) = d
		return ""
	}
}

func parseDuration(v string) (time.Duration, bool) {
	if d, err := time.ParseDuration(v); err == nil {
		return d, true
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n > int64(1<<63-1)/int64(time.Second) || n < -int64(1<<63-1)/int64(time.Second) {
		return 0, false
	}
	return time.Duration(n) * time.Second, true
}

// boolParam parses 0/1/true/false into the field get returns.
func boolParam(get func(*Params) *bool) func(*Params, string) string {
	return func(p *Params, v string) string {
		switch strings.ToLower(v) {
		case "0", "false":
			*get(p) = false
		case "1", "true":
			*get(p) = true
		default:
			return fmt.Sprintf("%q is not 0 or 1", v)
		}
		return ""
	}
}

// splitHostPort splits "host:port" or "[v6]:port". The host keeps its
// brackets; an IPv6 host without brackets is refused.
func splitHostPort(addr string) (host, port string, ok bool) {
	if strings.HasPrefix(addr, "[") {
		end := strings.IndexByte(addr, ']')
		if end < 0 || !strings.HasPrefix(addr[end+1:], ":") {
			return "", "", false
		}
		return addr[:end+1], addr[end+2:], true
	}
	i := strings.LastIndexByte(addr, ':')
	if i < 0 || strings.IndexByte(addr[:i], ':') >= 0 {
		return "", "", false
	}
	return addr[:i], addr[i+1:], true
}

// parsePort parses a decimal port 1..65535.
func parsePort(s string) (int, string) {
	if s == "" {
		return 0, "port missing"
	}
	if strings.Trim(s, "0123456789") != "" {
		return 0, fmt.Sprintf("port %q is not a number", s)
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Sprintf("port %s out of range", s)
	}
	return n, ""
}

// validHostName reports whether s is a plausible DNS name or IPv4 address.
func validHostName(s string) bool {
	if s == "" || len(s) > 253 || s[0] == '.' || s[0] == '-' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '-' && c != '.' && c != '_' {
			return false
		}
	}
	return true
}

// validHost reports whether s is a host name, an IPv4 address or a
// bracketed IPv6 address.
func validHost(s string) bool {
	if strings.HasPrefix(s, "[") {
		if !strings.HasSuffix(s, "]") {
			return false
		}
		a, err := netip.ParseAddr(s[1 : len(s)-1])
		return err == nil && a.Is6()
	}
	return validHostName(s)
}

// validHostPattern reports whether s is a host name or a "*.domain" wildcard.
func validHostPattern(s string) bool {
	if rest, ok := strings.CutPrefix(s, "*."); ok {
		return validHostName(rest)
	}
	return validHostName(s)
}

// validAllow reports whether s is an allow= item: "*" (everything), CIDR, IP, or host:port
// where host may be "*", "*.domain", a name or an IP and port may be "*".
func validAllow(s string) bool {
	if s == "*" {
		return true
	}
	if _, err := netip.ParsePrefix(s); err == nil {
		return true
	}
	if _, err := netip.ParseAddr(s); err == nil {
		return true
	}
	host, port, ok := splitHostPort(s)
	if !ok || host == "" {
		return false
	}
	if port != "*" {
		if _, msg := parsePort(port); msg != "" {
			return false
		}
	}
	return host == "*" || validHostPattern(host) || validHost(host)
}

// msgClientNoHost is checkListen's problem with a client whose authority
// has a port but no host: fine for single-end forwarding (listen on every
// interface), so Parse drops it for a client with mode=1.
const msgClientNoHost = "client needs a bridge host"

// schemeProblems returns what is wrong with a scheme's parameters taken
// together (each parameter on its own was checked by its setter).
func schemeProblems(scheme string, p Params) []string {
	var problems []string
	if needsAgent(scheme) && p.Agent == "" {
		problems = append(problems, "agent= is required for "+scheme)
	}
	problems = append(problems, carrierProblems(scheme, p)...)
	if scheme == SchemeHTTP {
		if len(p.Host) == 0 {
			problems = append(problems, "host= is required for http: name the host names this instance serves, e.g. host=app.example.com or host=*.example.com")
		}
		if p.Redirect != "" && (p.TLS != TLSOff || p.Crt != "") {
			problems = append(problems, "parameter redirect: is for plain-HTTP instances; this one serves HTTPS")
		}
	}
	return problems
}

// carrierNames names the carriers by type= value.
var carrierNames = [...]string{"TCP", "QUIC", "WebSocket", "HTTP/2"}

// carrierProblems checks type=, bridgetype=, wspath= and wshost= together
// with TLS: QUIC and HTTP/2 always run TLS, and the WebSocket parameters
// need the WebSocket carrier.
func carrierProblems(scheme string, p Params) []string {
	var problems []string
	typ, name, plain := p.Type, "type", p.TLSSet && p.TLS == TLSOff
	switch scheme {
	case SchemeMaster:
		typ, name, plain = p.BridgeType, "bridgetype", p.BridgeTLS == TLSOff
		if p.Bridge == "" && (p.BridgeType != 0 || p.WSPath != "") {
			problems = append(problems, "parameters bridgetype and wspath need bridge= (the shared bridge they configure)")
		}
	case SchemeServer, SchemeClient:
	default:
		return nil
	}
	if (typ == 1 || typ == 3) && plain {
		tlsName := "tls=0"
		if scheme == SchemeMaster {
			tlsName = "bridgetls=0"
		}
		problems = append(problems, fmt.Sprintf("parameter %s=%d (%s) always runs TLS: drop %s", name, typ, carrierNames[typ], tlsName))
	}
	if typ != 2 && p.WSPath != "" {
		problems = append(problems, fmt.Sprintf("parameter wspath: applies to the WebSocket carrier (%s=2) only", name))
	}
	if typ != 2 && p.WSHost != "" {
		problems = append(problems, "parameter wshost: applies to the WebSocket carrier (type=2) only")
	}
	return problems
}

// closest returns the name in names nearest to name (at most two edits
// away, and fewer than its length), or "".
func closest(name string, names []string) string {
	best, bestDist := "", 3
	for _, n := range names {
		if d := editDistance(name, n); d < bestDist && d < len(name) {
			best, bestDist = n, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// checkListen returns the problems of the authority's host:port.
func checkListen(scheme, listen string) []string {
	if listen == "" {
		if scheme == SchemeClient {
			return []string{"client needs a bridge host"}
		}
		return []string{"missing listen address (host:port)"}
	}
	host, port, ok := splitHostPort(listen)
	if !ok {
		return []string{fmt.Sprintf("listen address %q is not host:port", listen)}
	}
	var problems []string
	if host == "" && scheme == SchemeClient {
		problems = append(problems, msgClientNoHost)
	}
	if host != "" && !validHost(host) {
		problems = append(problems, fmt.Sprintf("listen host %q is not a host name or IP address", host))
	}
	if _, msg := parsePort(port); msg != "" {
		problems = append(problems, "listen "+msg)
	}
	return problems
}

// checkTarget returns "" or the problem of one target. Strict targets are
// host:port (host may be empty: any/local address); the others are any
// pattern without spaces and URL delimiters.
func checkTarget(t string, strict bool) string {
	if t == "" {
		return "empty target in the target list"
	}
	if !strict {
		for i := 0; i < len(t); i++ {
			if c := t[i]; c <= ' ' || c == 0x7f || c == '?' || c == '#' || c == '@' {
				return fmt.Sprintf("target %q contains a space or an invalid character", t)
			}
		}
		return ""
	}
	host, port, ok := splitHostPort(t)
	if !ok || (host != "" && !validHost(host)) {
		return fmt.Sprintf("target %q is not host:port", t)
	}
	if _, msg := parsePort(port); msg != "" {
		return fmt.Sprintf("target %q: %s", t, msg)
	}
	return ""
}

// checkPrefix returns "" or the problem of a master API prefix.
func checkPrefix(prefix string) string {
	for i := 0; i < len(prefix); i++ {
		c := prefix[i]
		if (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strings.IndexByte("/-._~!$&'()*+,;=:@", c) >= 0 {
			continue
		}
		return fmt.Sprintf("API prefix %q contains an invalid character", prefix)
	}
	return ""
}
