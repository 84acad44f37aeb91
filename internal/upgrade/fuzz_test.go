package upgrade_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/burrowproject/burrow/internal/upgrade"
)

// FuzzGate feeds the gate arbitrary backend answers. Whatever comes, it
// must return; the client's pipelined bytes reach the backend only after a
// real switch; and a client that is not switched reads exactly one
// well-formed response that closes the connection.
func FuzzGate(f *testing.F) {
	for _, s := range []string{
		ok101, ok101 + "\x81\x02hi",
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n" + pending,
		"HTTP/1.0 200 OK\r\n\r\nuntil close",
		"HTTP/1.1 100 Continue\r\n\r\n" + ok101,
		"HTTP/1.1 204 No Content\r\n\r\n" + pending,
		"HTTP/1.1 200 OK\nContent-Length: 0\n\n",
		"", "garbage\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	defer ln.Close()
	pair := func() (dialed, accepted *net.TCPConn) {
		ch := make(chan net.Conn, 1)
		go func() { c, _ := ln.Accept(); ch <- c }()
		d, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			f.Fatal(err)
		}
		return d.(*net.TCPConn), (<-ch).(*net.TCPConn)
	}
	f.Fuzz(func(t *testing.T, answer []byte) {
		client, user := pair()
		link, backend := pair()
		defer client.Close()
		defer backend.Close()
		deadline := time.Now().Add(5 * time.Second)
		for _, c := range []net.Conn{client, backend} {
			_ = c.SetDeadline(deadline)
		}
		got := make(chan []byte, 1)
		go func() { b, _ := io.ReadAll(client); _ = client.Close(); got <- b }()
		reached := make(chan []byte, 1)
		go func() {
			_, _ = backend.Write(answer)
			_ = backend.CloseWrite()
			b, _ := io.ReadAll(backend)
			reached <- b
		}()
		switched, gerr := upgrade.Gate(user, link, []byte(wsHead), upgrade.Options{
			Protocol: "websocket", Pending: []byte(pending), Timeout: time.Second, RequestID: "f",
		})
		_ = link.Close()
		_ = user.Close()
		raw, toBackend := <-got, <-reached
		if switched {
			resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(raw)), nil)
			if err != nil || resp.StatusCode != 101 || !strings.EqualFold(resp.Header.Get("Upgrade"), "websocket") {
				t.Fatalf("switched on %q", answer)
			}
			if string(toBackend) != pending {
				t.Fatalf("switched, but the backend got %q", toBackend)
			}
			return
		}
		if len(toBackend) > 0 {
			t.Fatalf("not switched, but the backend got %q", toBackend)
		}
		var f *upgrade.Failure
		if gerr != nil && !errors.As(gerr, &f) {
			return // the backend's answer broke off mid-relay: the user got a reset
		}
		br := bufio.NewReader(bytes.NewReader(raw))
		resp, err := http.ReadResponse(br, &http.Request{Method: "GET"})
		if err != nil {
			t.Fatalf("not switched; the client got %q, not a response: %v", raw, err)
		}
		if !resp.Close || resp.StatusCode == 101 {
			t.Fatalf("not switched; the client's response does not close: %q", raw)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		if rest, _ := io.ReadAll(br); len(rest) > 0 {
			t.Fatalf("not switched; %d bytes after the one response: %q", len(rest), raw)
		}
	})
}
