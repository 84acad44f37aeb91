package http

import (
	"errors"
	"strings"
	"testing"

	"github.com/burrowproject/burrow/plugins/sdk"
)

func TestTableMatch(t *testing.T) {
	t.Parallel()
	rules := []Rule[string]{
		{Host: "example.com", Value: "apex"},
		{Host: "www.example.com", Value: "www"},
		{Host: "www.example.com", Path: "/api", Value: "www-api"},
		{Host: "www.example.com", Path: "/api/v2/", Value: "www-api-v2"},
		{Host: "*.example.com", Value: "wild"},
		{Host: "*.dev.example.com", Path: "/", Value: "wild-dev"},
		{Host: "*.example.com", Path: "/static", Value: "wild-static"},
		{Host: "only.example.org", Path: "/app", Value: "org-app"},
		{Host: "*.example.org", Value: "org-wild"},
		{Host: "10.0.0.1", Value: "ip"},
		{Host: "::1", Value: "ip6"},
	}
	tab, err := NewTable(rules)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		host, path, want string
	}{
		{"example.com", "/", "apex"},
		{"EXAMPLE.COM", "/x", "apex"},
		{"example.com:8080", "/", "apex"},
		{"example.com.", "/", "apex"},
		{"www.example.com", "/", "www"},
		{"www.example.com", "/apix", "www"},                 // segment boundary
		{"www.example.com", "/api", "www-api"},              // exact prefix
		{"www.example.com", "/api/", "www-api"},             // below it
		{"www.example.com", "/api/v2", "www-api-v2"},        // longest prefix
		{"www.example.com", "/api/v2/users", "www-api-v2"},  // longest prefix
		{"www.example.com", "/api/v3", "www-api"},           // next longest
		{"www.example.com", "/x/../api/v2/a", "www-api-v2"}, // cleaned before matching
		{"www.example.com", "/api/../admin", "www"},         // cleaned: not under /api
		{"www.example.com", "", "www"},
		{"a.example.com", "/", "wild"},
		{"a.b.example.com", "/", "wild"}, // wildcard spans labels
		{"a.example.com", "/static/x.css", "wild-static"},
		{"x.dev.example.com", "/static/x.css", "wild-dev"}, // longest wildcard first
		{"only.example.org", "/app/x", "org-app"},
		{"only.example.org", "/", "org-wild"}, // exact host has no route for the path: wildcard
		{"a.example.org", "/", "org-wild"},
		{"10.0.0.1:80", "/", "ip"},
		{"[::1]:8080", "/", "ip6"},
		{"[::1]", "/", "ip6"},
		{"example.net", "/", ""},
		{"com", "/", ""},
		{"", "/", ""},
		{"xexample.com", "/", ""}, // not a subdomain
	}
	for _, tc := range tests {
		got, ok := tab.Match(tc.host, tc.path)
		if tc.want == "" {
			if ok {
				t.Errorf("Match(%q, %q) = %q, want no match", tc.host, tc.path, got)
			}
			continue
		}
		if !ok || got != tc.want {
			t.Errorf("Match(%q, %q) = %q, %v; want %q", tc.host, tc.path, got, ok, tc.want)
		}
	}
}

func TestTableMatchHost(t *testing.T) {
	t.Parallel()
	tab, err := NewTable([]Rule[string]{
		{Host: "a.example.com", Path: "/api", Value: "a-api"},
		{Host: "a.example.com", Value: "a-root"},
		{Host: "*.example.com", Path: "/x", Value: "wild"},
	})
	if err != nil {
		t.Fatal(err)
	}
	for host, want := range map[string]string{"a.example.com": "a-root", "A.Example.Com": "a-root", "b.example.com": "wild", "example.com": ""} {
		got, ok := tab.MatchHost(host)
		if (want == "") == ok || got != want {
			t.Errorf("MatchHost(%q) = %q, %v; want %q", host, got, ok, want)
		}
	}
}

