package e2e

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/burrowproject/burrow/test/e2e/framework"
)

// The hello an agent sends, per bridge/wire.go, encoded by hand so these
// specs notice if the format changes under them:
//
//	"BRRW" | version u8 | body-length u16 | key-len u8 key | name-len u8 name | agent-version-len u8 agent-version
//
// and the bridge's answer: status u8 | length u16 | message.
const helloMagic = "BRRW"

func helloBytes(version byte, key, name, agentVersion string) []byte {
	b := []byte(helloMagic)
	b = append(b, version)
	b = binary.BigEndian.AppendUint16(b, uint16(3+len(key)+len(name)+len(agentVersion)))
	for _, s := range []string{key, name, agentVersion} {
		b = append(b, byte(len(s)))
		b = append(b, s...)
	}
	return b
}

// A wrong key: the agent logs a clear ERROR and keeps retrying, the server
// logs the refusal, and user connections are closed without reaching the
// target. No key appears in any log.
func TestWrongKey(t *testing.T) {
	t.Parallel()
	f := framework.New(t)
	sink := f.TCPSink()
	p := startServer(f, newKey(t))
	wrong := newKey(t)
	p.agent = p.startAgent("client", wrong, sink.Addr)

	line := waitLogLine(t, p.agent, ready, logRefused, "level=ERROR", `reason="unknown key"`)
	t.Logf("agent: %s", line)
	line = waitLogLine(t, p.server, ready, "unknown key")
	t.Logf("server: %s", line)
	p.server.MustWaitLog(logTCPListening, ready)

	res := f.ExpectTCPClose(p.user()).Within(5 * time.Second).Ensure()
	t.Logf("user connection without an agent: %s after %v", res.How, res.Elapsed.Round(time.Millisecond))
	if n := sink.Accepted(); n != 0 {
		t.Fatalf("the target got %d connections through an agent with a wrong key", n)
	}

	// It keeps retrying, with backoff, and does not exit.
	if err := p.agent.WaitLogN(logRefused, 3, 15*time.Second); err != nil {
		t.Fatal(err)
	}
	if p.agent.Exited() {
		t.Fatal("agent exited after a refused handshake; want it to keep retrying")
	}
	for _, proc := range []*framework.Process{p.server, p.agent} {
		for _, key := range []string{p.key, wrong} {
			if strings.Contains(proc.Output(), key) {
				t.Errorf("%s logged an agent key", proc.Name())
			}
		}
	}
}

