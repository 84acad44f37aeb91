package http

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestCheckHead(t *testing.T) {
	t.Parallel()
	cases := []struct {
		head string
		want framing
		err  string // "" = accepted
	}{
		{head: "GET / HTTP/1.1\r\nHost: a\r\n\r\n"},
		{head: "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\n\r\n", want: framing{length: 12}},
		{head: "POST /x HTTP/1.1\r\nHost: a\r\ncontent-length:  0 \r\n\r\n"},
		{head: "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n", want: framing{chunked: true}},
		{head: "GET http://A.test:80/x HTTP/1.1\r\nHost: a.test\r\n\r\n"},
		{head: "GET http://a.test/x HTTP/1.0\r\n\r\n"},
		{head: "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"},
		{head: "CONNECT a.test:443 HTTP/1.1\r\nHost: a.test:443\r\n\r\n"},
		{head: "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", err: "both"},
		{head: "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", err: "both"},
		{head: "POST /x HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", err: "HTTP/1.0"},
		{head: "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", err: "unsupported"},
		{head: "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", err: "unsupported"},
		{head: "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \x0bchunked\r\n\r\n", err: "malformed header"},
		{head: "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunKed\u212a\r\n\r\n", err: "unsupported"},
		{head: "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", err: "repeated Content-Length"},
		{head: "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n", err: "invalid Content-Length"},
		{head: "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n", err: "invalid Content-Length"},
		{head: "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", err: "invalid Content-Length"},
		{head: "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n", err: "invalid Content-Length"},
		{head: "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n", err: "invalid Content-Length"},
		{head: "GET / HTTP/1.1\nHost: a\r\n\r\n", err: "bare LF"},
		{head: "GET / HTTP/1.1\r\nHost: a\r\n\n", err: "bare LF"},
		{head: "GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n", err: "bare CR"},
		{head: "GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n 2\r\n\r\n", err: "folding"},
		{head: "GET / HTTP/1.1\r\n\tHost: a\r\n\r\n", err: "folding"},
		{head: "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", err: "repeated Host"},
		{head: "GET http://b.test/x HTTP/1.1\r\nHost: a.test\r\n\r\n", err: "absolute-form"},
		{head: "GET http:///x HTTP/1.1\r\nHost: a.test\r\n\r\n", err: "absolute-form"},
		{head: "GET /\r\n\r\n", err: "request line"},
		{head: "GET / HTTP/9\r\n\r\n", err: "request line"},
		{head: "GET / HTTP/1.1\r\nTransfer-Encoding : chunked\r\n\r\n", err: "invalid header name"},
	}
	for _, c := range cases {
		got, err := checkHead([]byte(c.head), nil)
		switch {
		case c.err == "" && (err != nil || got != c.want):
			t.Errorf("%q: %+v, %v; want %+v", c.head, got, err, c.want)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%q: %+v, %v; want an error saying %q", c.head, got, err, c.err)
		}
	}
}

// rawExchange sends payload to addr and returns what came back until the
// server closed the connection (or 3s passed).
func rawExchange(t *testing.T, addr, payload string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := io.WriteString(c, payload); err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(c)
	return string(b)
}

// echoServer serves h on a loopback listener, through the checker when
// checked is set; it answers every request with its method, URI and body.
func echoServer(t *testing.T, checked bool) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if checked && len(r.TransferEncoding) > 0 {
			w.Header().Set("Connection", "close") // as the entry does
		}
		_, _ = fmt.Fprintf(w, "%s %s %q|", r.Method, r.RequestURI, body)
	}), MaxHeaderBytes: 1 << 10, ReadHeaderTimeout: 3 * time.Second}
	var l net.Listener = ln
	if checked {
		l = checkedListener{Listener: ln, log: slog.New(slog.DiscardHandler), headCap: 1<<10 + 8<<10}
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close(); <-done })
	return ln.Addr().String()
}

// TestNetHTTPFraming records what net/http alone accepts and silently
// normalises, which is what the checker exists for; if net/http starts
// refusing one of these, the checker's doc comment needs updating.
func TestNetHTTPFraming(t *testing.T) {
	t.Parallel()
	addr := echoServer(t, false)
	cases := []struct{ name, payload, got string }{
		{"CL and TE: TE wins, connection kept", "POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", `GET /b ""|`},
		{"equal Content-Length twice", "POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi", `POST /a "hi"|`},
		{"TE in HTTP/1.0 ignored: the body is the next request", "POST /a HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\nGET /b HTTP/1.0\r\n\r\n", `GET /b ""|`},
		{"bare LF", "GET /a HTTP/1.1\nHost: a\nConnection: close\n\n", `GET /a ""|`},
		{"absolute-form routes by the URI", "GET http://b/a HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", `GET http://b/a ""|`},
		{"TE it does not know: 501", "POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: cow\r\n\r\n", "501 Not Implemented"},
		{"different Content-Lengths: 400", "POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", "400 Bad Request"},
	}
	for _, c := range cases {
		if got := rawExchange(t, addr, c.payload); !strings.Contains(got, c.got) {
			t.Errorf("%s: got %q, want it to contain %q", c.name, got, c.got)
		}
	}
}

