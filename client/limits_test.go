package client

import (
	"bufio"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/burrowproject/burrow/bridge"
	"github.com/burrowproject/burrow/internal/testutil"
)

// The agent's own limits (NodePass's client slot=, notcp=, noudp=, proxy=,
// rate=) act on the links the bridge opens; none is accepted and ignored.
func TestAgentOwnLimits(t *testing.T) {
	t.Parallel()
	echo := testutil.ServeTCP(t, testutil.Echo)
	refusedWith := func(t *testing.T, err error, want string) {
		t.Helper()
		var ve *bridge.VerdictError
		if !errors.As(err, &ve) || ve.Reason != want {
			t.Fatalf("link: %v, want the verdict %q", err, want)
		}
	}

	t.Run("slot", func(t *testing.T) {
		t.Parallel()
		srv, addr := startBridge(t, "k")
		startAgent(t, Config{Bridge: addr, Key: "k", Targets: []string{echo}, Slots: 1})
		online(t, srv, "k")
		first, err := srv.Open(testutil.Context(t), "k", bridge.LinkHeader{Network: bridge.NetworkTCP, Target: echo})
		if err != nil {
			t.Fatal(err)
		}
		testutil.RoundTrip(t, first, "one")
		_, err = srv.Open(testutil.Context(t), "k", bridge.LinkHeader{Network: bridge.NetworkTCP, Target: echo})
		refusedWith(t, err, "agent connection slots full (slot=1)")
		_ = first.Close()
		testutil.Eventually(t, testutil.Wait, 10*time.Millisecond, func() bool {
			l, err := srv.Open(testutil.Context(t), "k", bridge.LinkHeader{Network: bridge.NetworkTCP, Target: echo})
			if err != nil {
				return false
			}
			_ = l.Close()
			return true
		}, "the slot is free again")
	})

	t.Run("notcp and noudp", func(t *testing.T) {
		t.Parallel()
		srv, addr := startBridge(t, "k")
		startAgent(t, Config{Bridge: addr, Key: "k", Targets: []string{echo}, NoTCP: true, NoUDP: true})
		online(t, srv, "k")
		_, err := srv.Open(testutil.Context(t), "k", bridge.LinkHeader{Network: bridge.NetworkTCP, Target: echo})
		refusedWith(t, err, "tcp is disabled on this agent (notcp=1)")
		_, err = srv.Open(testutil.Context(t), "k", bridge.LinkHeader{Network: bridge.NetworkUDP, Target: echo})
		refusedWith(t, err, "udp is disabled on this agent (noudp=1)")
	})

	t.Run("proxy", func(t *testing.T) {
		t.Parallel()
		lines := make(chan string, 1)
		target := testutil.ServeTCP(t, func(c net.Conn) {
			line, _ := bufio.NewReader(c).ReadString('\n')
			lines <- line
		})
		srv, addr := startBridge(t, "k")
		startAgent(t, Config{Bridge: addr, Key: "k", Targets: []string{target}, Proxy: true})
		online(t, srv, "k")
		l, err := srv.Open(testutil.Context(t), "k", bridge.LinkHeader{Network: bridge.NetworkTCP, Target: target, Source: "203.0.113.7:4242"})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		select {
		case line := <-lines:
			if !strings.HasPrefix(line, "PROXY TCP4 203.0.113.7 ") {
				t.Fatalf("target read %q, want a PROXY header with the user's address", line)
			}
		case <-time.After(testutil.Wait):
			t.Fatal("no PROXY header reached the target")
		}
	})

	t.Run("rate", func(t *testing.T) {
		t.Parallel()
		const size = 1 << 20 // 1 MiB at 2 Mbit/s (250 KB/s, bursting 64 KiB): about 4 s
		srv, addr := startBridge(t, "k")
		startAgent(t, Config{Bridge: addr, Key: "k", Targets: []string{echo}, RateMbps: 2})
		online(t, srv, "k")
		l, err := srv.Open(testutil.Context(t), "k", bridge.LinkHeader{Network: bridge.NetworkTCP, Target: echo})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		start := time.Now()
		go func() { _, _ = l.Write(make([]byte, size)) }()
		_ = l.SetReadDeadline(time.Now().Add(time.Minute))
		buf := make([]byte, 64<<10)
		for got := 0; got < size; {
			n, err := l.Read(buf)
			if err != nil {
				t.Fatalf("after %d bytes: %v", got, err)
			}
			got += n
		}
		// A lower bound only (the machine may be slow, never too fast):
		// unlimited, 1 MiB over loopback takes milliseconds.
		if d := time.Since(start); d < 2*time.Second {
			t.Fatalf("1 MiB through an agent with rate=2 took %v, want the limit to hold it to about 4 s", d)
		}
	})
}
