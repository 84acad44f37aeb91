package sdk

import (
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Exchange is one HTTP request and its response as an inspecting handler
// saw them (http with inspect=; since sdk 1.3.0). Headers are redacted
// (see Redact) before they leave the handler; bodies are present only when
// the instance records them, at most MaxInspectBody bytes each.
type Exchange struct {
	Instance string        // the instance that served it
	ID       string        // request id, as in the instance's log lines and error pages
	Time     time.Time     // when the request arrived
	Duration time.Duration // until the response was written (or the connection handed off)
	Method   string
	Host     string // the Host the request was routed by
	Path     string // path and query, as the client sent them
	Proto    string // e.g. "HTTP/1.1"
	Client   string // the user's address, host:port
	Status   int    // response status; 0 when none was written (an upgrade handed to the host)
	// ReqBytes and RespBytes count body bytes read from the client and
	// written to it.
	ReqBytes, RespBytes   int64
	ReqHeader, RespHeader http.Header
	// ReqBody and RespBody are the first MaxInspectBody bytes of each body
	// when bodies are recorded (nil otherwise); the *Truncated flags say
	// the body went on beyond them.
	ReqBody, RespBody           []byte
	ReqTruncated, RespTruncated bool
	HeadersTruncated            bool   // a header section exceeded MaxInspectHeaders; the rest is not recorded
	Upgrade                     string // the protocol of an upgrade handed to the host, e.g. "websocket"
	Error                       string // the class of failure when the proxy answered itself
	BodiesRecorded              bool   // the instance records bodies (inspect=body)
}

// Recorder is a Host that keeps the Exchanges an inspecting handler
// reports (since sdk 1.3.0). Burrow's hosts are Recorders: in process
// Record goes straight to the master's inspector; in a plugin process it
// is buffered and sent in batches on the Events stream, never one call per
// request, and dropped (and counted) when the buffer is full. A handler
// checks with a type assertion and records nothing when its host is not
// one. Record must not block; it takes ownership of ex.
type Recorder interface {
	Record(ex *Exchange)
}

// Bounds of what one Exchange carries.
const (
	MaxInspectBody    = 16 << 10 // bytes of each body recorded with inspect=body
	MaxInspectHeaders = 16 << 10 // bytes of each header section (names and values)
)

// ReplayHeader marks the requests the master replays for its inspector;
// the http handler never sends it upstream.
const ReplayHeader = "X-Burrow-Replay"

// BoundHeader copies h keeping at most MaxInspectHeaders bytes of names
// and values: in name order, a value that does not fit in what is left is
// left out (truncated says so) and smaller ones after it still go in.
func BoundHeader(h http.Header) (out http.Header, truncated bool) {
	out = make(http.Header, len(h))
	budget := MaxInspectHeaders
	for _, name := range slices.Sorted(maps.Keys(h)) {
		for _, v := range h[name] {
			if n := len(name) + len(v); n <= budget {
				budget -= n
				out[name] = append(out[name], v)
			} else {
				truncated = true
			}
		}
	}
	return out, truncated
}

// Redacted is the value recorded in place of a secret.
const Redacted = "[redacted]"

// redactedHeaders are the headers whose values are never recorded.
var redactedHeaders = [...]string{"Authorization", "Proxy-Authorization", "Cookie", "Set-Cookie"}

// IsRedacted reports whether the values of header name are redacted.
func IsRedacted(name string) bool {
	for _, h := range redactedHeaders {
		if strings.EqualFold(name, h) {
			return true
		}
	}
	return false
}

// Redact replaces the secret parts of h's credential and cookie headers in
// place: Authorization and Proxy-Authorization keep their scheme word
// ("Basic [redacted]"), Cookie keeps each cookie's name ("a=[redacted];
// b=[redacted]"), Set-Cookie its name and attributes. It is idempotent.
func Redact(h http.Header) {
	for _, name := range redactedHeaders {
		vs := h[name]
		for i, v := range vs {
			switch name {
			case "Authorization", "Proxy-Authorization":
				vs[i] = redactCredentials(v)
			case "Cookie":
				vs[i] = redactCookies(v)
			default:
				vs[i] = redactSetCookie(v)
			}
		}
	}
}

func redactCredentials(v string) string {
	scheme, _, found := strings.Cut(strings.TrimSpace(v), " ")
	if !found || !isToken(scheme) {
		return Redacted
	}
	return scheme + " " + Redacted
}

func redactCookies(v string) string {
	parts := strings.Split(v, ";")
	for i, p := range parts {
		parts[i] = redactPair(strings.TrimSpace(p))
	}
	return strings.Join(parts, "; ")
}

func redactSetCookie(v string) string {
	pair, attrs, found := strings.Cut(v, ";")
	if !found {
		return redactPair(strings.TrimSpace(pair))
	}
	return redactPair(strings.TrimSpace(pair)) + ";" + attrs
}

// redactPair keeps the name of name=value when it is a token.
func redactPair(p string) string {
	name, _, found := strings.Cut(p, "=")
	if !found || !isToken(name) {
		return Redacted
	}
	return name + "=" + Redacted
}

func isToken(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?={}`, c) >= 0 {
			return false
		}
	}
	return true
}
