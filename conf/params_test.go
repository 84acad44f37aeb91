package conf

import (
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestDefaults(t *testing.T) {
	for _, raw := range []string{"server://:1/h:2", "client://h:1", "tcp://:1/h:2?agent=a", "master://:9090", "socks5://:1"} {
		inst := mustParse(t, raw)
		p := inst.Params
		if raw[0] == 't' {
			p.Agent = ""
		}
		if !reflect.DeepEqual(p, DefaultParams()) {
			t.Errorf("%s: params %+v, want defaults %+v", raw, p, DefaultParams())
		}
	}
	d := DefaultParams()
	if d.Format != LogText || d.Log != LogInfo || d.TLS != TLSOff || d.DNS != 5*time.Minute || d.Dial != "auto" || d.Read != 0 ||
		d.Rate != 0 || d.Slot != 65536 || d.Min != 64 || d.Max != 1024 || d.Data != "./data" ||
		d.Handlers != "process" || d.Idle != 60*time.Second || d.Block != "" || d.SNI != "" {
		t.Errorf("DefaultParams() = %+v", d)
	}
}

// TestParamsValid sets each parameter on a scheme where it is typed and
// checks the typed value.
func TestParamsValid(t *testing.T) {
	tests := []struct {
		query string
		check func(p Params) bool
	}{
		{"log=debug", func(p Params) bool { return p.Log == LogDebug }},
		{"log=NONE", func(p Params) bool { return p.Log == LogNone }},
		{"log=event", func(p Params) bool { return p.Log == LogEvent }},
		{"log=verbose", func(p Params) bool { return p.Log == LogInfo }},
		{"log_format=json", func(p Params) bool { return p.Format == LogJSON }},
		{"log_format=JSON", func(p Params) bool { return p.Format == LogJSON }},
		{"log_format=text", func(p Params) bool { return p.Format == LogText }},
		{"log_format=", func(p Params) bool { return p.Format == LogText }},
		{"log=", func(p Params) bool { return p.Log == LogInfo }},
		{"tls=0", func(p Params) bool { return p.TLS == TLSOff }},
		{"tls=1", func(p Params) bool { return p.TLS == TLSSelfSigned }},
		{"tls=2&crt=/c.pem&key=/k.pem", func(p Params) bool { return p.TLS == TLSFiles && p.Crt == "/c.pem" && p.KeyFile == "/k.pem" }},
		{"fp=" + strings.Repeat("AB:", 31) + "AB", func(p Params) bool { return p.FP == strings.Repeat("ab", 32) }},
		{"fp=" + strings.Repeat("0f", 32), func(p Params) bool { return p.FP == strings.Repeat("0f", 32) }},
		{"ca=/etc/ca.pem", func(p Params) bool { return p.CA == "/etc/ca.pem" }},
		{"tls=0", func(p Params) bool { return p.TLS == TLSOff && p.TLSSet }},
		{"log=info", func(p Params) bool { return !p.TLSSet && p.BridgeTLS == TLSSelfSigned }},
		{"bridgetls=0", func(p Params) bool { return p.BridgeTLS == TLSOff }},
		{"bridgetls=2&bridgecrt=c.pem&bridgekey=k.pem", func(p Params) bool {
			return p.BridgeTLS == TLSFiles && p.BridgeCrt == "c.pem" && p.BridgeKey == "k.pem"
		}},
		{"allow=*", func(p Params) bool { return len(p.Allow) == 1 && p.Allow[0] == "*" }},
		{"sni=example.com", func(p Params) bool { return p.SNI == "example.com" }},
		{"sni=none", func(p Params) bool { return p.SNI == "" }},
		{"dns=30s", func(p Params) bool { return p.DNS == 30*time.Second }},
		{"dns=120", func(p Params) bool { return p.DNS == 2*time.Minute }},
		{"dns=0", func(p Params) bool { return p.DNS == 0 }},
		{"dial=auto", func(p Params) bool { return p.Dial == "auto" }},
		{"dial=10.0.0.2", func(p Params) bool { return p.Dial == "10.0.0.2" }},
		{"dial=2001:db8::2", func(p Params) bool { return p.Dial == "2001:db8::2" }},
		{"read=1m30s", func(p Params) bool { return p.Read == 90*time.Second }},
		{"read=10", func(p Params) bool { return p.Read == 10*time.Second }},
		{"rate=0", func(p Params) bool { return p.Rate == 0 }},
		{"rate=100", func(p Params) bool { return p.Rate == 100 }},
		{"slot=1", func(p Params) bool { return p.Slot == 1 }},
		{"slot=", func(p Params) bool { return p.Slot == 65536 }},
		{"proxy=1", func(p Params) bool { return p.Proxy }},
		{"proxy=true", func(p Params) bool { return p.Proxy }},
		{"proxy=0", func(p Params) bool { return !p.Proxy }},
		{"proxy=false", func(p Params) bool { return !p.Proxy }},
		{"block=0", func(p Params) bool { return p.Block == "" }},
		{"block=12", func(p Params) bool { return p.Block == "12" }},
		{"block=3", func(p Params) bool { return p.Block == "3" }},
		{"notcp=1", func(p Params) bool { return p.NoTCP && !p.NoUDP }},
		{"noudp=1", func(p Params) bool { return p.NoUDP && !p.NoTCP }},
		{"mode=2", func(p Params) bool { return p.Mode == 2 }},
		{"min=64", func(p Params) bool { return p.Min == 64 }},
		{"max=1024", func(p Params) bool { return p.Max == 1024 }},
		{"type=0", func(p Params) bool { return p.Type == 0 }},
		{"agent=k1", func(p Params) bool { return p.Agent == "k1" }},
		{"host=A.Example.com,*.lan,x_y.local", func(p Params) bool {
			return reflect.DeepEqual(p.Host, []string{"a.example.com", "*.lan", "x_y.local"})
		}},
		{"path=/app/", func(p Params) bool { return p.Path == "/app/" }},
		{"auth=user:p%40ss:word", func(p Params) bool { return p.Auth == "user:p@ss:word" }},
		{"hostrewrite=internal.lan", func(p Params) bool { return p.HostRewrite == "internal.lan" }},
		{"hostrewrite=internal.lan:8080", func(p Params) bool { return p.HostRewrite == "internal.lan:8080" }},
		{"allow=10.0.0.0/8,192.168.1.5,fd00::/8,nas.lan:5000,host:*,*.lan:22,*:443,[::1]:22", func(p Params) bool { return len(p.Allow) == 8 }},
		{"bridge=0.0.0.0:8024", func(p Params) bool { return p.Bridge == "0.0.0.0:8024" }},
		{"bridge=:8024", func(p Params) bool { return p.Bridge == ":8024" }},
		{"bridge=[::]:8024", func(p Params) bool { return p.Bridge == "[::]:8024" }},
		{"data=/var/lib/burrow", func(p Params) bool { return p.Data == "/var/lib/burrow" }},
		{"handlers=inprocess", func(p Params) bool { return p.Handlers == "inprocess" }},
		{"handlers=process", func(p Params) bool { return p.Handlers == "process" }},
		{"idle=5m", func(p Params) bool { return p.Idle == 5*time.Minute }},
		{"idle=30", func(p Params) bool { return p.Idle == 30*time.Second }},
		{"handshakes=512", func(p Params) bool { return p.Handshakes == 512 }},
		{"hsperip=4", func(p Params) bool { return p.HandshakesPerIP == 4 }},
		{"hstimeout=2s", func(p Params) bool { return p.HandshakeTimeout == 2*time.Second }},
		{"sessions=100", func(p Params) bool { return p.Sessions == 100 }},
		{"persource=8", func(p Params) bool { return p.PerSource == 8 }},
		{"log=info", func(p Params) bool {
			return p.Handshakes == 128 && p.HandshakesPerIP == 16 && p.HandshakeTimeout == 5*time.Second && p.Sessions == 8192 && p.PerSource == 256
		}},
	}
	for _, tt := range tests {
		raw := urlTaking(t, tt.query)
		inst := mustParse(t, raw)
		if !tt.check(inst.Params) {
			t.Errorf("%s: params %+v", raw, inst.Params)
		}
	}
}

func TestParamsInvalid(t *testing.T) {
	tests := []struct{ query, want string }{
		{"tls=3", `parameter tls: "3" is not 0, 1 or 2`},
		{"log_format=xml", `parameter log_format: "xml" is not text or json`},
		{"log_format=1", `parameter log_format: "1" is not text or json`},
		{"tls=2", "parameter tls=2 requires crt and key"},
		{"tls=2&crt=/c", "parameter tls=2 requires crt and key"},
		{"tls=2&key=/k", "parameter tls=2 requires crt and key"},
		{"fp=abc", `parameter fp: "abc" is not a SHA-256 fingerprint`},
		{"bridgetls=3", `parameter bridgetls: "3" is not 0, 1 or 2`},
		{"bridgetls=2&bridgecrt=c.pem", `parameter bridgetls=2 requires bridgecrt and bridgekey`},
		{"fp=" + strings.Repeat("0f", 32) + "&tls=0", `parameter tls=0 (plain TCP) cannot verify the bridge`},
		{"ca=x.pem&tls=0", `parameter tls=0 (plain TCP) cannot verify the bridge`},
		{"fp=" + strings.Repeat("zz", 32), `parameter fp:`},
		{"sni=a%20b", `parameter sni: "a b" is not a server name`},
		{"dns=x", `parameter dns: "x" is not a duration`},
		{"dns=-1s", `parameter dns: "-1s" must not be negative`},
		{"dns=99999999999999999999", `parameter dns: "99999999999999999999" is not a duration`},
		{"dial=host.example", `parameter dial: "host.example" is not an IP address or auto`},
		{"read=soon", `parameter read: "soon" is not a duration`},
		{"read=-5", `parameter read: "-5" must not be negative`},
		{"rate=-1", `parameter rate: "-1" must be >= 0`},
		{"rate=1.5", `parameter rate: "1.5" is not an integer`},
		{"slot=x", `parameter slot: "x" is not an integer`},
		{"slot=0", `parameter slot: "0" must be >= 1`},
		{"slot=99999999999999999999", `parameter slot: "99999999999999999999" is out of range`},
		{"proxy=yes", `parameter proxy: "yes" is not 0 or 1`},
		{"proxy=2", `parameter proxy: "2" is not 0 or 1`},
		{"block=4", `parameter block: "4" must be 0 or digits 1 (SOCKS), 2 (HTTP), 3 (TLS)`},
		{"block=01", `parameter block: "01"`},
		{"notcp=x", `parameter notcp: "x" is not 0 or 1`},
		{"noudp=x", `parameter noudp: "x" is not 0 or 1`},
		{"mode=3", `parameter mode: "3" must be between 0 and 2`},
		{"mode=-1", `parameter mode: "-1" must be between 0 and 2`},
		{"min=-1", `parameter min: "-1" must be between 0 and 65535`},
		{"max=0", `parameter max: "0" must be between 1 and 65535`},
		{"type=4", `parameter type: "4" must be between 0 and 3`},
		{"host=a..b", `parameter host: "a..b" is not a host name or *.domain wildcard`},
		{"host=a.com,", `parameter host: "" is not a host name`},
		{"host=a.com:80", `parameter host: "a.com:80" is not a host name`},
		{"host=x.*.com", `parameter host: "x.*.com"`},
		{"path=app", `parameter path: "app" must be a URL path starting with /`},
		{"auth=nopassword", `parameter auth: must be user:pass`},
		{"auth=:pw", `parameter auth: must be user:pass`},
		{"hostrewrite=a%20b", `parameter hostrewrite: "a b" is not host or host:port`},
		{"hostrewrite=a:0", `parameter hostrewrite: "a:0" is not host or host:port`},
		{"allow=10.0.0.0/33", `parameter allow: "10.0.0.0/33" is not a CIDR, IP or host:port pattern`},
		{"allow=nas.lan", `parameter allow: "nas.lan" is not a CIDR`},
		{"allow=host:x", `parameter allow: "host:x"`},
		{"allow=10.0.0.0/8,,x:1", `parameter allow: "" is not a CIDR`},
		{"bridge=8024", `parameter bridge: "8024" is not host:port`},
		{"bridge=h:99999", `parameter bridge: "h:99999": port 99999 out of range`},
		{"handlers=thread", `parameter handlers: "thread" is not process or inprocess`},
		{"idle=0", `parameter idle: "0" must be positive`},
		{"idle=x", `parameter idle: "x" is not a duration`},
		{"handshakes=0", `parameter handshakes: "0" must be >= 1`},
		{"hsperip=x", `parameter hsperip: "x" is not an integer`},
		{"hstimeout=0", `parameter hstimeout: "0" must be positive`},
		{"sessions=-1", `parameter sessions: "-1" must be >= 1`},
		{"persource=0", `parameter persource: "0" must be >= 1`},
	}
	for _, tt := range tests {
		raw := urlTaking(t, tt.query)
		_, err := Parse(raw)
		if err == nil {
			t.Errorf("Parse(%q) succeeded", raw)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q) = %q, want it to contain %q", raw, err, tt.want)
		}
	}
}

