// Package tlsx builds the TLS configurations Burrow uses: for listeners an
// in-memory self-signed certificate (tls=1), one kept in a directory across
// restarts (the master's bridge and, at tls=1, its admin API) or
// certificate files (tls=2); for agents a
// client configuration that verifies the bridge by pin, CA bundle or the
// system roots; and the SHA-256 fingerprints that let a peer pin a
// self-signed certificate.
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
	return selfSigned(365*24*time.Hour, hosts)
}

func selfSigned(valid time.Duration, hosts []string) (tls.Certificate, error) {
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
		NotAfter:     time.Now().Add(valid),
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
	c, fp := ServerConfigFor(cert)
	return c, fp, nil
}

// ServerConfigFor returns a TLS 1.3 server configuration serving cert, and
// cert's fingerprint.
func ServerConfigFor(cert tls.Certificate) (*tls.Config, string) {
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13}, Fingerprint(cert.Certificate[0])
}

// Fingerprint is the lowercase hex SHA-256 of a DER certificate.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// DisplayFingerprint is fp in upper-case hex pairs joined by colons, the
// form certificate tools show.
func DisplayFingerprint(fp string) string {
	fp = strings.ToUpper(NormalizeFingerprint(fp))
	var b strings.Builder
	for i := 0; i+2 <= len(fp); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(fp[i : i+2])
	}
	return b.String()
}

// NormalizeFingerprint lowercases a fingerprint and drops colons.
func NormalizeFingerprint(fp string) string {
	return strings.ToLower(strings.ReplaceAll(fp, ":", ""))
}
