package e2e

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/xtaci/smux"

	"github.com/burrowproject/burrow/bridge"
	"github.com/burrowproject/burrow/test/e2e/framework"
)

// The link header the bridge writes on every stream, per bridge/wire.go,
// encoded by hand:
//
//	version u8 | body-length u16 | network u8 | flags u8 | target-len u8 target | instance-len u8 instance | source-len u8 source
//
// and the agent's verdict: status u8 | length u16 | reason.
func linkHeader(version byte, network byte, target, instance, source string) []byte {
	b := []byte{version}
	b = binary.BigEndian.AppendUint16(b, uint16(2+3+len(target)+len(instance)+len(source)))
	b = append(b, network, 0)
	for _, s := range []string{target, instance, source} {
		b = append(b, byte(len(s)))
		b = append(b, s...)
	}
	return b
}

// fakeBridge plays the server end of one tunnel against a real agent: it
// accepts the agent's hello with any key and opens streams with whatever
// link header a spec writes.
type fakeBridge struct {
	t    testing.TB
	ln   net.Listener
	sess *smux.Session
}

func newFakeBridge(t testing.TB) *fakeBridge {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fb := &fakeBridge{t: t, ln: ln}
	t.Cleanup(func() {
		_ = ln.Close()
		if fb.sess != nil {
			_ = fb.sess.Close()
		}
	})
	return fb
}

// accept takes the agent's connection and completes its handshake.
func (fb *fakeBridge) accept(timeout time.Duration) {
	fb.t.Helper()
	_ = fb.ln.(*net.TCPListener).SetDeadline(time.Now().Add(timeout))
	c, err := fb.ln.Accept()
	if err != nil {
		fb.t.Fatalf("fake bridge: no agent within %v: %v", timeout, err)
	}
	_ = c.SetDeadline(time.Now().Add(timeout))
	prefix := make([]byte, 7)
	if _, err := io.ReadFull(c, prefix); err != nil {
		_ = c.Close()
		fb.t.Fatalf("fake bridge: read hello: %v", err)
	}
	if string(prefix[:4]) != helloMagic || prefix[4] < 1 || prefix[4] > bridge.MaxHelloVersion {
		_ = c.Close()
		fb.t.Fatalf("fake bridge: hello starts %q, want BRRW version 1 to %d", prefix, bridge.MaxHelloVersion)
	}
	if _, err := io.ReadFull(c, make([]byte, binary.BigEndian.Uint16(prefix[5:]))); err != nil {
		_ = c.Close()
		fb.t.Fatalf("fake bridge: read hello body: %v", err)
	}
	reply := []byte{0, 0, 0} // status ok, no message
	if prefix[4] >= bridge.HelloVersionFlow {
		reply = append(reply, byte(bridge.FlowReverse)) // the flow: reverse, links come from the bridge
	}
	if prefix[4] >= bridge.HelloVersionPool { // and later versions: the same reply
		reply = append(reply, 0, 0, 0) // no pool: pool-max 0, no token; every link is a stream
	}
	if _, err := c.Write(reply); err != nil {
		_ = c.Close()
		fb.t.Fatal(err)
	}
	_ = c.SetDeadline(time.Time{})
	sess, err := smux.Client(c, bridge.MuxConfig()) // the bridge end opens the streams
	if err != nil {
		_ = c.Close()
		fb.t.Fatal(err)
	}
	fb.sess = sess
	// The session's first stream is its control stream: a link header of
	// network 'c' and the ready marker (a zero u32), after which the agent
	// counts itself connected. The stream stays open with the session.
	ctrl, err := sess.OpenStream()
	if err == nil {
		_, err = ctrl.Write(append(linkHeader(1, 'c', "", "", ""), 0, 0, 0, 0))
	}
	if err != nil {
		fb.t.Fatalf("fake bridge: control stream: %v", err)
	}
}

