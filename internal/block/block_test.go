package block

import (
	"io"
	"net"
	"testing"
	"time"
)

func TestVerdicts(t *testing.T) {
	t.Parallel()
	all := Parse("123")
	cases := []struct {
		first    string
		protocol string
	}{
		{"\x05\x01\x00", "SOCKS5"},
		{"\x04\x01\x00\x50\x7f\x00\x00\x01user\x00", "SOCKS4"},
		{"GET / HTTP/1.1\r\n", "HTTP"},
		{"OPTIONS * HTTP/1.1\r\n", "HTTP"},
		{"CONNECT a:1 HTTP/1.1\r\n", "HTTP"},
		{"\x16\x03\x01\x02\x00\x01\x00\x01", "TLS"},
		{"SSH-2.0-OpenSSH_9.6\r\n", ""},
		{"hello world", ""},
		{"\x05\x00", ""},
		{"AB CD", ""}, // too short for a method
		{"\x00\x00\x00\x2c", ""},
	}
	for _, c := range cases {
		got, more := all.verdict([]byte(c.first))
		if got != c.protocol || more {
			t.Errorf("verdict(%q) = %q more=%v, want %q", c.first, got, more, c.protocol)
		}
	}
	if got, _ := Parse("2").verdict([]byte("\x05\x01\x00")); got != "" {
		t.Errorf("block=2 blocked SOCKS5")
	}
	if _, more := all.verdict([]byte("GE")); !more {
		t.Error(`"GE" decided before the method ended`)
	}
	if Parse("") != 0 || Parse("0") != 0 || Parse("13") != SOCKS|TLS {
		t.Error("Parse")
	}
}

// A clean connection's bytes all arrive, in order, even when they come one
// at a time; a blocked one's first Read fails without returning its bytes.
func TestWrap(t *testing.T) {
	t.Parallel()
	a, b := net.Pipe()
	defer a.Close()
	w := Wrap(b, Parse("123"))
	go func() {
		for _, s := range []string{"G", "E", "T", "x", "rest of it"} {
			_, _ = a.Write([]byte(s))
		}
		_ = a.Close()
	}()
	got, err := io.ReadAll(w)
	if err != nil || string(got) != "GETxrest of it" {
		t.Fatalf("clean: %q, %v", got, err)
	}

	a2, b2 := net.Pipe()
	defer a2.Close()
	w2 := Wrap(b2, Parse("2"))
	go func() { _, _ = a2.Write([]byte("POST /x HTTP/1.1\r\n")) }()
	_ = b2.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := w2.Read(make([]byte, 64))
	if p, ok := IsBlocked(err); !ok || p != "HTTP" || n != 0 {
		t.Fatalf("blocked: n=%d err=%v", n, err)
	}
	if Wrap(b, 0) != b {
		t.Fatal("an empty set must not wrap")
	}
}
