package testutil

import (
	"context"
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/burrowproject/burrow/internal/tlsx"
)

// CertFiles writes a fresh self-signed certificate for hosts and its key
// to PEM files in a temporary directory, and returns their paths and the
// certificate's fingerprint.
func CertFiles(t testing.TB, hosts ...string) (crtFile, keyFile, fp string) {
	t.Helper()
	cert, err := tlsx.SelfSigned(hosts...)
	if err != nil {
		t.Fatal(err)
	}
	crtPEM, keyPEM, err := tlsx.EncodePEM(cert)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	crtFile, keyFile = filepath.Join(dir, "crt.pem"), filepath.Join(dir, "key.pem")
	for path, b := range map[string][]byte{crtFile: crtPEM, keyFile: keyPEM} {
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return crtFile, keyFile, tlsx.Fingerprint(cert.Certificate[0])
}

// TLSPair runs TLS over a (client, skipping verification) and b (server,
// with cfg) and returns both ends once their handshakes are done; they
// are closed when the test ends.
func TLSPair(t testing.TB, a, b net.Conn, cfg *tls.Config) (client, server *tls.Conn) {
	t.Helper()
	client = tls.Client(a, &tls.Config{InsecureSkipVerify: true})
	server = tls.Server(b, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- server.HandshakeContext(ctx) }()
	err := client.HandshakeContext(ctx)
	if serr := <-done; err == nil {
		err = serr
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close(); _ = server.Close() })
	return client, server
}