// urlTaking returns a URL of the first scheme that takes the query's first
// parameter, with query appended.
func urlTaking(t *testing.T, query string) string {
	t.Helper()
	name, _, _ := strings.Cut(query, "=")
	s := specNamed(name)
	if s == nil {
		t.Fatalf("no parameter %q", name)
	}
	for _, c := range []struct {
		on  schemeSet
		url string
	}{
		{onServer, "server://:1/h:2?"}, {onClient, "client://h:1?"}, {onTCP, "tcp://:1/h:2?"},
		{onUDP, "udp://:1/h:2?agent=a&"}, {onHTTP, "http://:80?agent=a&"}, {onMaster, "master://:9090?"},
	} {
		if s.on&c.on == 0 {
			continue
		}
		if c.on == onHTTP && name != "host" {
			return c.url + "host=x.com&" + query
		}
		if c.on == onTCP && name != "agent" {
			return c.url + "agent=a&" + query
		}
		return c.url + query
	}
	t.Fatalf("parameter %q applies to no built-in scheme", name)
	return ""
}

// TestParamsApply checks where parameters are accepted: unknown names are
// refused on Burrow's schemes with the closest known name, kept on
// NodePass's; a parameter on a scheme it does not apply to is refused,
// except a NodePass parameter on a NodePass scheme.
func TestParamsApply(t *testing.T) {
	refused := []struct{ raw, want string }{
		{"tcp://:1/h:2?agent=a&sloot=3", `unknown parameter "sloot" for tcp (did you mean "slot"?)`},
		{"client://h:1?allow=10.0.0.0/8", ""},
		{"http://:80?agent=a&host=x.com&alow=1.2.3.4", `unknown parameter "alow" for http (did you mean`},
		{"udp://:1/h:2?agent=a&zzz=1", `unknown parameter "zzz" for udp`},
		{"tcp://:1/h:2?agent=a&host=x.com", `parameter host does not apply to tcp`},
		{"tcp://:1/h:2?agent=a&auth=u:p", `parameter auth does not apply to tcp`},
		{"http://:80?agent=a&host=x.com&proxy=1", `parameter proxy does not apply to http: one upstream connection`},
		{"udp://:1/h:2?agent=a&proxy=1", `parameter proxy does not apply to udp`},
		{"tcp://:1/h:2?agent=a&dial=10.0.0.1", `parameter dial does not apply to tcp: the agent dials`},
		{"server://:1/h:2?allow=10.0.0.0/8", `parameter allow does not apply to server`},
		{"client://h:1?host=x.com", `parameter host does not apply to client`},
		{"master://:9090?agent=x", `parameter agent does not apply to master`},
		{"client://h:1?min=70000", `parameter min: "70000" must be between 0 and 65535`},
		{"server://:1/h:2?max=65536", `parameter max: "65536" must be between 1 and 65535`},
		{"server://:1/h:2?type=1", ""},
		{"server://:1/h:2?type=2&wspath=/tunnel", ""},
		{"client://h:1?type=2&wspath=/t&wshost=site.example.com:443&tls=0", ""},
		{"master://:9090?bridge=:8024&bridgetype=2&wspath=/t&bridgetls=0", ""},
		{"server://:1/h:2?type=1&tls=0", `parameter type=1 (QUIC) always runs TLS: drop tls=0`},
		{"client://h:1?type=3&tls=0", `parameter type=3 (HTTP/2) always runs TLS: drop tls=0`},
		{"master://:9090?bridge=:8024&bridgetype=1&bridgetls=0", `parameter bridgetype=1 (QUIC) always runs TLS: drop bridgetls=0`},
		{"master://:9090?bridgetype=2", `parameters bridgetype and wspath need bridge=`},
		{"client://h:1?wspath=/t", `parameter wspath: applies to the WebSocket carrier (type=2) only`},
		{"client://h:1?type=1&wshost=x.com", `parameter wshost: applies to the WebSocket carrier (type=2) only`},
		{"client://h:1?type=2&wspath=t", `parameter wspath: "t" must be a URL path starting with /`},
		{"client://h:1?type=2&wshost=a%20b", `parameter wshost: "a b" is not a host name`},
		{"server://:1/h:2?wshost=x.com", `parameter wshost does not apply to server`},
		{"tcp://:1/h:2?agent=a&type=2", `parameter type does not apply to tcp`},
		{"http://:80?agent=a&host=x.com&redirect=http", `parameter redirect: "http" must be https or https:PORT`},
		{"http://:80?agent=a&host=x.com&redirect=https&tls=1", `redirect: is for plain-HTTP instances`},
		{"http://:80?agent=a&host=x.com&inspect=2", `parameter inspect: "2" is not 0, 1 or body`},
		{"tcp://:1/h:2?agent=a&inspect=1", `parameter inspect does not apply to tcp`},
		{"http://:80?agent=a&host=x.com&inspect=body", ""},
	}
	for _, tt := range refused {
		_, err := Parse(tt.raw)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("Parse(%q): %v", tt.raw, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("Parse(%q) = %v, want it to contain %q", tt.raw, err, tt.want)
		}
	}
	for _, raw := range []string{
		"server://:1/h:2?lbs=2&foo=bar",   // unknown: kept, as NodePass does
		"client://h:1?crt=/c.pem",         // a NodePass parameter the client does not use: kept
		"server://:1/h:2?min=0&sni=a%20b", // NodePass's client parameters on a server: kept untyped
		"master://:9090?foo=1",
	} {
		if _, err := Parse(raw); err != nil {
			t.Errorf("Parse(%q): %v", raw, err)
		}
	}
}

