package client

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/burrowproject/burrow/bridge"
	"github.com/burrowproject/burrow/internal/allowlist"
	"github.com/burrowproject/burrow/internal/testutil"
)

// An agent dials its own targets and what allow= permits, nothing else:
// with neither it refuses every named target and says at start how to
// allow some; allow=* dials anything and warns.
func TestAgentDialsOnlyWhatItWasTold(t *testing.T) {
	t.Parallel()
	echoAddr := testutil.ServeTCP(t, testutil.Echo)
	other := testutil.ServeTCP(t, testutil.Echo)
	star, _ := allowlist.ParseAllow([]string{"*"})
	cases := []struct {
		name    string
		cfg     Config
		dialled map[string]bool // target -> allowed
		log     string
	}{
		{"own target only", Config{Targets: []string{echoAddr}}, map[string]bool{echoAddr: true, other: false, "10.0.0.5:22": false}, ""},
		{"nothing", Config{}, map[string]bool{echoAddr: false, "10.0.0.5:22": false}, "add allow=host:port,10.0.0.0/8,... to its URL"},
		{"allow list", Config{Allow: loopback(t)}, map[string]bool{other: true, "10.0.0.5:22": false}, ""},
		{"allow=*", Config{Allow: star}, map[string]bool{other: true}, "allow=* lets whoever holds the bridge reach every address"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var logs testutil.SyncBuffer
			srv, addr := startBridge(t, "k")
			c.cfg.Bridge, c.cfg.Key = addr, "k"
			c.cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			startAgent(t, c.cfg)
			online(t, srv, "k")
			for target, allowed := range c.dialled {
				l, err := srv.Open(testutil.Context(t), "k", bridge.LinkHeader{Network: bridge.NetworkTCP, Target: target})
				if allowed {
					if err != nil {
						t.Fatalf("%s refused: %v", target, err)
					}
					testutil.RoundTrip(t, l, "allowed")
					_ = l.Close()
					continue
				}
				var ve *bridge.VerdictError
				if !errors.As(err, &ve) || !ve.NotAllowed || ve.Reason != "target "+target+" is not allowed by this agent" {
					t.Fatalf("%s: %v, want the not-allowed verdict", target, err)
				}
			}
			if c.log != "" && !strings.Contains(logs.String(), c.log) {
				t.Fatalf("agent log lacks %q:\n%s", c.log, logs.String())
			}
			if c.log == "" && strings.Contains(logs.String(), "level=WARN msg=allow") {
				t.Fatalf("unexpected policy warning:\n%s", logs.String())
			}
		})
	}
}

// firstBytes runs an agent with cfg against a bare listener and returns
// what it sends first.
func firstBytes(t *testing.T, cfg Config) []byte {
	t.Helper()
	got := make(chan []byte, 1)
	cfg.Bridge = testutil.ServeTCP(t, func(c net.Conn) {
		_ = c.SetReadDeadline(time.Now().Add(testutil.Wait))
		buf := make([]byte, 512)
		n, _ := io.ReadAtLeast(c, buf, 6)
		select {
		case got <- buf[:n]:
		default:
		}
	})
	startAgent(t, cfg)
	select {
	case b := <-got:
		return b
	case <-time.After(testutil.Wait):
		t.Fatal("the agent sent nothing")
		return nil
	}
}

// The agent's first bytes are a TLS ClientHello, never its hello (which
// holds the key); only tls=0 sends the hello in clear text.
func TestAgentOpensTLSFirst(t *testing.T) {
	t.Parallel()
	const key = "secret-agent-key"
	for _, cfg := range []Config{
		{Key: key},
		{Key: key, Targets: []string{"127.0.0.1:1"}, Unverified: true},
	} {
		b := firstBytes(t, cfg)
		if len(b) < 6 || b[0] != 0x16 || b[1] != 3 || b[5] != 1 { // handshake record, TLS 1.x, ClientHello
			t.Fatalf("first bytes % x are not a TLS ClientHello", b)
		}
		if bytes.Contains(b, []byte(key)) {
			t.Fatal("the key travelled before TLS")
		}
	}
	if b := firstBytes(t, Config{Key: key, TLS: TLSOff}); !bytes.HasPrefix(b, []byte(bridge.Magic)) {
		t.Fatalf("tls=0 agent sent % x, want a plain hello", b)
	}
	if _, err := New(Config{Bridge: "x:1", TLS: TLSOff, Fingerprint: strings.Repeat("a", 64)}); err == nil {
		t.Fatal("a pin with tls=0 was accepted")
	}
}
