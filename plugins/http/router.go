package http

import (
	"cmp"
	"fmt"
	"net"
	"path"
	"slices"
	"strings"
)

// This file is the routing table: pure data, no I/O, no locks. A Table is
// built once from a list of rules and never changed; the entry server swaps
// in a new Table when instances come and go (copy-on-write).

// Rule routes requests for one host pattern and path prefix to Value.
type Rule[V any] struct {
	Host  string // "example.com" or "*.example.com"; matched case-insensitively
	Path  string // path prefix; "" or "/" matches every path
	Value V
}

// ConflictError reports two rules claiming the same host and path. First
// and Second index the rules passed to NewTable.
type ConflictError struct {
	Host, Path    string
	First, Second int
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("host %s path %s is routed twice (rules %d and %d)", e.Host, e.Path, e.First, e.Second)
}

// Table maps a request's host and path to a value. The zero value matches
// nothing. It is immutable and safe for concurrent use.
type Table[V any] struct {
	exact    map[string][]route[V] // host -> routes, longest path first
	wildcard map[string][]route[V] // "example.com" for "*.example.com" -> routes
}

type route[V any] struct {
	path  string // normalised: "/" or "/a/b" (no trailing slash except the root)
	index int
	value V
}

// NewTable builds a table from rules. Host patterns are lower-cased, a
// port or a trailing dot is dropped, and paths are normalised ("", "/" and
// "/api/" become "/" , "/" and "/api"). Two rules with the same host and
// path are a *ConflictError.
func NewTable[V any](rules []Rule[V]) (*Table[V], error) {
	t := &Table[V]{exact: map[string][]route[V]{}, wildcard: map[string][]route[V]{}}
	seen := map[[2]string]int{}
	for i, r := range rules {
		host := NormalizeHost(r.Host)
		p := normalizePrefix(r.Path)
		if host == "" || host == "*." {
			return nil, fmt.Errorf("rule %d: empty host", i)
		}
		k := [2]string{host, p}
		if j, dup := seen[k]; dup {
			return nil, &ConflictError{Host: host, Path: p, First: j, Second: i}
		}
		seen[k] = i
		m := t.exact
		if rest, ok := strings.CutPrefix(host, "*."); ok {
			m, host = t.wildcard, rest
		}
		m[host] = append(m[host], route[V]{path: p, index: i, value: r.Value})
	}
	for _, m := range []map[string][]route[V]{t.exact, t.wildcard} {
		for _, rs := range m {
			slices.SortFunc(rs, func(a, b route[V]) int {
				return cmp.Or(cmp.Compare(len(b.path), len(a.path)), cmp.Compare(a.index, b.index))
			})
		}
	}
	return t, nil
}

// Match returns the value for a request to host (a Host header: any port
// is ignored, case does not matter) and path. Candidates are tried in
// order: the exact host, then wildcards from the longest suffix to the
// shortest ("a.b.example.com" tries "*.b.example.com", then
// "*.example.com", then "*.com"); the first candidate with a path prefix
// matching the cleaned path wins, longest prefix first. A prefix matches at
// segment boundaries only: "/api" matches "/api" and "/api/x", not "/apix".
func (t *Table[V]) Match(host, reqPath string) (V, bool) {
	p := cleanPath(reqPath)
	var zero V
	if t == nil {
		return zero, false
	}
	found, ok := zero, false
	t.candidates(NormalizeHost(host), func(rs []route[V]) bool {
		for _, r := range rs {
			if prefixMatch(r.path, p) {
				found, ok = r.value, true
				return true
			}
		}
		return false
	})
	return found, ok
}

// MatchHost returns the value of the most general route (shortest path) of
// the first host candidate that has routes at all, as Match orders them. It
// serves TLS certificate selection by SNI, where no path is known yet.
func (t *Table[V]) MatchHost(host string) (V, bool) {
	var zero V
	if t == nil {
		return zero, false
	}
	found, ok := zero, false
	t.candidates(NormalizeHost(host), func(rs []route[V]) bool {
		found, ok = rs[len(rs)-1].value, true
		return true
	})
	return found, ok
}

// candidates calls try with the routes of host's exact entry, then of each
// wildcard suffix, longest first, until try returns true.
func (t *Table[V]) candidates(host string, try func([]route[V]) bool) {
	if host == "" {
		return
	}
	if rs := t.exact[host]; len(rs) > 0 && try(rs) {
		return
	}
	for rest := host; ; {
		_, after, ok := strings.Cut(rest, ".")
		if !ok || after == "" {
			return
		}
		if rs := t.wildcard[after]; len(rs) > 0 && try(rs) {
			return
		}
		rest = after
	}
}

// NormalizeHost returns host lower-cased, without a port, IPv6 brackets or
// a trailing dot: "WWW.Example.COM.:8080" -> "www.example.com".
func NormalizeHost(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	} else if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
	}
	return strings.TrimSuffix(strings.ToLower(host), ".")
}

// normalizePrefix turns a path= value into the form routes keep.
func normalizePrefix(p string) string {
	if p == "" || p == "/" {
		return "/"
	}
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	return strings.TrimRight(p, "/")
}

// cleanPath resolves "." and ".." so that "/public/../admin" is routed as
// "/admin": a route with auth= cannot be sidestepped through another one.
func cleanPath(p string) string {
	if p == "" || p[0] != '/' {
		p = "/" + p
	}
	return path.Clean(p)
}

// prefixMatch reports whether the normalised prefix matches the cleaned path
// at a segment boundary.
func prefixMatch(prefix, p string) bool {
	if prefix == "/" {
		return true
	}
	rest, ok := strings.CutPrefix(p, prefix)
	return ok && (rest == "" || rest[0] == '/')
}
