package http

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/burrowproject/burrow/internal/testutil"
)

// echoWS echoes every message with its type and answers pings.
func echoWS(testing.TB) http.Handler { return testutil.WebSocketEcho() }

func dialWS(t testing.TB, entry, host string) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{
		NetDialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, entry)
		},
		HandshakeTimeout: 10 * time.Second,
		ReadBufferSize:   32 << 10, WriteBufferSize: 32 << 10,
	}
	c, res, err := d.Dial("ws://"+host+"/ws", nil)
	if err != nil {
		t.Fatalf("dial websocket %s: %v", host, err)
	}
	_ = res.Body.Close()
	return c
}

func TestWebSocket(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.agent("k")
	b := newBackend(t, echoWS(t))
	listen := e.listen()
	meter := e.start("ws", listen, "k", []string{b.addr}, map[string]string{"host": "ws.test"})

	c := dialWS(t, listen, "ws.test")
	c.SetReadLimit(32 << 20)
	roundTrip := func(mt int, msg []byte) {
		t.Helper()
		if err := c.WriteMessage(mt, msg); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
		got, data, err := c.ReadMessage()
		if err != nil || got != mt || !bytes.Equal(data, msg) {
			t.Fatalf("echo of a %d-byte type-%d message: type %d, %d bytes, equal %v, err %v", len(msg), mt, got, len(data), bytes.Equal(data, msg), err)
		}
	}
	roundTrip(websocket.TextMessage, []byte("hello through the tunnel"))
	roundTrip(websocket.BinaryMessage, []byte{0, 1, 2, 255, 254})

	// Ping: the backend answers pong, which arrives while we read.
	pong := make(chan string, 1)
	c.SetPongHandler(func(s string) error { pong <- s; return nil })
	if err := c.WriteControl(websocket.PingMessage, []byte("are you there"), time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	roundTrip(websocket.TextMessage, []byte("after ping")) // reading runs the pong handler
	select {
	case s := <-pong:
		if s != "are you there" {
			t.Errorf("pong payload %q", s)
		}
	case <-time.After(5 * time.Second):
		t.Error("no pong")
	}

	big := make([]byte, 16<<20)
	_, _ = newPattern().Read(big)
	roundTrip(websocket.BinaryMessage, big)

	// Close handshake: the backend answers our close frame with its own.
	if err := c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye"), time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _, err := c.ReadMessage()
	if ce, ok := err.(*websocket.CloseError); !ok || ce.Code != websocket.CloseNormalClosure {
		t.Errorf("close: %v", err)
	}
	c.Close()

	// 100 sockets at once.
	const n = 100
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := dialWS(t, listen, "ws.test")
			defer c.Close()
			for j := range 10 {
				msg := fmt.Appendf(nil, "socket %d message %d", i, j)
				if err := c.WriteMessage(websocket.TextMessage, msg); err != nil {
					errs <- err
					return
				}
				_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
				_, got, err := c.ReadMessage()
				if err != nil || !bytes.Equal(got, msg) {
					errs <- fmt.Errorf("socket %d: got %q, err %v", i, got, err)
					return
				}
			}
			_ = c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
		}()
	}
	testutil.Eventually(t, 10*time.Second, 5*time.Millisecond, func() bool { return meter.Snapshot().TCPs > 1 }, "sockets are open together")
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	// Every byte the backend saw crossed the instance's counted links.
	testutil.Eventually(t, 10*time.Second, 10*time.Millisecond, func() bool {
		return meter.Snapshot().TCPs == 0
	}, "every socket and its tunnel stream is closed")
	s := meter.Snapshot()
	if s.TCPRx != b.read.Load() || s.TCPTx != b.written.Load() {
		t.Errorf("instance counters rx=%d tx=%d; backend read %d wrote %d", s.TCPRx, s.TCPTx, b.read.Load(), b.written.Load())
	}
	if s.TCPRx < 16<<20 || s.TCPTx < 16<<20 {
		t.Errorf("counters rx=%d tx=%d miss the 16 MiB message", s.TCPRx, s.TCPTx)
	}
}

// TestWebSocketStopEndsSockets: stopping an instance closes its sockets
// after the grace period; sockets of other instances stay up.
func TestWebSocketStopEndsSockets(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.agent("k")
	b := newBackend(t, echoWS(t))
	listen := e.listen()
	e.start("one", listen, "k", []string{b.addr}, map[string]string{"host": "one.test"})
	e.start("two", listen, "k", []string{b.addr}, map[string]string{"host": "two.test"})
	one, two := dialWS(t, listen, "one.test"), dialWS(t, listen, "two.test")
	defer one.Close()
	defer two.Close()
	e.stop("one", 50*time.Millisecond)
	_ = one.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := one.ReadMessage(); err == nil {
		t.Error("socket of a stopped instance still open")
	}
	if err := two.WriteMessage(websocket.TextMessage, []byte("still here")); err != nil {
		t.Fatal(err)
	}
	_ = two.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, msg, err := two.ReadMessage(); err != nil || string(msg) != "still here" {
		t.Errorf("other instance's socket: %q %v", msg, err)
	}
}