func TestInspectModes(t *testing.T) {
	for v, want := range map[string]InspectMode{"": InspectOff, "0": InspectOff, "1": InspectHeaders, "body": InspectBodies} {
		in, err := Parse("http://:80?agent=a&host=x.com&inspect=" + v)
		if err != nil || in.Params.Inspect != want {
			t.Errorf("inspect=%s: %v, %v", v, in.Params.Inspect, err)
		}
		if v != "" && want.String() != v {
			t.Errorf("%d.String() = %q, want %q", want, want.String(), v)
		}
	}
}

func TestParseParamsAndDeclared(t *testing.T) {
	p, err := ParseParams("http", map[string]string{"host": "A.com", "read": "5", "agent": "k"})
	if err != nil || p.Host[0] != "a.com" || p.Read != 5*time.Second {
		t.Fatalf("ParseParams = %+v, %v", p, err)
	}
	if _, err := ParseParams("http", map[string]string{"agent": "k", "host": "a.com", "hots": "x"}); err == nil ||
		!strings.Contains(err.Error(), `did you mean "host"`) {
		t.Fatalf("ParseParams unknown: %v", err)
	}
	if _, err := ParseParams("udp", map[string]string{"agent": "k", "idle": "0"}); err == nil || !strings.Contains(err.Error(), "idle") {
		t.Fatalf("ParseParams idle=0: %v", err)
	}
	decl := []Declared{{Name: "auth", Type: "string"}, {Name: "handoff", Type: "bool"}, {Name: "n", Type: "int"}}
	if err := CheckDeclared(mustParse(t, "socks5://:1080?auth=u:p&handoff=1&n=3&slot=9&rate=1"), decl); err != nil {
		t.Fatalf("CheckDeclared: %v", err)
	}
	for raw, want := range map[string]string{
		"socks5://:1080?handof=1":      `unknown parameter "handof" for socks5 (did you mean "handoff"?)`,
		"socks5://:1080?handoff=maybe": `parameter handoff: "maybe" is not 0 or 1`,
		"socks5://:1080?n=x":           `parameter n: "x" is not an integer`,
		"socks5://:1080?mode=1":        `parameter mode does not apply to socks5`,
		"socks5://:1080?host=a.com":    `parameter host does not apply to socks5`,
		"plug://:1?auth=u:p":           `parameter auth does not apply to plug`,
	} {
		err := CheckDeclared(mustParse(t, raw), decl[1:])
		if raw != "plug://:1?auth=u:p" {
			err = CheckDeclared(mustParse(t, raw), decl)
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("CheckDeclared(%q) = %v, want %q", raw, err, want)
		}
	}
}

