package conf

import (
	"errors"
	"strings"
	"testing"
)

func TestErrorTexts(t *testing.T) {
	tests := []struct{ raw, want string }{
		{"tcp://:99999/x:1?agent=a", `invalid instance URL "tcp://:99999/x:1?agent=****": listen port 99999 out of range`},
		{"tcp://:0/x:1?agent=a", `invalid instance URL "tcp://:0/x:1?agent=****": listen port 0 out of range`},
		{"tcp://:abc/x:1?agent=a", `invalid instance URL "tcp://:abc/x:1?agent=****": listen port "abc" is not a number`},
		{"tcp://host/x:1?agent=a", `invalid instance URL "tcp://host/x:1?agent=****": listen address "host" is not host:port`},
		{"tcp://::1:80/x:1?agent=a", `listen address "::1:80" is not host:port`},
		{"tcp://[::1/x:1?agent=a", `listen address "[::1" is not host:port`},
		{"tcp://[1.2.3.4]:80/x:1?agent=a", `listen host "[1.2.3.4]" is not a host name or IP address`},
		{"tcp://a%20b:80/x:1?agent=a", `listen host "a%20b" is not a host name or IP address`},
		{"tcp:///x:1?agent=a", `missing listen address (host:port)`},
		{"", `invalid instance URL "": missing scheme`},
		{"localhost:80", `invalid instance URL "localhost:80": missing scheme`},
		{"://:1/h:2", `invalid instance URL "://:1/h:2": unknown scheme ""`},
		{"1tcp://:1/h:2", `unknown scheme "1tcp"`},
		{"a.b://:1/h:2", `unknown scheme "a.b"`},
		{"tcp://:1/abc?agent=a", `invalid instance URL "tcp://:1/abc?agent=****": target "abc" is not host:port`},
		{"tcp://:1/h:0?agent=a", `target "h:0": port 0 out of range`},
		{"tcp://:1/h:65536?agent=a", `target "h:65536": port 65536 out of range`},
		{"tcp://:1/h:x?agent=a", `target "h:x": port "x" is not a number`},
		{"tcp://:1/h:?agent=a", `target "h:": port missing`},
		{"server://:1/::1:80", `target "::1:80" is not host:port`},
		{"server://:1/a:1,,b:2", `empty target in the target list`},
		{"server://:1/a:1/b", `target "a:1/b": port "1/b" is not a number`},
		{"socks5://:1/a%20b", ``}, // valid: no space, just a percent sign
		{"socks5://:1/a,b c", `target "b c" contains a space or an invalid character`},
		{"socks5://:1/a,", `empty target in the target list`},
		{"server://:1", `server needs at least one target`},
		{"server://:1/", `server needs at least one target`},
		{"tcp://:1?agent=a", `tcp needs at least one target`},
		{"udp://:1?agent=a", `udp needs at least one target`},
		{"tcp://:1/h:2", `invalid instance URL "tcp://:1/h:2": agent= is required for tcp`},
		{"udp://:1/h:2?agent=", `agent= is required for udp`},
		{"http://:80", `agent= is required for http`},
		{"client://:8024", `client needs a bridge host`},
		{"client://", `client needs a bridge host`},
		{"client://k@:8024", `invalid instance URL "client://****@:8024": client needs a bridge host`},
		{"master://k@:9090", `invalid instance URL "master://****@:9090": master takes no key@`},
		{"client://%zz@h:1", `key: invalid percent-encoding`},
		{"client://h:1#frag", `"#" is not allowed`},
		{"client://h:1?a=1;b=2", `query: ";" is not a separator`},
		{"client://h:1?%zz=1", `query: parameter name "%zz": invalid percent-encoding`},
		{"client://h:1?=1", `query: empty parameter name`},
		{"client://h:1?slot=%zz", `parameter slot: invalid percent-encoding`},
	}
	for _, tt := range tests {
		_, err := Parse(tt.raw)
		if tt.want == "" {
			if err != nil {
				t.Errorf("Parse(%q): %v", tt.raw, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("Parse(%q) succeeded, want %q", tt.raw, tt.want)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q)\n got %q\nwant it to contain %q", tt.raw, err, tt.want)
		}
		var ue *URLError
		if !errors.As(err, &ue) || len(ue.Problems) == 0 {
			t.Errorf("Parse(%q): error %T is not a *URLError with problems", tt.raw, err)
		}
	}
}

func TestErrorsJoined(t *testing.T) {
	_, err := Parse("tcp://:99999/abc?slot=x&tls=2")
	want := `invalid instance URL "tcp://:99999/abc?slot=x&tls=2": listen port 99999 out of range; ` +
		`target "abc" is not host:port; parameter slot: "x" is not an integer; ` +
		`parameter tls=2 requires crt and key; agent= is required for tcp`
	if err == nil || err.Error() != want {
		t.Fatalf("got  %v\nwant %s", err, want)
	}
	var ue *URLError
	if !errors.As(err, &ue) || len(ue.Problems) != 5 || ue.URL != "tcp://:99999/abc?slot=x&tls=2" {
		t.Fatalf("URLError = %+v", ue)
	}
	if strings.Count(err.Error(), "invalid instance URL") != 1 {
		t.Fatal("prefix repeated")
	}
}

func TestErrorsNeverLeakSecrets(t *testing.T) {
	tests := []string{
		"tcp://S3CRET@:99999/abc?auth=user:PASSW0RD&agent=AGENTK3Y",
		"tcp://S3CRET@:1/h:2?auth=PASSW0RD",                        // auth without ':'
		"tcp://S3CRET@:1/h:2?auth=u:PASSW0RD;x=1&agent=AGENTK3Y;x", // ';' inside secrets
		"tcp://S3CRET@:1/h:2?%61uth=u:PASSW0RD&%61gent=AGENTK3Y&slot=x",
		"S3CRET@host:1/x?auth=u:PASSW0RD&slot=x", // missing scheme
		"tcp:/S3CRET@host:1/x",                   // malformed scheme separator
		"tcp://a/S3CRET@host:1/x?slot=x",         // '/' in the key
		"tcp://S3CRET@h:1/x#frag",
		"client://S3%43RET@:1?auth=u:PASSW0RD",
		"1bad://S3CRET@[::1/x?auth=u:PASSW0RD",
		"socks5://S3CRET@:1?auth=nocolonPASSW0RD",
	}
	for _, raw := range tests {
		_, err := Parse(raw)
		if err == nil {
			t.Errorf("Parse(%q) succeeded", raw)
			continue
		}
		msg := err.Error()
		for _, secret := range []string{"S3CRET", "S3%43RET", "PASSW0RD", "AGENTK3Y"} {
			if strings.Contains(msg, secret) {
				t.Errorf("error for %q leaks %s: %s", raw, secret, msg)
			}
		}
		if !strings.Contains(msg, "****") {
			t.Errorf("error for %q does not show the redaction: %s", raw, msg)
		}
	}
}
