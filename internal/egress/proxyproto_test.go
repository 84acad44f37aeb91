package egress

import (
	"net"
	"testing"
)

func TestProxyHeader(t *testing.T) {
	t.Parallel()
	local4 := &net.TCPAddr{IP: net.ParseIP("10.0.0.2"), Port: 5432}
	local6 := &net.TCPAddr{IP: net.ParseIP("fd00::2"), Port: 443}
	cases := []struct {
		source string
		local  net.Addr
		want   string
	}{
		{"203.0.113.9:51234", local4, "PROXY TCP4 203.0.113.9 10.0.0.2 51234 5432\r\n"},
		{"[2001:db8::1]:40000", local6, "PROXY TCP6 2001:db8::1 fd00::2 40000 443\r\n"},
		{"[::ffff:203.0.113.9]:1", local4, "PROXY TCP4 203.0.113.9 10.0.0.2 1 5432\r\n"},
		{"[2001:db8::1]:40000", local4, "PROXY UNKNOWN\r\n"}, // families differ
		{"203.0.113.9:1", local6, "PROXY UNKNOWN\r\n"},
		{"", local4, "PROXY UNKNOWN\r\n"},
		{"not an address", local4, "PROXY UNKNOWN\r\n"},
		{"203.0.113.9:1", &net.UDPAddr{IP: net.ParseIP("10.0.0.2"), Port: 1}, "PROXY UNKNOWN\r\n"},
	}
	for _, c := range cases {
		if got := string(ProxyHeader(c.source, c.local)); got != c.want {
			t.Errorf("ProxyHeader(%q, %v) = %q, want %q", c.source, c.local, got, c.want)
		}
		if len(c.want) > 107 {
			t.Errorf("PROXY v1 line longer than 107 bytes: %q", c.want)
		}
	}
}
