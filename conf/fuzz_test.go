package conf

import (
	"net/url"
	"reflect"
	"strings"
	"testing"
)

const (
	keyMarker  = "Zk3yM4rk3rZ"
	passMarker = "Zp4ssM4rk3rZ"
)

// plantSecrets replaces the userinfo (as Parse delimits it: before the last
// '@' between "://" and the first '?') and the values of auth= and agent=
// with markers that must never show up in an error or in Redacted.
func plantSecrets(raw string) string {
	start := 0
	if i := strings.Index(raw, "://"); i >= 0 {
		start = i + 3
	}
	head, query, hasQuery := strings.Cut(raw[start:], "?")
	if at := strings.LastIndexByte(head, '@'); at >= 0 {
		head = keyMarker + head[at:]
	}
	out := raw[:start] + head
	if !hasQuery {
		return out
	}
	pieces := strings.Split(query, "&")
	for n, p := range pieces {
		k, _, _ := strings.Cut(p, "=")
		if name, err := url.QueryUnescape(k); err == nil && (name == "auth" || name == "agent") {
			pieces[n] = k + "=u:" + passMarker
		}
	}
	return out + "?" + strings.Join(pieces, "&")
}

func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"master://0.0.0.0:9090/api?log=info&tls=0&bridge=0.0.0.0:8024&data=./data&handlers=process",
		"master://:9090/admin/",
		"server://key@:10101/127.0.0.1:8080,[::1]:81?tls=2&crt=c&key=k&max=8",
		"client://k%40y@[2001:db8::1]:8024/127.0.0.1:22?mode=2&fp=" + strings.Repeat("ab:", 31) + "ab",
		"client://k@h:1?allow=10.0.0.0/8,*.lan:*&sni=none",
		"tcp://:99999/x",
		"udp://[::]:53/10.0.0.1:53?agent=A&idle=30",
		"http://:80?agent=A&host=*.example.com&path=/app&auth=u:p&hostrewrite=in:80",
		"socks5://S@:1080/10.0.0.0/8?auth=u:p&x=a+b%26c",
		"tcp://s@:1/h:2?auth=a;b&agent=c",
		"x://@/",
		"client://h:1?a=1&a=2&=3",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		inst, err := Parse(raw)
		if err == nil {
			s := inst.String()
			again, err := Parse(s)
			if err != nil {
				t.Fatalf("String() %q of %q does not parse: %v", s, raw, err)
			}
			if again.String() != s {
				t.Fatalf("not stable: %q -> %q -> %q", raw, s, again.String())
			}
			if !reflect.DeepEqual(again.Params, inst.Params) || again.Key != inst.Key {
				t.Fatalf("re-parse of %q changed params or key", s)
			}
			cfg, err := Parse(inst.Config())
			if err != nil {
				t.Fatalf("Config() %q does not parse: %v", inst.Config(), err)
			}
			if cfg.Config() != inst.Config() {
				t.Fatalf("Config not stable: %q -> %q", inst.Config(), cfg.Config())
			}
			if c := inst.Clone(); !reflect.DeepEqual(c, inst) {
				t.Fatal("Clone differs")
			}
			_ = inst.TunnelKey()
		} else if !strings.HasPrefix(err.Error(), "invalid instance URL ") {
			t.Fatalf("error without prefix: %v", err)
		}

		planted := plantSecrets(raw)
		inst, err = Parse(planted)
		var shown string
		if err != nil {
			shown = err.Error()
		} else {
			shown = inst.Redacted()
		}
		if strings.Contains(shown, keyMarker) || strings.Contains(shown, passMarker) {
			t.Fatalf("secret shown for %q: %s", planted, shown)
		}
	})
}
