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

// wait bounds every condition the tests poll for.
const wait = 5 * time.Second

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
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ctx, ln)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		_ = srv.Close()
	})
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
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = a.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(wait):
			t.Errorf("agent did not stop within %v", wait)
		}
	})
	return a
}

// rawAgent is the agent end of a tunnel driven by the test: bridge.Dial and
// an accept loop calling serve for each stream.
func rawAgent(t *testing.T, addr, key, name string, serve func(st *smux.Stream)) *smux.Session {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	sess, err := bridge.Dial(ctx, bridge.DialConfig{Addr: addr, Key: key, AgentName: name, AgentVersion: "test"})
	if err != nil {
		t.Fatalf("raw agent dial: %v", err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
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

// serveTCP runs a loopback TCP server calling handle per connection; every
// connection is closed when the test ends.
func serveTCP(t *testing.T, handle func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns = map[net.Conn]struct{}{}
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = struct{}{}
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { mu.Lock(); delete(conns, c); mu.Unlock(); _ = c.Close() }()
				handle(c)
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

func echo(c net.Conn) { _, _ = io.Copy(c, c) }

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// roundTrip writes msg to c and reads len(msg) bytes back.
func roundTrip(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(wait))
	defer c.SetDeadline(time.Time{})
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatalf("write: %v", err)
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatalf("read echo: %v", err)
	}
	if string(buf) != msg {
		t.Fatalf("echo = %q, want %q", buf, msg)
	}
}

func ctxWait(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return ctx
}
