package allowlist

import (
	"context"
	"errors"
	"github.com/burrowproject/burrow/internal/testutil"
	"net"
	"strings"
	"testing"
	"time"
)

func TestAllow(t *testing.T) {
	t.Parallel()
	cases := []struct {
		entries []string
		target  string
		want    string // address to dial; "" = refused
	}{
		{nil, "anything.example:1", "anything.example:1"},
		{[]string{"", "  "}, "10.1.1.1:22", "10.1.1.1:22"},
		{[]string{"10.0.0.0/8"}, "10.1.2.3:22", "10.1.2.3:22"},
		{[]string{"10.0.0.0/8"}, "11.1.2.3:22", ""},
		{[]string{"10.0.0.5/8"}, "10.200.0.1:1", "10.200.0.1:1"}, // masked
		{[]string{"192.168.1.10/32"}, "192.168.1.10:443", "192.168.1.10:443"},
		{[]string{"192.168.1.10/32"}, "192.168.1.11:443", ""},
		{[]string{"::1/128"}, "[::1]:80", "[::1]:80"},
		{[]string{"127.0.0.0/8"}, "[::ffff:127.0.0.1]:80", "[::ffff:127.0.0.1]:80"},
		{[]string{"db.lan:5432"}, "db.lan:5432", "db.lan:5432"},
		{[]string{"db.lan:5432"}, "DB.LAN:5432", "DB.LAN:5432"},
		{[]string{"db.lan:5432"}, "db.lan:5433", ""},
		{[]string{"db.lan:5432"}, "x.db.lan:5432", ""},
		{[]string{"10.0.0.5:22"}, "10.0.0.5:22", "10.0.0.5:22"},
		{[]string{"10.0.0.5:22"}, "10.0.0.5:23", ""},
		{[]string{"nas:*"}, "nas:1", "nas:1"},
		{[]string{"nas:*"}, "nas:65535", "nas:65535"},
		{[]string{"nas:*"}, "nas2:1", ""},
		{[]string{"*.corp.lan:443"}, "git.corp.lan:443", "git.corp.lan:443"},
		{[]string{"*.corp.lan:443"}, "a.b.corp.lan:443", "a.b.corp.lan:443"},
		{[]string{"*.corp.lan:443"}, "corp.lan:443", ""},
		{[]string{"*.corp.lan:443"}, "evilcorp.lan:443", ""},
		{[]string{"*.corp.lan:443"}, "git.corp.lan:80", ""},
		{[]string{"*.corp.lan:*"}, "git.corp.lan:80", "git.corp.lan:80"},
		{[]string{"db.lan:5432", "10.0.0.0/8"}, "10.9.9.9:1", "10.9.9.9:1"},
		{[]string{"db.lan:5432"}, "not-a-target", ""},
		{[]string{"db.lan:5432"}, "10.0.0.1:5432", ""}, // no CIDR rules: an IP must match a host rule
		// A name no name rule permits is resolved and checked against the CIDRs.
		{[]string{"127.0.0.0/8"}, "localhost:8080", "127.0.0.1:8080"},
		{[]string{"10.0.0.0/8"}, "localhost:8080", ""},
		{[]string{"nas:*"}, "localhost:8080", ""},
		{[]string{"*"}, "10.0.0.5:22", "10.0.0.5:22"},
		{[]string{"*:443"}, "10.0.0.5:443", "10.0.0.5:443"},
		{[]string{"*:443"}, "any.name:443", "any.name:443"},
		{[]string{"*:443"}, "10.0.0.5:22", ""},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, c := range cases {
		a, err := ParseAllow(c.entries)
		if err != nil {
			t.Fatalf("ParseAllow(%q): %v", c.entries, err)
		}
		got, err := a.Resolve(ctx, net.DefaultResolver, c.target)
		switch {
		case c.want == "" && err == nil:
			t.Errorf("allow %q: %s allowed as %s, want refused", c.entries, c.target, got)
		case c.want != "" && err != nil:
			t.Errorf("allow %q: %s refused: %v", c.entries, c.target, err)
		case c.want != "" && got != c.want:
			t.Errorf("allow %q: %s resolved to %s, want %s", c.entries, c.target, got, c.want)
		case err != nil && !errors.Is(err, ErrNotAllowed) && !strings.Contains(err.Error(), "host:port"):
			t.Errorf("allow %q: %s refused with %q, not ErrNotAllowed", c.entries, c.target, err)
		case err != nil && errors.Is(err, ErrNotAllowed) && !strings.HasPrefix(err.Error(), "target "+c.target+" is not allowed by this agent"):
			t.Errorf("allow %q: %s refused with %q, which does not say why", c.entries, c.target, err)
		}
	}
}

func TestParseAllowErrors(t *testing.T) {
	t.Parallel()
	for _, e := range []string{"nohost", ":80", "host:", "10.0.0.0/33", "a:b:c"} {
		if _, err := ParseAllow([]string{e}); err == nil {
			t.Errorf("ParseAllow(%q): no error", e)
		}
	}
	var nilAllow *Allow
	if !nilAllow.Empty() {
		t.Fatal("nil Allow is not empty")
	}
	if got, err := nilAllow.Resolve(context.Background(), net.DefaultResolver, "x:1"); err != nil || got != "x:1" {
		t.Fatalf("nil Allow refused: %v", err)
	}
	a, _ := ParseAllow([]string{"10.0.0.0/8"})
	if a.Empty() || a.All() {
		t.Fatal("a CIDR Allow reports empty or all")
	}
	star, _ := ParseAllow([]string{"*"})
	if star.Empty() || !star.All() || !star.Permits("192.168.1.1:80") {
		t.Fatal(`"*" does not allow everything`)
	}
}

func TestPermitsWithoutResolving(t *testing.T) {
	a, err := ParseAllow([]string{"10.0.0.0/8", "*.lan:*", "db.example:5432"})
	if err != nil {
		t.Fatal(err)
	}
	for target, want := range map[string]bool{
		"10.1.2.3:22": true, "nas.lan:443": true, "db.example:5432": true,
		"db.example:22": false, "192.168.1.1:80": false, "localhost:80": false, "bad": false,
	} {
		if got := a.Permits(target); got != want {
			t.Errorf("Permits(%q) = %v, want %v", target, got, want)
		}
	}
}

func TestMain(m *testing.M) { testutil.VerifyNoLeaks(m) }