func TestTableConflict(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		rules []Rule[int]
		ok    bool
	}{
		{"same host and path", []Rule[int]{{Host: "a.com", Path: "/x"}, {Host: "A.COM", Path: "/x/"}}, false},
		{"root spellings", []Rule[int]{{Host: "a.com"}, {Host: "a.com", Path: "/"}}, false},
		{"same wildcard", []Rule[int]{{Host: "*.a.com"}, {Host: "*.A.com"}}, false},
		{"different paths", []Rule[int]{{Host: "a.com", Path: "/x"}, {Host: "a.com", Path: "/y"}}, true},
		{"exact and wildcard", []Rule[int]{{Host: "a.com"}, {Host: "*.a.com"}}, true},
	}
	for _, tc := range tests {
		_, err := NewTable(tc.rules)
		var ce *ConflictError
		if tc.ok != (err == nil) || (!tc.ok && !errors.As(err, &ce)) {
			t.Errorf("%s: err = %v", tc.name, err)
		}
		if ce != nil && (ce.First != 0 || ce.Second != 1) {
			t.Errorf("%s: conflict names rules %d and %d, want 0 and 1", tc.name, ce.First, ce.Second)
		}
	}
	if _, err := NewTable([]Rule[int]{{Host: ""}}); err == nil {
		t.Error("empty host accepted")
	}
	var nilTab *Table[int]
	if _, ok := nilTab.Match("a.com", "/"); ok {
		t.Error("nil table matched")
	}
}

func TestNormalizeHost(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"Example.COM": "example.com", "example.com:443": "example.com", "example.com.": "example.com",
		"[2001:DB8::1]:80": "2001:db8::1", "[::1]": "::1", "": "",
	} {
		if got := NormalizeHost(in); got != want {
			t.Errorf("NormalizeHost(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseSettings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		params map[string]string
		errSub string
	}{
		{map[string]string{}, "host= is required"},
		{map[string]string{"host": "a.com,*.b.com", "path": "/x", "auth": "u:p", "read": "5s", "redirect": "https:8443"}, ""},
		{map[string]string{"host": "a..com"}, "not a host name"},
		{map[string]string{"host": "a.com", "path": "x"}, "parameter path:"},
		{map[string]string{"host": "a.com", "auth": "nocolon"}, "parameter auth: must be user:pass"},
		{map[string]string{"host": "a.com", "read": "soon"}, "parameter read:"},
		{map[string]string{"host": "a.com", "tls": "2", "crt": "c.pem"}, "tls=2 requires crt and key"},
		{map[string]string{"host": "a.com", "crt": "c.pem", "key": "k.pem"}, ""},
		{map[string]string{"host": "a.com", "crt": "c.pem"}, "both crt= and key="},
		{map[string]string{"host": "a.com", "hots": "b.com"}, `unknown parameter "hots" for http (did you mean "host"?)`},
		{map[string]string{"host": "a.com", "tls": "1", "redirect": "https"}, "plain-HTTP"},
		{map[string]string{"host": "a.com", "redirect": "http"}, "https or https:PORT"},
		{map[string]string{"host": "a.com", "proxy": "1"}, "parameter proxy does not apply to http"},
	}
	for _, tc := range tests {
		_, err := parseSettings(specWith(tc.params))
		switch {
		case tc.errSub == "" && err != nil:
			t.Errorf("%v: %v", tc.params, err)
		case tc.errSub != "" && (err == nil || !contains(err.Error(), tc.errSub)):
			t.Errorf("%v: err = %v, want it to mention %q", tc.params, err, tc.errSub)
		}
	}
	s, err := parseSettings(specWith(map[string]string{"host": "A.com", "auth": "u:secret", "read": "0s"}))
	if err != nil {
		t.Fatal(err)
	}
	if s.headerTimeout != DefaultHeaderTimeout || s.hosts[0] != "a.com" || s.auth == nil {
		t.Errorf("settings = %+v", s)
	}
	_, err = parseSettings(specWith(map[string]string{"host": "a.com", "auth": "topsecret"}))
	if err == nil || contains(err.Error(), "topsecret") {
		t.Errorf("bad auth= error %v must not repeat the value", err)
	}
}

func specWith(params map[string]string) sdk.InstanceSpec {
	return sdk.InstanceSpec{ID: "t", Scheme: "http", Listen: "127.0.0.1:0", Params: params}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
