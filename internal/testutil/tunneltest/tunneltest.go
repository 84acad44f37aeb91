// Package tunneltest runs a real tunnel on loopback for tests: a
// bridge.Server on a loopback port, client.Agents connected to it and a
// server/host.Host with protocol handlers' instances on top, all stopped
// and waited for when the test ends.
//
// It imports bridge, client, plugins/sdk, server/flow and server/host, so
// the internal tests of those packages cannot use it, and bridge's and
// client's tests do not (they use internal/testutil, which imports
// neither). It is test support only:
// nothing outside _test.go files and test/ may import it.
package tunneltest

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/burrowproject/burrow/bridge"
	"github.com/burrowproject/burrow/client"
	"github.com/burrowproject/burrow/internal/allowlist"
	"github.com/burrowproject/burrow/internal/testutil"
	"github.com/burrowproject/burrow/internal/tlsx"
	"github.com/burrowproject/burrow/plugins/sdk"
	"github.com/burrowproject/burrow/server/host"
)

// Tunnel is a bridge serving on loopback until the test ends.
type Tunnel struct {
	// Server is the bridge.
	Server *bridge.Server
	// Addr is the bridge's loopback address, for agents to dial.
	Addr string
	// Key is the first key the bridge accepts ("" when it accepts none):
	// the key Agent uses when its config names none.
	Key string
	// FP is the fingerprint of the bridge's self-signed certificate, which
	// Agent pins when its config says nothing about TLS.
	FP string

	t testing.TB
}

// Start serves a bridge accepting key and runs one agent with that key,
// returning once the bridge lists the agent online.
func Start(t testing.TB, key string) *Tunnel {
	t.Helper()
	tn := Serve(t, key)
	tn.Agent(client.Config{})
	return tn
}

// Serve runs a bridge accepting keys on a loopback port, with no agent.
func Serve(t testing.TB, keys ...string) *Tunnel {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("tunneltest: listen: %v", err)
	}
	tc, fp, err := tlsx.ServerConfig(1, "", "")
	if err != nil {
		t.Fatalf("tunneltest: certificate: %v", err)
	}
	srv := bridge.NewServer(bridge.Config{Keys: bridge.NewKeySet(keys...), TLS: tc})
	ServeOn(t, srv, ln)
	tn := &Tunnel{Server: srv, Addr: ln.Addr().String(), FP: fp, t: t}
	if len(keys) > 0 {
		tn.Key = keys[0]
	}
	return tn
}

// ServeOn serves srv on ln until the test ends; the cleanup stops Serve,
// waits for it and closes srv.
func ServeOn(t testing.TB, srv *bridge.Server, ln net.Listener) {
	t.Helper()
	t.Cleanup(func() { _ = srv.Close() }) // runs after Serve has returned
	testutil.Go(t, func(ctx context.Context) { _ = srv.Serve(ctx, ln) })
}

// Agent runs an agent until the test ends (see RunAgent) and waits until
// the bridge lists its key online. cfg.Bridge defaults to the tunnel's
// address, cfg.Key to its key, the pin to its certificate (unless cfg
// speaks plain TCP or verifies otherwise) and cfg.Allow to "*": the
// tests on a tunnel ask for the targets they need.
func (tn *Tunnel) Agent(cfg client.Config) *client.Agent {
	tn.t.Helper()
	if cfg.Bridge == "" {
		cfg.Bridge = tn.Addr
	}
	if cfg.TLS == client.TLSOn && cfg.Fingerprint == "" && cfg.RootCAs == nil && !cfg.Unverified {
		cfg.Fingerprint = tn.FP
	}
	if cfg.Allow == nil {
		cfg.Allow, _ = allowlist.ParseAllow([]string{"*"})
	}
	if cfg.Key == "" {
		cfg.Key = tn.Key
	}
	a := RunAgent(tn.t, cfg)
	WaitOnline(tn.t, tn.Server, cfg.Key)
	return a
}

// RunAgent runs an agent with cfg until the test ends, without waiting for
// it to connect. Unset backoffs default to 20ms-100ms and an unset dial
// timeout to 2s, so that reconnecting is quick. The cleanup stops the
// agent and fails the test if it has not stopped within testutil.Wait.
// The agent stops before any bridge started earlier in the test.
func RunAgent(t testing.TB, cfg client.Config) *client.Agent {
	t.Helper()
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff = 20 * time.Millisecond
		cfg.MaxBackoff = 100 * time.Millisecond
	}
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = 2 * time.Second
	}
	a, err := client.New(cfg)
	if err != nil {
		t.Fatalf("tunneltest: new agent: %v", err)
	}
	testutil.Go(t, func(ctx context.Context) {
		if err := a.Run(ctx); err != nil {
			t.Errorf("tunneltest: agent Run: %v", err)
		}
	})
	return a
}

// WaitOnline fails the test unless srv lists an agent with key online
// within testutil.Wait.
func WaitOnline(t testing.TB, srv *bridge.Server, key string) {
	t.Helper()
	testutil.Eventually(t, testutil.Wait, 5*time.Millisecond, func() bool { return srv.Online(key) }, "agent online")
}

// Host returns a server/host.Host over the tunnel's bridge, for protocol
// handlers to run instances on.
func (tn *Tunnel) Host() *host.Host { return host.New(tn.Server, nil) }

// StartInstance validates inst.Spec with hd, adds inst to h and starts hd
// on it, and returns the instance's address. The cleanup stops hd (failing
// the test if Stop fails: the instance must still be running when the test
// ends) and removes the instance from h.
func StartInstance(t testing.TB, h *host.Host, hd sdk.Handler, inst host.Instance) string {
	t.Helper()
	id := inst.Spec.ID
	if err := hd.Validate(context.Background(), inst.Spec); err != nil {
		t.Fatalf("tunneltest: validate %s: %v", id, err)
	}
	if err := h.Add(inst, nil); err != nil {
		t.Fatalf("tunneltest: add %s: %v", id, err)
	}
	if err := hd.Start(context.Background(), inst.Spec, h); err != nil {
		h.Remove(id, 0)
		t.Fatalf("tunneltest: start %s: %v", id, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testutil.Wait)
		defer cancel()
		if err := hd.Stop(ctx, id); err != nil {
			t.Errorf("tunneltest: stop %s: %v", id, err)
		}
		h.Remove(id, 0)
	})
	return h.Addr(id).String()
}