// TestCheckedConnection: through the checker, pipelined requests with
// bodies keep their boundaries, a head written a byte at a time is
// checked whole, a bad head is a 400 and the end of the connection, an
// oversize head still gets net/http's 431, and nothing pipelined behind a
// chunked body is read.
func TestCheckedConnection(t *testing.T) {
	t.Parallel()
	addr := echoServer(t, true)
	got := rawExchange(t, addr, "POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\n\r\nGET /xPOST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\nGET /c HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
	if !strings.Contains(got, `POST /a "GET /x"|`) || !strings.Contains(got, `POST /b ""|`) || !strings.Contains(got, `GET /c ""|`) {
		t.Errorf("pipelined requests: %q", got)
	}

	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	for _, b := range []byte("GET /slow HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nX") {
		if _, err := c.Write([]byte{b}); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := io.ReadAll(c)
	c.Close()
	if resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(b)), nil); err != nil || resp.StatusCode != 400 ||
		!resp.Close || resp.Header.Get("X-Request-Id") == "" {
		t.Errorf("a bad head written a byte at a time: %q", b)
	}

	got = rawExchange(t, addr, "GET /ok HTTP/1.1\r\nHost: a\r\n\r\nGET /bad HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\nGET /never HTTP/1.1\r\nHost: a\r\n\r\n")
	if !strings.Contains(got, `GET /ok ""|`) || !strings.Contains(got, "400 Bad Request") || strings.Contains(got, "never") {
		t.Errorf("good head, then a bad one: %q", got)
	}

	got = rawExchange(t, addr, "GET /big HTTP/1.1\r\nHost: a\r\nX-Big: "+strings.Repeat("b", 16<<10)+"\r\n\r\n")
	if !strings.HasPrefix(got, "HTTP/1.1 431") {
		t.Errorf("oversize head: %.80q", got)
	}

	got = rawExchange(t, addr, "POST /chunked HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\nGET /never HTTP/1.1\r\nHost: a\r\n\r\n")
	if !strings.Contains(got, `POST /chunked "hi"|`) || strings.Contains(got, "never") {
		t.Errorf("request pipelined behind a chunked body: %q", got)
	}
}

// FuzzCheckHead: a head the checker accepts is one net/http reads the same
// way: the same body framing, the same host.
func FuzzCheckHead(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\n\r\n",
		"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
		"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
		"POST /x HTTP/1.0\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n",
		"GET http://a.test/x HTTP/1.1\r\nHost: a.test\r\n\r\n",
		"GET http://b.test/x HTTP/1.1\r\nHost: a.test\r\n\r\n",
		"GET / HTTP/1.1\nHost: a\n\n",
		"GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n 2\r\n\r\n",
		"CONNECT a:1 HTTP/1.1\r\nHost: a:1\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, head []byte) {
		fr, err := checkHead(head, nil)
		if err != nil {
			return
		}
		r, rerr := http.ReadRequest(bufio.NewReader(bytes.NewReader(head)))
		if rerr != nil {
			return // net/http refuses it on its own
		}
		want := fr.length
		if fr.chunked {
			want = -1
		}
		if r.ContentLength != want || fr.chunked != (len(r.TransferEncoding) > 0) {
			t.Fatalf("%q: checker framing %+v, net/http ContentLength %d TransferEncoding %v", head, fr, r.ContentLength, r.TransferEncoding)
		}
		if host := r.Header.Get("Host"); r.URL.IsAbs() && host != "" && NormalizeHost(r.Host) != NormalizeHost(host) {
			t.Fatalf("%q: accepted, but net/http routes by %q with Host %q", head, r.Host, host)
		}
	})
}

// BenchmarkCheckHead: the checker's cost per request head (a browser's
// GET, about 500 bytes), beside net/http's own parse of the same head.
func BenchmarkCheckHead(b *testing.B) {
	head := []byte("GET /index.html?q=1 HTTP/1.1\r\nHost: app.example.com\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:130.0) Gecko/20100101 Firefox/130.0\r\n" +
		"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\nAccept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate, br\r\n" +
		"Connection: keep-alive\r\nCookie: session=0123456789abcdef0123456789abcdef; theme=dark\r\nUpgrade-Insecure-Requests: 1\r\nSec-Fetch-Dest: document\r\n" +
		"Sec-Fetch-Mode: navigate\r\nSec-Fetch-Site: none\r\nPriority: u=0, i\r\n\r\n")
	b.Run("checkHead", func(b *testing.B) {
		b.ReportAllocs()
		var sc scratch
		for b.Loop() {
			if _, err := checkHead(head, &sc); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("net/http ReadRequest", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(head))); err != nil {
				b.Fatal(err)
			}
		}
	})
}