func TestConfigDefaults(t *testing.T) {
	tests := map[string]string{
		// the spec's example, byte for byte (with & instead of \u0026)
		"server://127.0.0.1:33997/127.0.0.1:32937?log=debug": "server://127.0.0.1:33997/127.0.0.1:32937?block=0&dial=auto&dns=5m0s&log=debug&max=1024&mode=0&notcp=0&noudp=0&proxy=0&rate=0&read=0s&slot=65536&type=0",
		"client://h:10101/127.0.0.1:80":                      "client://h:10101/127.0.0.1:80?block=0&dial=auto&dns=5m0s&min=64&mode=0&notcp=0&noudp=0&proxy=0&rate=0&read=0s&slot=65536&sni=none",
		"client://h:1?mode=2&lbs=1&dns=":                     "client://h:1?block=0&dial=auto&dns=5m0s&lbs=1&min=64&mode=2&notcp=0&noudp=0&proxy=0&rate=0&read=0s&slot=65536&sni=none",
		"tcp://:1/h:2?agent=a":                               "tcp://:1/h:2?agent=a&proxy=0&rate=0&read=0s&slot=65536",
		"udp://:1/h:2?agent=a&idle=30s":                      "udp://:1/h:2?agent=a&idle=30s&rate=0&read=0s&slot=65536",
		"udp://:1/h:2?agent=a":                               "udp://:1/h:2?agent=a&idle=1m0s&rate=0&read=0s&slot=65536",
		"http://:80?agent=a&host=x.com":                      "http://:80?agent=a&host=x.com&rate=0&read=0s&slot=65536",
		"socks5://:1080?user=x":                              "socks5://:1080?proxy=0&rate=0&read=0s&slot=65536&user=x",
		"master://0.0.0.0:9090":                              "master://0.0.0.0:9090/api?data=./data&handlers=process&log=info&tls=0",
		"master://0.0.0.0:9090/admin/?log=debug&tls=1":       "master://0.0.0.0:9090/admin?data=./data&handlers=process&log=debug&tls=1",
	}
	for raw, want := range tests {
		inst := mustParse(t, raw)
		if got := inst.Config(); got != want {
			t.Errorf("Parse(%q).Config()\n got %q\nwant %q", raw, got, want)
		}
		// Config is itself a valid URL with the same typed parameters.
		again := mustParse(t, inst.Config())
		// Config writes the master's tls=0; TLSSet says it was written.
		again.Params.TLSSet, inst.Params.TLSSet = false, false
		if !reflect.DeepEqual(again.Params, inst.Params) {
			t.Errorf("Config of %q changes params: %+v vs %+v", raw, again.Params, inst.Params)
		}
		if again.Config() != inst.Config() {
			t.Errorf("Config of %q not stable", raw)
		}
		// Config must not change the instance's own query.
		if inst.String() != mustParse(t, raw).String() {
			t.Errorf("Config mutated %q", raw)
		}
	}
}

func TestLogLevel(t *testing.T) {
	tests := []struct {
		in   string
		want LogLevel
		slog slog.Level
	}{
		{"none", LogNone, LevelNone},
		{"debug", LogDebug, slog.LevelDebug},
		{"info", LogInfo, slog.LevelInfo},
		{"warn", LogWarn, slog.LevelWarn},
		{"error", LogError, slog.LevelError},
		{"event", LogEvent, slog.LevelInfo},
		{"Debug", LogDebug, slog.LevelDebug},
		{"trace", LogInfo, slog.LevelInfo},
		{"", LogInfo, slog.LevelInfo},
	}
	for _, tt := range tests {
		l := ParseLogLevel(tt.in)
		if l != tt.want || l.SlogLevel() != tt.slog {
			t.Errorf("ParseLogLevel(%q) = %q (%v), want %q (%v)", tt.in, l, l.SlogLevel(), tt.want, tt.slog)
		}
	}
	if LevelNone <= slog.LevelError {
		t.Error("LevelNone must be above error")
	}
	if LogLevel("bogus").SlogLevel() != slog.LevelInfo {
		t.Error("unknown level must log at info")
	}
}
