package conf

import (
	"fmt"
	"hash/fnv"
	"net/url"
	"slices"
	"strings"
)

// Instance is a parsed and validated instance URL.
type Instance struct {
	Scheme  string     // lower-case
	Key     string     // userinfo, percent-decoded ("" when absent); secret: never in errors or logs
	Listen  string     // host:port as given (host may be "")
	Prefix  string     // master only: API prefix without trailing slash, e.g. "/api"
	Targets []string   // comma-separated targets from the path
	Query   url.Values // every query parameter as given, unknown ones kept (used by String)
	Params  Params     // typed view, defaults filled in
}

// redactedMark replaces secrets in Redacted and in error messages.
const redactedMark = "****"

// Parse parses and validates an instance URL; defaults are filled in Params.
// Surrounding white space is ignored. The error is a *URLError.
func Parse(raw string) (*Instance, error) {
	raw = strings.TrimSpace(raw)
	fail := func(problems ...string) error {
		return &URLError{URL: redactRaw(raw), Problems: problems}
	}
	if strings.ContainsRune(raw, '#') {
		return nil, fail(`"#" is not allowed (no fragments; percent-encode it as %23)`)
	}
	schemeEnd := strings.Index(raw, "://")
	if schemeEnd < 0 {
		return nil, fail("missing scheme (want scheme://host:port/...)")
	}
	var problems []string
	inst := &Instance{Scheme: strings.ToLower(raw[:schemeEnd])}
	if !validSchemeName(inst.Scheme) {
		problems = append(problems, fmt.Sprintf("unknown scheme %q", raw[:schemeEnd]))
	}

	head, rawQuery, _ := strings.Cut(raw[schemeEnd+3:], "?")
	if at := strings.LastIndexByte(head, '@'); at >= 0 {
		key, err := url.PathUnescape(head[:at])
		switch {
		case err != nil:
			problems = append(problems, "key: invalid percent-encoding")
		case inst.Scheme == SchemeMaster && key != "":
			problems = append(problems, "master takes no key@")
		default:
			inst.Key = key
		}
		head = head[at+1:]
	}
	path := ""
	if slash := strings.IndexByte(head, '/'); slash >= 0 {
		head, path = head[:slash], head[slash:]
	}
	inst.Listen = head
	problems = append(problems, checkListen(inst.Scheme, inst.Listen)...)

	if inst.Scheme == SchemeMaster {
		inst.Prefix = strings.TrimRight(path, "/")
		if inst.Prefix == "" {
			inst.Prefix = "/api"
		}
		if msg := checkPrefix(inst.Prefix); msg != "" {
			problems = append(problems, msg)
		}
	} else {
		problems = append(problems, inst.parseTargets(path)...)
	}

	q, qProblems := parseQuery(rawQuery)
	problems = append(problems, qProblems...)
	inst.Query = q
	var pProblems []string
	inst.Params, pProblems = parseParams(inst.Scheme, q)
	problems = append(problems, pProblems...)
	if inst.Scheme == SchemeClient && inst.Params.Mode == 1 && len(inst.Targets) > 0 && strings.HasPrefix(inst.Listen, ":") {
		// client://:1080/target?mode=1: a single-end client on every
		// interface. Without mode=1 a missing host is a mistake.
		problems = slices.DeleteFunc(problems, func(p string) bool { return p == msgClientNoHost })
	}
	problems = append(problems, schemeProblems(inst.Scheme, inst.Params)...)
	if len(problems) > 0 {
		return nil, fail(problems...)
	}
	return inst, nil
}

// parseTargets fills Targets from the path ("" or "/..."), returning problems.
func (i *Instance) parseTargets(path string) []string {
	list := strings.TrimPrefix(path, "/")
	var problems []string
	if list != "" {
		i.Targets = strings.Split(list, ",")
		for _, t := range i.Targets {
			if msg := checkTarget(t, strictTargets(i.Scheme)); msg != "" {
				problems = append(problems, msg)
			}
		}
	}
	if len(i.Targets) == 0 && needsTargets(i.Scheme) {
		problems = append(problems, i.Scheme+" needs at least one target (host:port in the path)")
	}
	return problems
}

// parseQuery parses the raw query like url.ParseQuery (order of repeated
// keys kept) with problems that never show a value.
func parseQuery(raw string) (url.Values, []string) {
	q := url.Values{}
	var problems []string
	for piece := range strings.SplitSeq(raw, "&") {
		if piece == "" {
			continue
		}
		rawKey, rawValue, _ := strings.Cut(piece, "=")
		if strings.Contains(piece, ";") {
			problems = append(problems, `query: ";" is not a separator, use "&" (or percent-encode it as %3B)`)
			continue
		}
		key, err := url.QueryUnescape(rawKey)
		if err != nil {
			problems = append(problems, fmt.Sprintf("query: parameter name %q: invalid percent-encoding", rawKey))
			continue
		}
		if key == "" {
			problems = append(problems, "query: empty parameter name")
			continue
		}
		value, err := url.QueryUnescape(rawValue)
		if err != nil {
			problems = append(problems, fmt.Sprintf("parameter %s: invalid percent-encoding", key))
			continue
		}
		q[key] = append(q[key], value)
	}
	return q, problems
}

