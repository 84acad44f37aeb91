package main

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/burrowproject/burrow/conf"
	"github.com/burrowproject/burrow/internal/testutil"
)

func TestNewBridgeInfo(t *testing.T) {
	t.Parallel()
	cases := []struct {
		addr string
		pin  bool
		want string
	}{
		{"127.0.0.1:8024", true, "burrow 'client://AGENT_KEY@127.0.0.1:8024?fp=ab12&allow=HOST:PORT'"},
		{"0.0.0.0:8024", true, "burrow 'client://AGENT_KEY@SERVER_HOST:8024?fp=ab12&allow=HOST:PORT'"},
		{"[::]:8024", false, "burrow 'client://AGENT_KEY@SERVER_HOST:8024?allow=HOST:PORT'"},
		{"[::1]:8024", true, "burrow 'client://AGENT_KEY@[::1]:8024?fp=ab12&allow=HOST:PORT'"},
	}
	for _, c := range cases {
		b := newBridgeInfo(c.addr, "ab12", c.pin)
		if b.Agent != c.want || b.Addr != c.addr || !b.TLS || b.FP != "ab12" {
			t.Errorf("newBridgeInfo(%q, pin %v) = %+v, want agent %s", c.addr, c.pin, b, c.want)
		}
	}
}

// The agent line is dialable as printed, and the line after it says who
// can dial the bridge: a loopback bridge only this machine's agents, one
// on every address after SERVER_HOST is replaced.
func TestBannerBridgeReach(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ addr, agentHost, note string }{
		{"127.0.0.1:8024", "@127.0.0.1:8024?", "The bridge 127.0.0.1:8024 accepts only agents on this machine; to accept agents from elsewhere, start the master with bridge=0.0.0.0:8024"},
		{"[::1]:9000", "@[::1]:9000?", "accepts only agents on this machine; to accept agents from elsewhere, start the master with bridge=0.0.0.0:9000"},
		{"localhost:8024", "@localhost:8024?", "accepts only agents on this machine"},
		{"0.0.0.0:8024", "@SERVER_HOST:8024?", "In the agent line, replace SERVER_HOST with this server's public name or address"},
		{":8024", "@SERVER_HOST:8024?", "replace SERVER_HOST"},
		{"[::]:8024", "@SERVER_HOST:8024?", "replace SERVER_HOST"},
		{"203.0.113.7:8024", "@203.0.113.7:8024?", ""},
	} {
		var out testutil.SyncBuffer
		banner{addr: "127.0.0.1:9090", root: "/api/v1", key: "k", created: true, bridge: newBridgeInfo(c.addr, "ab12", true)}.
			print(slog.New(slog.NewTextHandler(&out, nil)))
		log := out.String()
		if !strings.Contains(log, "Agent: burrow 'client://AGENT_KEY"+c.agentHost) {
			t.Errorf("bridge %s: agent line not for %s:\n%s", c.addr, c.agentHost, log)
		}
		if c.note == "" {
			if strings.Count(log, "\n") != 5 {
				t.Errorf("bridge %s: a note where none is needed:\n%s", c.addr, log)
			}
		} else if !strings.Contains(log, c.note) {
			t.Errorf("bridge %s: no note %q:\n%s", c.addr, c.note, log)
		}
	}
}

// The API line names what tls= covers and the certificate's fingerprint.
func TestBannerAPILine(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		tls  conf.TLSMode
		want []string
	}{
		{conf.TLSOff, []string{`msg="API: http://127.0.0.1:9090/api/v1 tls=0 (plain HTTP`, "Try: curl -H X-API-Key:k http://127.0.0.1:9090/api/v1/instances"}},
		{conf.TLSSelfSigned, []string{`msg="API: https://127.0.0.1:9090/api/v1 tls=1 certificate fp=ab12 (self-signed, kept in the data directory)"`, "fp=ab12\n", "Try: curl -k -H X-API-Key:k https://"}},
		{conf.TLSFiles, []string{`msg="API: https://127.0.0.1:9090/api/v1 tls=2 certificate fp=ab12 (the crt= and key= files)"`, "Try: curl -H X-API-Key:k https://"}},
	} {
		var out testutil.SyncBuffer
		banner{addr: "127.0.0.1:9090", root: "/api/v1", tls: c.tls, fp: "ab12", key: "k", created: true}.print(slog.New(slog.NewTextHandler(&out, nil)))
		for _, w := range c.want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("tls=%d: banner lacks %q:\n%s", c.tls, w, out.String())
			}
		}
	}
	// The bridge's certificate is the API's unless bridgetls=2 names files.
	for _, c := range []struct{ bridgeFP, want string }{
		{"ab12", "(self-signed, kept in the data directory; the bridge serves it too)"},
		{"cd34", "(self-signed, kept in the data directory)"},
	} {
		var out testutil.SyncBuffer
		banner{addr: "127.0.0.1:9090", root: "/api/v1", tls: conf.TLSSelfSigned, fp: "ab12", key: "k", created: true,
			bridge: newBridgeInfo("127.0.0.1:8024", c.bridgeFP, true)}.print(slog.New(slog.NewTextHandler(&out, nil)))
		if !strings.Contains(out.String(), c.want) {
			t.Errorf("bridge fp %s: banner lacks %q:\n%s", c.bridgeFP, c.want, out.String())
		}
	}
}
