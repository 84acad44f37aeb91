package http

import (
	"crypto/tls"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/burrowproject/burrow/internal/testutil"
)

// TestHTTPS serves two HTTPS instances with their own certificates on one
// entry (chosen by SNI, HTTP/2 to clients) and a plain entry redirecting
// to it.
func TestHTTPS(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.agent("k")
	a, b := newBackend(t, whoami("A")), newBackend(t, whoami("B"))
	crt, key := writeCert(t, "files.example.com")
	secure := e.listen()
	e.start("self", secure, "k", []string{a.addr}, map[string]string{"host": "self.example.com", "tls": "1"})
	e.start("files", secure, "k", []string{b.addr}, map[string]string{"host": "files.example.com", "crt": crt, "key": key})

	for host, want := range map[string]string{"self.example.com": "A", "files.example.com": "B"} {
		conn, err := tls.Dial("tcp", secure, &tls.Config{ServerName: host, InsecureSkipVerify: true, NextProtos: []string{"h2", "http/1.1"}})
		if err != nil {
			t.Fatalf("TLS to %s: %v", host, err)
		}
		st := conn.ConnectionState()
		conn.Close()
		if names := st.PeerCertificates[0].DNSNames; len(names) != 1 || names[0] != host {
			t.Errorf("SNI %s got a certificate for %v", host, names)
		}
		if st.NegotiatedProtocol != "h2" {
			t.Errorf("SNI %s negotiated %q, want h2", host, st.NegotiatedProtocol)
		}
		c := userClient(t, secure)
		res, err := c.Get("https://" + host + "/p")
		if err != nil {
			t.Fatal(err)
		}
		body := readAll(t, res.Body)
		if res.ProtoMajor != 2 || !strings.HasPrefix(body, want+" /p host="+host) || !strings.Contains(body, "xfp=https") {
			t.Errorf("https://%s: HTTP/%d %q", host, res.ProtoMajor, body)
		}
	}
	// HTTP/1.1 over TLS: Request.TLS is set (X-Forwarded-Proto https), and
	// request heads are checked as on a plain entry.
	h1 := func(payload string) string {
		t.Helper()
		conn, err := tls.Dial("tcp", secure, &tls.Config{ServerName: "self.example.com", InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(conn, payload); err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(conn)
		return string(b)
	}
	if got := h1("GET /h1 HTTP/1.1\r\nHost: self.example.com\r\nConnection: close\r\n\r\n"); !strings.Contains(got, "A /h1 host=self.example.com") || !strings.Contains(got, "xfp=https") {
		t.Errorf("HTTP/1.1 over TLS: %q", got)
	}
	if got := h1("POST /h1 HTTP/1.1\r\nHost: self.example.com\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /never HTTP/1.1\r\nHost: self.example.com\r\n\r\n"); !strings.HasPrefix(got, "HTTP/1.1 400 ") || strings.Contains(got, "never") {
		t.Errorf("CL.TE over TLS: %q", got)
	}
	// No SNI: the lowest instance id's certificate, then 404 for an unknown host.
	conn, err := tls.Dial("tcp", secure, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("TLS without SNI: %v", err)
	}
	if names := conn.ConnectionState().PeerCertificates[0].DNSNames; names[0] != "files.example.com" {
		t.Errorf("no SNI got a certificate for %v", names)
	}
	conn.Close()

	plain := e.listen()
	e.start("redir", plain, "k", []string{a.addr}, map[string]string{"host": "self.example.com", "redirect": "https:8443"})
	c := userClient(t, plain)
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	status, _, hdr := get(t, c, "self.example.com:80", "/a/b?c=d")
	if status != 308 || hdr.Get("Location") != "https://self.example.com:8443/a/b?c=d" {
		t.Errorf("redirect: %d %q", status, hdr.Get("Location"))
	}
}

func TestHTTPSBadCertificate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, err := e.tryStart("bad", e.listen(), "k", nil, map[string]string{"host": "x.test", "crt": "/nonexistent.pem", "key": "/nonexistent.key"})
	if err == nil || !strings.Contains(err.Error(), "/nonexistent.pem") {
		t.Errorf("missing certificate files: %v", err)
	}
}

// writeCert writes a self-signed certificate for host to PEM files.
func writeCert(t *testing.T, host string) (crtFile, keyFile string) {
	t.Helper()
	crtFile, keyFile, _ = testutil.CertFiles(t, host)
	return crtFile, keyFile
}

func readAll(t *testing.T, r io.ReadCloser) string {
	t.Helper()
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
