package upgrade_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/burrowproject/burrow/internal/netx"
	"github.com/burrowproject/burrow/internal/testutil"
	"github.com/burrowproject/burrow/internal/upgrade"
)

func TestMain(m *testing.M) { testutil.VerifyNoLeaks(m) }

const (
	wsHead  = "GET /chat HTTP/1.1\r\nHost: a.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
	pending = "GET /admin HTTP/1.1\r\nHost: a.test\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n"
	ok101   = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
)

// world is a user connection and a link to a backend, both loopback TCP.
type world struct {
	client, user  *net.TCPConn // the user's end, the proxy's end
	link, backend *net.TCPConn // the proxy's end, the backend's end
	toUser        atomic.Int64
	fromUser      atomic.Int64
}

func newWorld(t *testing.T) *world {
	w := &world{}
	w.client, w.user = testutil.TCPPair(t)
	w.link, w.backend = testutil.TCPPair(t)
	for _, c := range []net.Conn{w.client, w.backend} {
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	}
	return w
}

// gate runs the gate with the client's pipelined bytes as Pending, the
// backend answering with answer (then, if closeAfter, closing its write
// side).
func (w *world) gate(t *testing.T, head, answer string, closeAfter bool, timeout time.Duration) (bool, error) {
	t.Helper()
	go func() {
		_, _ = io.WriteString(w.backend, answer)
		if closeAfter {
			_ = w.backend.CloseWrite()
		}
	}()
	return upgrade.Gate(w.user, w.link, []byte(head), upgrade.Options{
		Protocol: "websocket", Pending: []byte(pending), Timeout: timeout, RequestID: "rid-1",
		ToUser: netx.Flow{Count: &w.toUser}, FromUser: netx.Flow{Count: &w.fromUser},
	})
}

// backendGot returns what reached the backend from the link once the
// proxy closes the link.
func (w *world) backendGot(t *testing.T) string {
	t.Helper()
	_ = w.link.Close()
	b, _ := io.ReadAll(w.backend)
	return string(b)
}

// readClient reads the user's side until the proxy closes it, then
// closes it as a client does when its answer said Connection: close.
func (w *world) readClient() <-chan string {
	got := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(w.client)
		_ = w.client.Close()
		got <- string(b)
	}()
	return got
}

func TestSwitches(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	const frame = "\x81\x05hello"
	switched, err := w.gate(t, wsHead, ok101+frame, false, 0)
	if !switched || err != nil {
		t.Fatalf("Gate = %v, %v; want a switch", switched, err)
	}
	got := make([]byte, len(ok101+frame))
	if _, err := io.ReadFull(w.client, got); err != nil || string(got) != ok101+frame {
		t.Fatalf("client got %q (%v), want the 101 and the frame after it byte for byte", got, err)
	}
	if got := w.backendGot(t); got != pending {
		t.Fatalf("backend got %q after its 101, want the pending bytes", got)
	}
	if w.toUser.Load() != int64(len(ok101+frame)) || w.fromUser.Load() != int64(len(pending)) {
		t.Fatalf("counted to user %d, from user %d", w.toUser.Load(), w.fromUser.Load())
	}
}

