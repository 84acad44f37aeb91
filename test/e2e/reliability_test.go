package e2e

import (
	"io"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/burrowproject/burrow/test/e2e/framework"
)

// An agent killed with SIGKILL in the middle of a transfer: the user's
// connection ends within 2s instead of hanging. A restarted agent
// reconnects and new connections work again.
func TestAgentKilledMidTransfer(t *testing.T) {
	t.Parallel()
	f := framework.New(t)
	p := newPair(f, f.TCPEcho())

	c, err := net.DialTimeout("tcp", p.user(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))

	// Keep bytes flowing both ways until the connection breaks.
	var wg sync.WaitGroup
	defer wg.Wait()
	defer c.Close()
	wg.Go(func() {
		chunk := framework.RandomBytes(32 << 10)
		for range 1 << 16 { // bounded: 2 GiB at most; ends at the first error
			if _, err := c.Write(chunk); err != nil {
				return
			}
		}
	})
	buf := make([]byte, 64<<10)
	var echoed int
	for echoed < 4<<20 { // a transfer is under way once 4 MiB came back
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("echo broke before the kill, after %d bytes: %v", echoed, err)
		}
		echoed += n
	}

	if err := p.agent.Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	_ = c.SetReadDeadline(killed.Add(5 * time.Second))
	var readErr error
	for range 1 << 20 { // bounded: drains at most what was in flight
		if _, readErr = c.Read(buf); readErr != nil {
			break
		}
	}
	ended := time.Since(killed)
	if ne, ok := readErr.(net.Error); ok && ne.Timeout() {
		t.Fatalf("user connection still open %v after the agent was killed", ended.Round(time.Millisecond))
	}
	if ended > 2*time.Second {
		t.Fatalf("user connection ended %v after the agent was killed (%v), want < 2s", ended.Round(time.Millisecond), readErr)
	}
	t.Logf("user connection ended %v after SIGKILL: %v", ended.Round(time.Millisecond), readErr)

	p.agent.Restart()
	p.agent.MustWaitLog(logConnected, ready)
	if err := p.server.WaitLogN(logAgentConnected, 2, ready); err != nil {
		t.Fatal(err)
	}
	f.ExpectTCPEcho(p.user()).Eventually(5 * time.Second).Ensure()
	f.ExpectTCPEcho(p.user()).Payload(framework.RandomBytes(1 << 20)).Ensure()
}

// A target that refuses: the user's connection closes promptly, and the
// server's log carries the agent's dial error.
func TestTargetRefuses(t *testing.T) {
	t.Parallel()
	f := framework.New(t)
	p := newPair(f, f.RefusingAddr())

	res := f.ExpectTCPClose(p.user()).Within(2 * time.Second).Ensure()
	if res.How == "refused" {
		t.Fatal("the server refused the user connection itself; want it accepted, then closed once the agent's dial failed")
	}
	t.Logf("user connection closed (%s) after %v", res.How, res.Elapsed.Round(time.Millisecond))
	line := waitLogLine(t, p.server, 5*time.Second, logLinkFailed, "reason=", "connection refused")
	t.Logf("server: %s", line)

	// The tunnel itself is fine: the agent stays connected.
	if strings.Count(p.agent.RunOutput(), logConnected) != 1 || p.agent.Exited() {
		t.Fatalf("agent reconnected or exited after a refused target")
	}
}

// shutdownGrace is how long the binary lets open connections drain after
// SIGTERM/SIGINT (it logs msg="shutting down" grace=5s).
const shutdownGrace = 5 * time.Second

// SIGTERM or SIGINT stops the server and the agent gracefully with exit
// code 0: promptly when idle, and within the drain grace when a user
// connection is still open.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		server, agt syscall.Signal
		openConn    bool
		within      time.Duration
	}{
		{"idle, server SIGTERM, agent SIGINT", syscall.SIGTERM, syscall.SIGINT, false, 3 * time.Second},
		{"idle, server SIGINT, agent SIGTERM", syscall.SIGINT, syscall.SIGTERM, false, 3 * time.Second},
		{"open connection, server SIGTERM, agent SIGINT", syscall.SIGTERM, syscall.SIGINT, true, shutdownGrace + 3*time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := framework.New(t)
			p := newPair(f, f.TCPEcho())

			var c net.Conn
			if tc.openConn { // an open, idle user connection through the tunnel
				var err error
				c, err = net.DialTimeout("tcp", p.user(), 5*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(30 * time.Second))
				if _, err := c.Write([]byte("ping")); err != nil {
					t.Fatal(err)
				}
				if _, err := io.ReadFull(c, make([]byte, 4)); err != nil {
					t.Fatal(err)
				}
			}

			start := time.Now()
			if err := p.server.Signal(tc.server); err != nil {
				t.Fatal(err)
			}
			code, err := p.server.Wait(tc.within)
			if err != nil || code != 0 {
				t.Fatalf("server after %v: exit code %d, %v; want 0 within %v", tc.server, code, err, tc.within)
			}
			t.Logf("server exited 0 %v after %v", time.Since(start).Round(time.Millisecond), tc.server)
			if c != nil {
				_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
				if _, err := c.Read(make([]byte, 1)); err == nil {
					t.Fatal("user connection got data after the server stopped")
				} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
					t.Fatal("user connection still open 3s after the server exited")
				}
			}

			start = time.Now()
			if err := p.agent.Signal(tc.agt); err != nil {
				t.Fatal(err)
			}
			code, err = p.agent.Wait(3 * time.Second)
			if err != nil || code != 0 {
				t.Fatalf("agent after %v: exit code %d, %v; want 0 within 3s", tc.agt, code, err)
			}
			t.Logf("agent exited 0 %v after %v", time.Since(start).Round(time.Millisecond), tc.agt)
		})
	}
}