// Raw clients that send the bridge garbage, truncated, oversize or
// wrong-version hellos are refused or closed, and afterwards the server
// still serves its agent, a new agent, and user traffic.
func TestMalformedHellos(t *testing.T) {
	t.Parallel()
	f := framework.New(t)
	p := newPair(f, f.TCPEcho())

	overrun := []byte(helloMagic)
	overrun = append(overrun, 1, 0, 10, 200) // body of 10 bytes whose first field claims 200
	overrun = append(overrun, bytes.Repeat([]byte{'k'}, 9)...)
	trailing := helloBytes(1, "k", "n", "v")
	binary.BigEndian.PutUint16(trailing[5:], uint16(len(trailing)-7+4))
	trailing = append(trailing, "junk"...)

	cases := []struct {
		name      string
		send      []byte
		halfClose bool          // close our write side after sending
		within    time.Duration // how soon the bridge must close
		reason    string        // a refusal, if sent, must mention this
		http      bool          // the refusal is an HTTP response (what a WebSocket agent reads)
	}{
		{name: "http request", send: []byte("GET / HTTP/1.1\r\nHost: burrow\r\n\r\n"), within: 2 * time.Second, reason: "(type=0)", http: true},
		{name: "random garbage", send: framework.RandomBytes(4096), within: 2 * time.Second},
		{name: "nothing then EOF", halfClose: true, within: 2 * time.Second},
		{name: "magic only then EOF", send: []byte(helloMagic), halfClose: true, within: 2 * time.Second},
		{name: "truncated body then EOF", send: helloBytes(1, "secret", "agent", "v1")[:12], halfClose: true, within: 2 * time.Second},
		{name: "oversize body length", send: append([]byte{'B', 'R', 'R', 'W', 1, 0xff, 0xff}, bytes.Repeat([]byte{'A'}, 64<<10)...), within: 2 * time.Second},
		{name: "field overruns body", send: overrun, within: 2 * time.Second},
		{name: "trailing bytes", send: trailing, within: 2 * time.Second},
		{name: "wrong version 99", send: helloBytes(99, "k", "n", "v"), within: 2 * time.Second, reason: "version"},
		{name: "unknown long key", send: helloBytes(1, strings.Repeat("x", 255), "n", "v"), within: 2 * time.Second, reason: "key"},
		// A hello that never completes is cut off by the handshake timeout.
		{name: "truncated and stalled", send: []byte{'B', 'R', 'R', 'W', 1}, within: 15 * time.Second},
	}
	// The group returns once every parallel case has finished. Each case
	// comes from its own loopback address: the bridge makes a source whose
	// handshakes keep failing wait for its refusals.
	t.Run("bad clients", func(t *testing.T) {
		for i, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				reply, how, elapsed, err := sendRaw(net.IPv4(127, 0, 2, byte(1+i)), p.bridge(), tc.send, tc.halfClose, tc.within)
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("closed (%s) after %v; reply %s", how, elapsed.Round(time.Millisecond), describeReply(reply))
				if len(reply) == 0 {
					return
				}
				if tc.http {
					if !bytes.HasPrefix(reply, []byte("HTTP/1.1 400 ")) || !bytes.Contains(reply, []byte(tc.reason)) {
						t.Fatalf("bridge answered an HTTP request with %q, want an HTTP 400 naming %q", reply, tc.reason)
					}
					return
				}
				status, msg, ok := parseReply(reply)
				switch {
				case !ok:
					t.Fatalf("bridge answered %d bytes that are not a hello reply: %q", len(reply), reply)
				case status == 0:
					t.Fatalf("bridge accepted a malformed hello (status ok)")
				case msg == "":
					t.Errorf("refusal (status %d) carries no reason", status)
				case tc.reason != "" && !strings.Contains(msg, tc.reason):
					t.Errorf("refusal %q does not mention %q", msg, tc.reason)
				}
			})
		}
	})

	// After every bad client: the process is up, its agent still works, a
	// new agent can join, users get through.
	if p.server.Exited() {
		t.Fatal("server exited after malformed hellos")
	}
	f.ExpectTCPEcho(p.user()).Ensure()
	second := p.startAgent("client-2", p.key, f.TCPEcho())
	second.MustWaitLog(logConnected, ready)
	if err := p.server.WaitLogN(logAgentConnected, 2, ready); err != nil {
		t.Fatal(err)
	}
	for range 4 { // links spread over both agents
		f.ExpectTCPEcho(p.user()).Payload(framework.RandomBytes(256 << 10)).Ensure()
	}
}

// sendRaw connects to addr, sends b (ignoring write errors: the bridge may
// close while we write), optionally half-closes, and reads until the bridge
// closes or within passes.
func sendRaw(src net.IP, addr string, b []byte, halfClose bool, within time.Duration) (reply []byte, how string, elapsed time.Duration, err error) {
	start := time.Now()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: src}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, "", 0, err
	}
	defer c.Close()
	_ = c.SetDeadline(start.Add(within))
	if len(b) > 0 {
		_, _ = c.Write(b)
	}
	if halfClose {
		_ = c.(*net.TCPConn).CloseWrite()
	}
	var buf bytes.Buffer
	_, rerr := io.Copy(&buf, io.LimitReader(c, 64<<10))
	elapsed = time.Since(start)
	var ne net.Error
	switch {
	case rerr == nil:
		how = "eof"
	case errors.Is(rerr, syscall.ECONNRESET):
		how = "reset"
	case errors.As(rerr, &ne) && ne.Timeout():
		return buf.Bytes(), "", elapsed, errors.New("bridge kept the connection open for " + within.String())
	default:
		return buf.Bytes(), "", elapsed, rerr
	}
	return buf.Bytes(), how, elapsed, nil
}

func parseReply(b []byte) (status byte, msg string, ok bool) {
	if len(b) < 3 {
		return 0, "", false
	}
	n := int(binary.BigEndian.Uint16(b[1:3]))
	if len(b) != 3+n {
		return 0, "", false
	}
	return b[0], string(b[3:]), true
}

func describeReply(b []byte) string {
	if len(b) == 0 {
		return "none"
	}
	if status, msg, ok := parseReply(b); ok {
		return fmt.Sprintf("status %d %q", status, msg)
	}
	return "unparsable"
}
