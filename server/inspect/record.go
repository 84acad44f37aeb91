package inspect

import (
	"encoding/base64"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/burrowproject/burrow/plugins/sdk"
)

// Summary is a record without its headers and bodies: what the list and
// the live stream carry.
type Summary struct {
	ID         string    `json:"id"`
	Instance   string    `json:"instance"`
	Time       time.Time `json:"time"`
	DurationMs float64   `json:"duration_ms"`
	Method     string    `json:"method"`
	Host       string    `json:"host"`
	Path       string    `json:"path"`
	Status     int       `json:"status"`     // 0: no response written (an upgrade handed to the host)
	ReqBytes   int64     `json:"req_bytes"`  // request body bytes read from the client
	RespBytes  int64     `json:"resp_bytes"` // response body bytes written to it
	Client     string    `json:"client"`
	Upgrade    string    `json:"upgrade,omitempty"`
	Error      string    `json:"error,omitempty"`     // the class of failure when the proxy answered itself
	ReplayOf   string    `json:"replay_of,omitempty"` // the record this one replays
}

// Record is one recorded exchange in full.
type Record struct {
	Summary
	Proto            string   `json:"proto"`
	ReqHeaders       []Header `json:"req_headers"`
	RespHeaders      []Header `json:"resp_headers"`
	HeadersTruncated bool     `json:"headers_truncated"`
	ReqBody          *Body    `json:"req_body"`  // null unless the instance records bodies
	RespBody         *Body    `json:"resp_body"` // null unless the instance records bodies
}

// Header is one header line; redacted values read "[redacted]".
type Header struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Body is the recorded start of a body: text when it is UTF-8 text,
// otherwise base64 with binary set.
type Body struct {
	Size      int    `json:"size"`      // bytes recorded
	Truncated bool   `json:"truncated"` // the body went on beyond them
	Binary    bool   `json:"binary"`
	Text      string `json:"text,omitempty"`
	Base64    string `json:"base64,omitempty"`
}

// entry is a record as the ring keeps it.
type entry struct {
	ex       *sdk.Exchange
	replayOf string
	size     int
}

func (e *entry) summary() Summary {
	ex := e.ex
	return Summary{
		ID: ex.ID, Instance: ex.Instance, Time: ex.Time, DurationMs: float64(ex.Duration.Microseconds()) / 1000,
		Method: ex.Method, Host: ex.Host, Path: ex.Path, Status: ex.Status, ReqBytes: ex.ReqBytes, RespBytes: ex.RespBytes,
		Client: ex.Client, Upgrade: ex.Upgrade, Error: ex.Error, ReplayOf: e.replayOf,
	}
}

func (e *entry) record() Record {
	ex := e.ex
	r := Record{
		Summary: e.summary(), Proto: ex.Proto, HeadersTruncated: ex.HeadersTruncated,
		ReqHeaders: headerList(ex.ReqHeader), RespHeaders: headerList(ex.RespHeader),
	}
	if ex.BodiesRecorded {
		r.ReqBody, r.RespBody = bodyOf(ex.ReqBody, ex.ReqTruncated), bodyOf(ex.RespBody, ex.RespTruncated)
	}
	return r
}

// headerList is h sorted by name, values in order.
func headerList(h http.Header) []Header {
	out := []Header{}
	for _, name := range slices.Sorted(maps.Keys(h)) {
		for _, v := range h[name] {
			out = append(out, Header{Name: name, Value: v})
		}
	}
	return out
}

func bodyOf(b []byte, truncated bool) *Body {
	out := &Body{Size: len(b), Truncated: truncated}
	if isText(b, truncated) {
		out.Text = string(b)
	} else {
		out.Binary, out.Base64 = true, base64.StdEncoding.EncodeToString(b)
	}
	return out
}

// isText reports whether b reads as text: UTF-8 (a rune cut at the end of
// a truncated body allowed) without control characters but tab, CR, LF.
func isText(b []byte, truncated bool) bool {
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n <= 1 {
			return truncated && len(b) < utf8.UTFMax && !utf8.FullRune(b)
		}
		if r < 0x20 && r != '\t' && r != '\r' && r != '\n' || r == 0x7f {
			return false
		}
		b = b[n:]
	}
	return true
}

// sanitize enforces, on the master's side, what a handler promises: secrets
// redacted, bodies and headers within their bounds. It returns the size
// the record counts for in its ring.
func sanitize(ex *sdk.Exchange) int {
	if ex.ReqHeader == nil {
		ex.ReqHeader = http.Header{}
	}
	if ex.RespHeader == nil {
		ex.RespHeader = http.Header{}
	}
	sdk.Redact(ex.ReqHeader)
	sdk.Redact(ex.RespHeader)
	var cut bool
	ex.ReqHeader, cut = sdk.BoundHeader(ex.ReqHeader)
	ex.HeadersTruncated = ex.HeadersTruncated || cut
	ex.RespHeader, cut = sdk.BoundHeader(ex.RespHeader)
	ex.HeadersTruncated = ex.HeadersTruncated || cut
	size := 512 + len(ex.Method) + len(ex.Host) + len(ex.Path) + len(ex.Client) + len(ex.Error) + len(ex.ID)
	for _, h := range []http.Header{ex.ReqHeader, ex.RespHeader} {
		for name, vs := range h {
			for _, v := range vs {
				size += len(name) + len(v)
			}
		}
	}
	if len(ex.ReqBody) > sdk.MaxInspectBody {
		ex.ReqBody, ex.ReqTruncated = ex.ReqBody[:sdk.MaxInspectBody], true
	}
	if len(ex.RespBody) > sdk.MaxInspectBody {
		ex.RespBody, ex.RespTruncated = ex.RespBody[:sdk.MaxInspectBody], true
	}
	ex.Method, ex.Path = limit(ex.Method, 64), limit(ex.Path, 8<<10)
	return size + len(ex.ReqBody) + len(ex.RespBody)
}

func limit(s string, n int) string {
	if len(s) > n {
		return strings.ToValidUTF8(s[:n], "")
	}
	return s
}
