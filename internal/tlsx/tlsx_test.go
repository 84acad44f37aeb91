package tlsx_test

import (
	"crypto/ecdsa"
	"crypto/fips140"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/burrowproject/burrow/internal/testutil"
	"github.com/burrowproject/burrow/internal/tlsx"
)

func TestMain(m *testing.M) { testutil.VerifyNoLeaks(m) }

func TestSelfSigned(t *testing.T) {
	t.Parallel()
	cert, err := tlsx.SelfSigned("bridge.example", "localhost")
	if err != nil {
		t.Fatal(err)
	}
	x, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if len(x.DNSNames) != 2 || x.DNSNames[0] != "bridge.example" || time.Until(x.NotAfter) < 300*24*time.Hour || time.Now().Before(x.NotBefore) {
		t.Fatalf("certificate %v %v..%v", x.DNSNames, x.NotBefore, x.NotAfter)
	}
	other, _ := tlsx.SelfSigned()
	if tlsx.Fingerprint(other.Certificate[0]) == tlsx.Fingerprint(cert.Certificate[0]) {
		t.Fatal("two self-signed certificates share a fingerprint")
	}
}

func TestFingerprint(t *testing.T) {
	t.Parallel()
	fp := tlsx.Fingerprint([]byte("abc"))
	if fp != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Fatalf("Fingerprint = %s", fp)
	}
	colons := strings.ToUpper(fp[:2] + ":" + fp[2:4] + ":" + fp[4:])
	if tlsx.NormalizeFingerprint(colons) != fp {
		t.Fatalf("NormalizeFingerprint(%q) = %q", colons, tlsx.NormalizeFingerprint(colons))
	}
}