// String returns the normalised URL: scheme lower-case, key percent-encoded
// where needed, query keys sorted with values as given. It is stable:
// Parse(x.String()).String() == x.String().
func (i *Instance) String() string { return i.format(i.Query, false) }

// Config returns String() plus every default parameter of the scheme that is
// missing (or empty), in the same sorted encoding: the NodePass "config".
func (i *Instance) Config() string {
	q := make(url.Values, len(i.Query))
	for k, v := range i.Query {
		q[k] = v
	}
	for _, d := range configDefaults(i.Scheme) {
		if q.Get(d.key) == "" {
			q[d.key] = []string{d.value}
		}
	}
	return i.format(q, false)
}

// Redacted returns String() with the key, the agent key and the auth
// credentials replaced by "****": safe to log.
func (i *Instance) Redacted() string { return i.format(i.Query, true) }

// Redact returns a raw instance URL, valid or not, with its secrets (the
// key, the agent key and the auth credentials) replaced by "****".
func Redact(raw string) string { return redactRaw(raw) }

// TunnelKey returns Key, or when it is empty the NodePass default: the
// FNV-1a 32-bit hash of the listen port's decimal string as 8 lower-case hex
// characters (port "10101" gives "e68be2b4").
func (i *Instance) TunnelKey() string {
	if i.Key != "" {
		return i.Key
	}
	_, port, _ := splitHostPort(i.Listen)
	h := fnv.New32a()
	h.Write([]byte(port))
	return fmt.Sprintf("%08x", h.Sum32())
}

// Clone returns a deep copy of i (nil for nil).
func (i *Instance) Clone() *Instance {
	if i == nil {
		return nil
	}
	c := *i
	c.Targets = cloneStrings(i.Targets)
	if i.Query != nil {
		c.Query = make(url.Values, len(i.Query))
		for k, v := range i.Query {
			c.Query[k] = cloneStrings(v)
		}
	}
	c.Params = i.Params.clone()
	return &c
}

func (i *Instance) format(q url.Values, redact bool) string {
	var b strings.Builder
	b.WriteString(i.Scheme)
	b.WriteString("://")
	if i.Key != "" {
		if redact {
			b.WriteString(redactedMark)
		} else {
			b.WriteString(escape(i.Key, "!$&'()*+,;=:"))
		}
		b.WriteByte('@')
	}
	b.WriteString(i.Listen)
	switch {
	case i.Scheme == SchemeMaster:
		if i.Prefix == "" {
			b.WriteString("/api")
		} else {
			b.WriteString(i.Prefix)
		}
	case len(i.Targets) > 0:
		b.WriteByte('/')
		b.WriteString(strings.Join(i.Targets, ","))
	}
	if len(q) > 0 {
		b.WriteByte('?')
		b.WriteString(encodeQuery(q, redact))
	}
	return b.String()
}

// queryKeep are the characters besides the unreserved ones left as they are
// in query keys and values (commas, colons, slashes and brackets stay
// readable: allow=10.0.0.0/8,*.lan:*).
const queryKeep = "!$'()*,/:@[]"

// encodeQuery encodes q with keys sorted and values in the order given;
// with redact, values of secret parameters become "****".
func encodeQuery(q url.Values, redact bool) string {
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		secret := redact && isSecretParam(k)
		for _, v := range q[k] {
			if b.Len() > 0 {
				b.WriteByte('&')
			}
			b.WriteString(escape(k, queryKeep))
			b.WriteByte('=')
			if secret && v != "" {
				b.WriteString(redactedMark)
			} else {
				b.WriteString(escape(v, queryKeep))
			}
		}
	}
	return b.String()
}

// escape percent-encodes every byte of s that is neither unreserved
// (RFC 3986) nor in keep.
func escape(s, keep string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			c == '-' || c == '.' || c == '_' || c == '~' || strings.IndexByte(keep, c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&0xf])
	}
	return b.String()
}

// redactRaw hides the secrets of a raw, possibly malformed, URL for error
// messages: everything before the last '@' of the part between "://" (or
// the start) and the first '?', and the values of secret parameters.
func redactRaw(raw string) string {
	start := 0
	if i := strings.Index(raw, "://"); i >= 0 {
		start = i + 3
	}
	head, query, hasQuery := strings.Cut(raw[start:], "?")
	if at := strings.LastIndexByte(head, '@'); at >= 0 {
		head = redactedMark + head[at:]
	}
	out := raw[:start] + head
	if !hasQuery {
		return out
	}
	pieces := strings.Split(query, "&")
	for n, piece := range pieces {
		// A secret value runs to the next '&': even a ';' in it is hidden.
		offset := 0
		for sub := range strings.SplitSeq(piece, ";") {
			rawKey, _, hasValue := strings.Cut(sub, "=")
			key, err := url.QueryUnescape(rawKey)
			if err != nil {
				key = rawKey
			}
			if hasValue && isSecretParam(key) && piece[offset+len(rawKey)+1:] != "" {
				pieces[n] = piece[:offset+len(rawKey)+1] + redactedMark
				break
			}
			offset += len(sub) + 1
		}
	}
	return out + "?" + strings.Join(pieces, "&")
}
