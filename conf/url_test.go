package conf

import (
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func mustParse(t *testing.T, raw string) *Instance {
	t.Helper()
	inst, err := Parse(raw)
	if err != nil {
		t.Fatalf("Parse(%q): %v", raw, err)
	}
	return inst
}

func TestParseSchemes(t *testing.T) {
	tests := []struct {
		raw     string
		scheme  string
		key     string
		listen  string
		prefix  string
		targets []string
	}{
		{"master://0.0.0.0:9090/api?log=info&tls=0&bridge=0.0.0.0:8024&data=./data&handlers=process", "master", "", "0.0.0.0:9090", "/api", nil},
		{"master://:9090", "master", "", ":9090", "/api", nil},
		{"server://:10101/127.0.0.1:8080", "server", "", ":10101", "", []string{"127.0.0.1:8080"}},
		{"server://secret@0.0.0.0:10101/a.example:80,b.example:81", "server", "secret", "0.0.0.0:10101", "", []string{"a.example:80", "b.example:81"}},
		{"client://k@vps.example.com:8024", "client", "k", "vps.example.com:8024", "", nil},
		{"client://k@vps:8024/", "client", "k", "vps:8024", "", nil},
		{"client://vps:8024/127.0.0.1:22", "client", "", "vps:8024", "", []string{"127.0.0.1:22"}},
		{"tcp://:2222/10.0.0.5:22?agent=A", "tcp", "", ":2222", "", []string{"10.0.0.5:22"}},
		{"udp://127.0.0.1:5353/10.0.0.1:53?agent=A", "udp", "", "127.0.0.1:5353", "", []string{"10.0.0.1:53"}},
		{"http://:80?agent=A&host=example.com", "http", "", ":80", "", nil},
		{"http://:80/127.0.0.1:3000?agent=A&host=a.com", "http", "", ":80", "", []string{"127.0.0.1:3000"}},
		{"socks5://:1080", "socks5", "", ":1080", "", nil},
		{"my_plug-2://:1080/10.0.0.0/8,*.lan:*,host:*", "my_plug-2", "", ":1080", "", []string{"10.0.0.0/8", "*.lan:*", "host:*"}},
		{"TCP://:1/h:2?agent=A", "tcp", "", ":1", "", []string{"h:2"}},
		{"  tcp://:1/h:2?agent=A\n", "tcp", "", ":1", "", []string{"h:2"}},
		// IPv6
		{"server://[::]:10101/[::1]:80", "server", "", "[::]:10101", "", []string{"[::1]:80"}},
		{"client://[2001:db8::1]:8024/[fe80::1%eth0]:22", "client", "", "[2001:db8::1]:8024", "", []string{"[fe80::1%eth0]:22"}},
		{"udp://[::1]:53/[2001:db8::53]:53,10.0.0.1:53?agent=A", "udp", "", "[::1]:53", "", []string{"[2001:db8::53]:53", "10.0.0.1:53"}},
		// key percent-decoding, empty key, empty target host
		{"client://a%40b%2Fc@h:1", "client", "a@b/c", "h:1", "", nil},
		{"server://@:1/:80", "server", "", ":1", "", []string{":80"}},
	}
	for _, tt := range tests {
		inst := mustParse(t, tt.raw)
		if inst.Scheme != tt.scheme || inst.Key != tt.key || inst.Listen != tt.listen || inst.Prefix != tt.prefix || !slices.Equal(inst.Targets, tt.targets) {
			t.Errorf("Parse(%q) = scheme %q key %q listen %q prefix %q targets %q; want %q %q %q %q %q",
				tt.raw, inst.Scheme, inst.Key, inst.Listen, inst.Prefix, inst.Targets, tt.scheme, tt.key, tt.listen, tt.prefix, tt.targets)
		}
	}
}

func TestMasterPrefix(t *testing.T) {
	tests := map[string]string{
		"master://:9090":                 "/api",
		"master://:9090/":                "/api",
		"master://:9090//":               "/api",
		"master://:9090/api":             "/api",
		"master://:9090/api/":            "/api",
		"master://:9090/admin/":          "/admin",
		"master://:9090/admin":           "/admin",
		"master://:9090/a/b/?log=debug":  "/a/b",
		"master://127.0.0.1:9090/x-y.z~": "/x-y.z~",
	}
	for raw, want := range tests {
		inst := mustParse(t, raw)
		if inst.Prefix != want || len(inst.Targets) != 0 {
			t.Errorf("Parse(%q): prefix %q targets %q, want %q and none", raw, inst.Prefix, inst.Targets, want)
		}
		if s := inst.String(); !strings.Contains(s, "9090"+want) {
			t.Errorf("Parse(%q).String() = %q, want the prefix %q", raw, s, want)
		}
	}
	if _, err := Parse("master://:9090/a b"); err == nil || !strings.Contains(err.Error(), "API prefix") {
		t.Errorf("bad prefix: %v", err)
	}
}

func TestStringNormalisation(t *testing.T) {
	tests := map[string]string{
		// keys sorted, values as given, unknown kept
		"server://127.0.0.1:10101/127.0.0.1:18080?tls=1&log=info":   "server://127.0.0.1:10101/127.0.0.1:18080?log=info&tls=1",
		"server://:1/h:2?lbs=2&zz=a&log=warn&aa=":                   "server://:1/h:2?aa=&lbs=2&log=warn&zz=a",
		"server://:1/h:2?x=1&x=2&a=b":                               "server://:1/h:2?a=b&x=1&x=2",
		"server://:1/h:2?":                                          "server://:1/h:2",
		"server://:1/h:2?&&log=info&":                               "server://:1/h:2?log=info",
		"SERVER://:1/h:2":                                           "server://:1/h:2",
		"client://k@h:1/":                                           "client://k@h:1",
		"client://@h:1":                                             "client://h:1",
		"client://a%40b@h:1":                                        "client://a%40b@h:1",
		"client://a%3Ab@h:1":                                        "client://a:b@h:1",
		"client://h:1?allow=10.0.0.0%2F8%2C*.lan%3A*":               "client://h:1?allow=10.0.0.0/8,*.lan:*",
		"client://h:1?x=a+b&y=%26%3D%3B%23%25%2B":                   "client://h:1?x=a%20b&y=%26%3D%3B%23%25%2B",
		"master://0.0.0.0:9090":                                     "master://0.0.0.0:9090/api",
		"master://0.0.0.0:9090/admin/?log=info":                     "master://0.0.0.0:9090/admin?log=info",
		"http://:80/[::1]:8080?host=A.example.com,*.b.com&agent=k1": "http://:80/[::1]:8080?agent=k1&host=A.example.com,*.b.com",
	}
	for raw, want := range tests {
		inst := mustParse(t, raw)
		got := inst.String()
		if got != want {
			t.Errorf("Parse(%q).String() = %q, want %q", raw, got, want)
		}
		again := mustParse(t, got)
		if again.String() != got {
			t.Errorf("not stable: %q -> %q", got, again.String())
		}
		if !reflect.DeepEqual(again.Query, inst.Query) || again.Key != inst.Key {
			t.Errorf("re-parse of %q changed query or key: %v vs %v", got, again.Query, inst.Query)
		}
	}
}

func TestUnknownParamsKept(t *testing.T) {
	inst := mustParse(t, "server://:1/h:2?lbs=1&foo=bar%20baz")
	if inst.Query.Get("lbs") != "1" || inst.Query.Get("foo") != "bar baz" {
		t.Fatalf("query = %v", inst.Query)
	}
	// Plugins: only common parameters are typed; the others are the plugin's.
	inst = mustParse(t, "socks5://:1080?mode=strict&type=x&host=not%20a%20host&slot=10")
	if inst.Params.Slot != 10 || inst.Query.Get("mode") != "strict" {
		t.Fatalf("plugin params: %+v %v", inst.Params, inst.Query)
	}
	if _, err := Parse("socks5://:1080?slot=x"); err == nil {
		t.Fatal("plugin slot=x accepted")
	}
}

func TestTunnelKey(t *testing.T) {
	tests := map[string]string{
		"server://:10101/h:1":           "e68be2b4",
		"server://0.0.0.0:10101/h:1":    "e68be2b4",
		"server://[::]:10101/h:1":       "e68be2b4",
		"client://h:10101":              "e68be2b4",
		"server://mykey@:10101/h:1":     "mykey",
		"client://my%20key@h:10101/h:1": "my key",
	}
	for raw, want := range tests {
		if got := mustParse(t, raw).TunnelKey(); got != want {
			t.Errorf("%q.TunnelKey() = %q, want %q", raw, got, want)
		}
	}
	// Always 8 hex characters, even with leading zero nibbles.
	for port := 1; port < 3000; port++ {
		inst := &Instance{Scheme: "server", Listen: ":" + strconv.Itoa(port)}
		if k := inst.TunnelKey(); len(k) != 8 || strings.Trim(k, "0123456789abcdef") != "" {
			t.Fatalf("port %d: key %q", port, k)
		}
	}
}

func TestRedacted(t *testing.T) {
	inst := mustParse(t, "socks5://TOPSECRET@:2222/h:22?agent=AGENTKEY&auth=user:PASSWORD&log=debug")
	red := inst.Redacted()
	want := "socks5://****@:2222/h:22?agent=****&auth=****&log=debug"
	if red != want {
		t.Errorf("Redacted() = %q, want %q", red, want)
	}
	for _, secret := range []string{"TOPSECRET", "AGENTKEY", "PASSWORD"} {
		if strings.Contains(red, secret) {
			t.Errorf("Redacted() leaks %s", secret)
		}
	}
	if s := inst.String(); !strings.Contains(s, "TOPSECRET@") || !strings.Contains(s, "auth=user:PASSWORD") {
		t.Errorf("String() must keep secrets: %q", s)
	}
	if got := mustParse(t, "server://:1/h:2").Redacted(); got != "server://:1/h:2" {
		t.Errorf("no secrets: %q", got)
	}
}

func TestClone(t *testing.T) {
	inst := mustParse(t, "client://k@h:80/a:1,b:2?allow=10.0.0.0/8,b:2&sni=a.com")
	c := inst.Clone()
	if !reflect.DeepEqual(c, inst) {
		t.Fatal("clone differs")
	}
	c.Targets[0] = "z:9"
	c.Query.Set("agent", "y")
	c.Query["sni"][0] = "q"
	c.Params.Allow[0] = "z.com:1"
	c.Params.Allow = append(c.Params.Allow[:0], "x")
	if inst.Targets[0] != "a:1" || inst.Query.Get("agent") != "" || inst.Query["sni"][0] != "a.com" ||
		inst.Params.Allow[0] != "10.0.0.0/8" {
		t.Fatal("clone shares memory with the original")
	}
	if (*Instance)(nil).Clone() != nil {
		t.Fatal("nil clone")
	}
}

func TestIsBuiltinScheme(t *testing.T) {
	for _, s := range []string{"master", "server", "client", "tcp", "udp", "http"} {
		if !IsBuiltinScheme(s) {
			t.Errorf("%s not builtin", s)
		}
	}
	for _, s := range []string{"", "socks5", "TCP", "https"} {
		if IsBuiltinScheme(s) {
			t.Errorf("%s builtin", s)
		}
	}
}