// link opens a stream, writes header, and reads what the agent answers
// until it closes the stream or within passes.
func (fb *fakeBridge) link(header []byte, halfClose bool, within time.Duration) (answer []byte, closed bool, err error) {
	st, err := fb.sess.OpenStream()
	if err != nil {
		return nil, false, fmt.Errorf("open stream: %w", err)
	}
	defer st.Close()
	_ = st.SetDeadline(time.Now().Add(within))
	if _, err := st.Write(header); err != nil {
		return nil, false, fmt.Errorf("write header: %w", err)
	}
	if halfClose {
		_ = st.CloseWrite()
	}
	var buf bytes.Buffer
	_, err = io.Copy(&buf, io.LimitReader(st, 64<<10))
	if err != nil {
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			return buf.Bytes(), false, nil
		}
		return buf.Bytes(), true, nil // reset by the agent: closed as well
	}
	return buf.Bytes(), true, nil
}

// The agent refuses malformed link headers stream by stream: each stream is
// closed without an ok verdict, the tunnel stays up, and a good link on the
// same session then works.
func TestAgentRefusesMalformedLinkHeaders(t *testing.T) {
	t.Parallel()
	f := framework.New(t)
	echo := f.TCPEcho()
	fb := newFakeBridge(t)
	agent := f.Burrow("client", fmt.Sprintf("client://%s@%s/%s?log=debug&tls=0&allow=127.0.0.0/8", newKey(t), fb.ln.Addr(), echo))
	fb.accept(ready)
	agent.MustWaitLog(logConnected, ready)

	valid := linkHeader(1, 't', "", "e2e", "127.0.0.1:1")
	oversize := append([]byte{1, 0xff, 0xff}, bytes.Repeat([]byte{'A'}, 2048)...)
	tooShort := []byte{1, 0, 1, 't'}
	overrun := []byte{1, 0, 6, 't', 0, 200, 'a', 'b', 'c'}
	trailing := linkHeader(1, 't', "", "e2e", "")
	binary.BigEndian.PutUint16(trailing[1:], binary.BigEndian.Uint16(trailing[1:])+3)
	trailing = append(trailing, "xyz"...)

	for _, tc := range []struct {
		name      string
		header    []byte
		halfClose bool
	}{
		{"http request", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), false},
		{"wrong version 99", linkHeader(99, 't', "", "e2e", ""), false},
		{"oversize body length", oversize, false},
		{"body shorter than network and flags", tooShort, false},
		{"unknown network", linkHeader(1, 'x', "", "e2e", ""), false},
		{"field overruns body", overrun, false},
		{"trailing bytes", trailing, false},
		{"truncated then EOF", valid[:6], true},
	} {
		answer, closed, err := fb.link(tc.header, tc.halfClose, 5*time.Second)
		switch {
		case err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case !closed:
			t.Errorf("%s: agent kept the stream open for 5s", tc.name)
		case len(answer) > 0 && answer[0] == 0:
			t.Errorf("%s: agent answered an ok verdict: %q", tc.name, answer)
		default:
			t.Logf("%s: closed, answer %q", tc.name, answer)
		}
	}

	// The session survived: a good link to the default target echoes, and a
	// link to a refusing target gets a verdict with the dial error.
	st, err := fb.sess.OpenStream()
	if err != nil {
		t.Fatalf("session died after malformed link headers: %v", err)
	}
	defer st.Close()
	_ = st.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := st.Write(valid); err != nil {
		t.Fatal(err)
	}
	verdict := make([]byte, 3)
	if _, err := io.ReadFull(st, verdict); err != nil || verdict[0] != 0 {
		t.Fatalf("good link: verdict %q, %v; want ok", verdict, err)
	}
	msg := framework.RandomBytes(32 << 10)
	if _, err := st.Write(msg); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(st, got); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("good link: echo %v, equal %v", err, bytes.Equal(got, msg))
	}

	answer, _, err := fb.link(linkHeader(1, 't', f.RefusingAddr(), "e2e", ""), false, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(answer) < 3 || answer[0] != 1 || !strings.Contains(string(answer[3:]), "connection refused") {
		t.Fatalf("link to a refusing target: answer %q, want a failed verdict naming \"connection refused\"", answer)
	}
	if n := strings.Count(agent.RunOutput(), logConnected); n != 1 {
		t.Fatalf("agent connected %d times; malformed links must not cost the tunnel", n)
	}
}
