package bridge_test

import (
	"context"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/xtaci/smux"

	"github.com/burrowproject/burrow/bridge"
	"github.com/burrowproject/burrow/client"
	"github.com/burrowproject/burrow/internal/testutil"
)

func TestMain(m *testing.M) { testutil.VerifyNoLeaks(m) }

// startBridge serves a bridge on a loopback port until the test ends.
func startBridge(t *testing.T, cfg bridge.Config) (*bridge.Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveBridge(t, cfg, ln), ln.Addr().String()
}

func serveBridge(t *testing.T, cfg bridge.Config, ln net.Listener) *bridge.Server {
	t.Helper()
	srv := bridge.NewServer(cfg)
	t.Cleanup(func() { _ = srv.Close() }) // after Serve has returned
	testutil.Go(t, func(ctx context.Context) { _ = srv.Serve(ctx, ln) })
	return srv
}

// startAgent runs a real agent until the test ends.
func startAgent(t *testing.T, cfg client.Config) *client.Agent {
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
		t.Fatal(err)
	}
	testutil.Go(t, func(ctx context.Context) { _ = a.Run(ctx) })
	return a
}

// rawAgent is the agent end of a tunnel driven by the test: bridge.Dial and
// an accept loop calling serve for each stream.
func rawAgent(t *testing.T, addr, key, name string, serve func(st *smux.Stream)) *bridge.Tunnel {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testutil.Wait)
	defer cancel()
	sess, err := bridge.Dial(ctx, bridge.DialConfig{Addr: addr, Key: key, AgentName: name, AgentVersion: "test"})
	if err != nil {
		t.Fatalf("raw agent dial: %v", err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		// Dial took the control stream; aborts are not what these tests
		// look at, so only the links are served.
		for {
			st, err := sess.AcceptStream()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer st.Close()
				serve(st)
			}()
		}
	}()
	t.Cleanup(func() {
		_ = sess.Close()
		wg.Wait()
	})
	return sess
}

// echoLink answers a link with ok and echoes it.
func echoLink(st *smux.Stream) {
	if _, err := bridge.ReadLinkHeader(st); err != nil {
		return
	}
	if _, err := st.Write(bridge.AppendVerdict(nil, bridge.Verdict{OK: true})); err != nil {
		return
	}
	_, _ = io.Copy(st, st)
}
