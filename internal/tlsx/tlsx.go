// Package tlsx builds the TLS configurations Burrow's listeners use: an
// in-memory self-signed certificate (tls=1) or certificate files (tls=2), and
// the SHA-256 fingerprints that let a peer pin a self-signed certificate.
package tlsx

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"fmt"
	"math/big"
	"strings"
	"time"
)

// SelfSigned makes a fresh ECDSA P-256 certificate valid for a year, for
// the given host names (may be empty).
func SelfSigned(hosts ...string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("generate serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "burrow"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     hosts,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("create certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// ServerConfig returns a TLS 1.3 server configuration for mode 1 (self
// signed, generated now) or 2 (crt and key files), and the fingerprint of
// the certificate it serves.
func ServerConfig(mode int, crtFile, keyFile string) (*tls.Config, string, error) {
	var (
		cert tls.Certificate
		err  error
	)
	switch mode {
	case 1:
		cert, err = SelfSigned()
	case 2:
		cert, err = tls.LoadX509KeyPair(crtFile, keyFile)
		if err != nil {
			err = fmt.Errorf("load certificate %s and key %s: %w", crtFile, keyFile, err)
		}
	default:
		return nil, "", fmt.Errorf("tls mode %d has no server certificate", mode)
	}
	if err != nil {
		return nil, "", err
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13}, Fingerprint(cert.Certificate[0]), nil
}

// Fingerprint is the lowercase hex SHA-256 of a DER certificate.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// NormalizeFingerprint lowercases a fingerprint and drops colons.
func NormalizeFingerprint(fp string) string {
	return strings.ToLower(strings.ReplaceAll(fp, ":", ""))
}

// PinnedClientConfig returns a client configuration that accepts exactly the
// certificate with fingerprint fp, or, when fp is empty, any certificate;
// seen is called with the fingerprint the server presented.
func PinnedClientConfig(serverName, fp string, seen func(string)) *tls.Config {
	want := NormalizeFingerprint(fp)
	return &tls.Config{
		ServerName:         serverName,
		MinVersion:         tls.VersionTLS13,
		InsecureSkipVerify: true, // verified below: by pin, or not at all when no pin is set
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return fmt.Errorf("bridge presented no certificate")
			}
			got := Fingerprint(cs.PeerCertificates[0].Raw)
			if seen != nil {
				seen(got)
			}
			if want != "" && got != want {
				return fmt.Errorf("bridge certificate fingerprint %s does not match fp=%s", got, want)
			}
			return nil
		},
	}
}