func TestInterimThenSwitch(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	switched, err := w.gate(t, wsHead, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"+ok101, false, 0)
	if !switched || err != nil {
		t.Fatalf("Gate = %v, %v", switched, err)
	}
	got := make([]byte, len(ok101))
	if _, err := io.ReadFull(w.client, got); err != nil || string(got) != ok101 {
		t.Fatalf("client got %q (%v), want only the 101", got, err)
	}
}

// refusedCases: answers that are not a switch to websocket.
func TestRefused(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, head, answer string
		closeAfter         bool
		timeout            time.Duration
		status             int
		body               string // the client's body contains this
		failure            bool   // Gate returns a *Failure
	}{
		{name: "200 with a body", answer: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nKeep-Alive: timeout=5\r\n\r\nhello",
			status: 200, body: "hello"},
		{name: "chunked", answer: "HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
			status: 404, body: "abcde"},
		{name: "until close", answer: "HTTP/1.0 403 Forbidden\r\n\r\nno way", closeAfter: true, status: 403, body: "no way"},
		{name: "HEAD", head: strings.Replace(wsHead, "GET", "HEAD", 1),
			answer: "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", status: 200},
		{name: "101 for another protocol", answer: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n",
			status: 502, body: "Request id: rid-1", failure: true},
		{name: "101 without Connection", answer: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n",
			status: 502, failure: true},
		{name: "101 in HTTP/1.0", answer: "HTTP/1.0 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
			status: 502, failure: true},
		{name: "oversize head", answer: "HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("b", upgrade.MaxHead) + "\r\n\r\n",
			status: 502, failure: true},
		{name: "slow head", answer: "HTTP/1.1 200 OK\r\n", timeout: 200 * time.Millisecond,
			status: 504, body: "did not answer in time", failure: true},
		{name: "backend closes", answer: "", closeAfter: true, status: 502, body: "closed the connection", failure: true},
		{name: "garbage", answer: "SSH-2.0-OpenSSH\r\n\r\n", status: 502, failure: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			head := c.head
			if head == "" {
				head = wsHead
			}
			// The client pipelines a request the gate must never forward.
			if _, err := io.WriteString(w.client, pending); err != nil {
				t.Fatal(err)
			}
			got := w.readClient()
			switched, err := w.gate(t, head, c.answer, c.closeAfter, c.timeout)
			var f *upgrade.Failure
			if switched || errors.As(err, &f) != c.failure {
				t.Fatalf("Gate = %v, %v; want no switch, failure %v", switched, err, c.failure)
			}
			raw := <-got
			resp, rerr := http.ReadResponse(bufio.NewReader(strings.NewReader(raw)), &http.Request{Method: strings.Fields(head)[0]})
			if rerr != nil {
				t.Fatalf("client got %q: %v", raw, rerr)
			}
			body, berr := io.ReadAll(resp.Body)
			if berr != nil || resp.StatusCode != c.status || !resp.Close || !bytes.Contains(body, []byte(c.body)) {
				t.Fatalf("client got %q (body %q, %v); want %d with %q and Connection: close", raw, body, berr, c.status, c.body)
			}
			if resp.Header.Get("Keep-Alive") != "" || resp.Header.Get("Upgrade") != "" {
				t.Errorf("hop-by-hop headers passed on: %v", resp.Header)
			}
			if c.failure && resp.Header.Get(upgrade.RequestIDHeader) != "rid-1" {
				t.Errorf("page without the request id: %v", resp.Header)
			}
			if got := w.backendGot(t); got != "" {
				t.Fatalf("backend got %q after refusing", got)
			}
			if w.toUser.Load() != int64(len(raw)) || w.fromUser.Load() != 0 {
				t.Errorf("counted to user %d (sent %d), from user %d", w.toUser.Load(), len(raw), w.fromUser.Load())
			}
		})
	}
}

func TestRemoveHopByHop(t *testing.T) {
	t.Parallel()
	h := http.Header{"Connection": {"close, X-Secret"}, "X-Secret": {"1"}, "Keep-Alive": {"5"}, "Upgrade": {"ws"}, "X-Kept": {"1"}}
	upgrade.RemoveHopByHop(h)
	if len(h) != 1 || h.Get("X-Kept") != "1" {
		t.Fatalf("left %v", h)
	}
}

// A backend whose answer breaks off mid-body leaves the user with a reset,
// never a clean end that would make a cut-off body look complete.
func TestRelayBrokenOff(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	switched, err := w.gate(t, wsHead, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", true, 0)
	var f *upgrade.Failure
	if switched || err == nil || errors.As(err, &f) {
		t.Fatalf("Gate = %v, %v; want a relay error", switched, err)
	}
	_, rerr := io.ReadAll(w.client)
	if !errors.Is(rerr, syscall.ECONNRESET) {
		t.Fatalf("client read ended with %v, want a reset", rerr)
	}
}