func writePEM(t *testing.T, dir string, cert tls.Certificate) (string, string) {
	t.Helper()
	crt := filepath.Join(dir, "crt.pem")
	key := filepath.Join(dir, "key.pem")
	der, err := x509.MarshalECPrivateKey(cert.PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(crt, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return crt, key
}

func TestServerConfig(t *testing.T) {
	t.Parallel()
	c, fp, err := tlsx.ServerConfig(1, "", "")
	if err != nil || len(c.Certificates) != 1 || fp != tlsx.Fingerprint(c.Certificates[0].Certificate[0]) || c.MinVersion != tls.VersionTLS13 {
		t.Fatalf("mode 1: %v, %q", err, fp)
	}
	cert, _ := tlsx.SelfSigned()
	crt, key := writePEM(t, t.TempDir(), cert)
	c, fp, err = tlsx.ServerConfig(2, crt, key)
	if err != nil || fp != tlsx.Fingerprint(cert.Certificate[0]) || len(c.Certificates) != 1 {
		t.Fatalf("mode 2: %v, %q", err, fp)
	}
	if _, _, err := tlsx.ServerConfig(2, filepath.Join(t.TempDir(), "none.pem"), key); err == nil || !strings.Contains(err.Error(), "none.pem") {
		t.Fatalf("missing crt: %v", err)
	}
	for _, mode := range []int{0, 3, -1} {
		if _, _, err := tlsx.ServerConfig(mode, "", ""); err == nil {
			t.Fatalf("mode %d accepted", mode)
		}
	}
}

// handshake runs a TLS handshake over loopback with server and client
// configurations and returns the client's error.
func handshake(t *testing.T, server, cl *tls.Config) error {
	t.Helper()
	_, err := handshakeState(t, server, cl)
	return err
}

func TestClientConfigPin(t *testing.T) {
	t.Parallel()
	server, fp, err := tlsx.ServerConfig(1, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := handshake(t, server, tlsx.ClientConfig(tlsx.ClientOptions{Fingerprint: fp})); err != nil {
		t.Fatalf("right pin: %v", err)
	}
	upper := strings.ToUpper(fp[:2]) + ":" + fp[2:]
	if err := handshake(t, server, tlsx.ClientConfig(tlsx.ClientOptions{ServerName: "x", Fingerprint: upper})); err != nil {
		t.Fatalf("right pin with colons and upper case: %v", err)
	}
	err = handshake(t, server, tlsx.ClientConfig(tlsx.ClientOptions{Fingerprint: strings.Repeat("0", 64)}))
	if !errors.Is(err, tlsx.ErrPinMismatch) || !strings.Contains(err.Error(), "does not match") {
		t.Fatalf("wrong pin: %v", err)
	}
	// A pin is strict even where an unverified certificate would pass.
	called := false
	err = handshake(t, server, tlsx.ClientConfig(tlsx.ClientOptions{Fingerprint: strings.Repeat("0", 64), Unverified: func(string) { called = true }}))
	if !errors.Is(err, tlsx.ErrPinMismatch) || called {
		t.Fatalf("wrong pin with Unverified: %v, called %v", err, called)
	}
}

// Without a pin a self-signed certificate is refused with its fingerprint
// and the fp= to add, unless Unverified accepts it; a CA bundle that signed
// it verifies it for its name.
func TestClientConfigVerifies(t *testing.T) {
	t.Parallel()
	server, fp, err := tlsx.ServerConfig(1, "", "")
	if err != nil {
		t.Fatal(err)
	}
	err = handshake(t, server, tlsx.ClientConfig(tlsx.ClientOptions{ServerName: "localhost"}))
	var ue *tlsx.UntrustedError
	if !errors.As(err, &ue) || ue.Fingerprint != fp {
		t.Fatalf("self-signed without pin: %v", err)
	}
	for _, want := range []string{"not trusted", "add fp=" + fp + " ", tlsx.DisplayFingerprint(fp), "ca=FILE"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal %q lacks %q", err, want)
		}
	}
	var seen string
	if err := handshake(t, server, tlsx.ClientConfig(tlsx.ClientOptions{Unverified: func(s string) { seen = s }})); err != nil || seen != fp {
		t.Fatalf("unverified allowed: %v, seen %q", err, seen)
	}

	ca, err := tlsx.SelfSigned("bridge.test")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	crt, key := writePEM(t, dir, ca)
	pool, err := tlsx.LoadCA(crt)
	if err != nil {
		t.Fatal(err)
	}
	named, _, err := tlsx.ServerConfig(2, crt, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := handshake(t, named, tlsx.ClientConfig(tlsx.ClientOptions{ServerName: "bridge.test", Roots: pool})); err != nil {
		t.Fatalf("CA bundle, right name: %v", err)
	}
	if err := handshake(t, named, tlsx.ClientConfig(tlsx.ClientOptions{ServerName: "other.test", Roots: pool})); !errors.As(err, &ue) {
		t.Fatalf("CA bundle, wrong name: %v", err)
	}
	if _, err := tlsx.LoadCA(key); err == nil {
		t.Fatal("a key file loaded as a CA bundle")
	}
	if _, err := tlsx.LoadCA(filepath.Join(dir, "none.pem")); err == nil {
		t.Fatal("a missing CA bundle loaded")
	}
}

func TestDisplayFingerprint(t *testing.T) {
	t.Parallel()
	if got := tlsx.DisplayFingerprint("ab01cd"); got != "AB:01:CD" {
		t.Fatalf("DisplayFingerprint = %q", got)
	}
}

// The persistent certificate is made once with 0600 files and loaded with
// the same fingerprint after; a lone file is an error, never replaced.
func TestPersistent(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	first, created, err := tlsx.Persistent(dir)
	if err != nil || !created {
		t.Fatalf("first: created %v, %v", created, err)
	}
	for _, name := range []string{tlsx.PersistentCert, tlsx.PersistentKey} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v, mode %v", name, err, st.Mode())
		}
	}
	again, created, err := tlsx.Persistent(dir)
	if err != nil || created || tlsx.Fingerprint(again.Certificate[0]) != tlsx.Fingerprint(first.Certificate[0]) {
		t.Fatalf("second: created %v, %v, same %v", created, err, tlsx.Fingerprint(again.Certificate[0]) == tlsx.Fingerprint(first.Certificate[0]))
	}
	if err := os.Remove(filepath.Join(dir, tlsx.PersistentCert)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := tlsx.Persistent(dir); err == nil || !strings.Contains(err.Error(), "only one of") {
		t.Fatalf("lone key: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, tlsx.PersistentCert)); err == nil {
		t.Fatal("a lone key was completed with a new certificate")
	}
}

// ResumedOnly resumes the sessions its configuration's cache holds, with
// X25519 alone and the pin still checked, and refuses a handshake that
// does not resume with ErrNotResumed.
func TestResumedOnly(t *testing.T) {
	t.Parallel()
	server, fp, err := tlsx.ServerConfig(1, "", "")
	if err != nil {
		t.Fatal(err)
	}
	full := tlsx.ClientConfig(tlsx.ClientOptions{ServerName: "bridge", Fingerprint: fp})
	full.ClientSessionCache = tls.NewLRUClientSessionCache(1)
	resumed := tlsx.ResumedOnly(full)
	if err := handshake(t, server, resumed); !errors.Is(err, tlsx.ErrNotResumed) {
		t.Fatalf("no session to resume: %v, want ErrNotResumed", err)
	}
	if _, err := handshakeState(t, server, full); err != nil { // a ticket for the cache
		t.Fatal(err)
	}
	want := tls.X25519
	if fips140.Enabled() {
		want = tls.CurveP256
	}
	cs, err := handshakeState(t, server, resumed)
	if err != nil || !cs.DidResume || cs.CurveID != want {
		t.Fatalf("resumed: %v, resumed %v, key exchange %v", err, cs.DidResume, cs.CurveID)
	}
	other, _, err := tlsx.ServerConfig(1, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := handshake(t, other, resumed); !errors.Is(err, tlsx.ErrNotResumed) {
		t.Fatalf("another server: %v, want ErrNotResumed", err)
	}
	if full.CurvePreferences != nil {
		t.Fatal("ResumedOnly changed the configuration it copies")
	}
}

// handshakeState runs a handshake like handshake, waits for the server's
// one byte (after its session tickets) and returns the client's state.
func handshakeState(t *testing.T, server, cl *tls.Config) (tls.ConnectionState, error) {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", server)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		_, _ = c.Write([]byte{1})
		_, _ = c.Read(make([]byte, 1))
		_ = c.Close()
	}()
	defer func() { <-done }()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", ln.Addr().String(), cl)
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err != nil {
		return tls.ConnectionState{}, err
	}
	return c.ConnectionState(), nil
}
