package tlsx

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// ClientOptions say how an agent verifies the bridge's certificate: by pin
// when Fingerprint is set, else against Roots (nil: the system roots) for
// ServerName.
type ClientOptions struct {
	ServerName  string         // sent as SNI and verified against the roots
	Fingerprint string         // pins exactly this certificate (hex, colons optional)
	Roots       *x509.CertPool // CA bundle; nil = the system roots
	// Unverified, when set, accepts a certificate that neither a pin nor the
	// roots verify, after calling it with the fingerprint seen (NodePass
	// compatibility, where a pair's tunnel is self-signed and unverified).
	// Nil refuses such a certificate with an *UntrustedError.
	Unverified func(fp string)
}

// UntrustedError is a bridge certificate that no pin, CA bundle or system
// root verifies. Its text gives the fingerprint seen and the fp= to add.
type UntrustedError struct {
	Fingerprint string // lower-case hex
	Err         error  // why verification failed
}

func (e *UntrustedError) Error() string {
	return fmt.Sprintf("bridge certificate is not trusted (self-signed?): sha256 fingerprint %s; add fp=%s to the agent URL to pin it, or ca=FILE (%v)",
		DisplayFingerprint(e.Fingerprint), e.Fingerprint, e.Err)
}

func (e *UntrustedError) Unwrap() error { return e.Err }

// ErrPinMismatch is wrapped when the bridge presents another certificate
// than the pinned one.
var ErrPinMismatch = errors.New("bridge certificate does not match the pin")

// ClientConfig returns a TLS 1.3 client configuration that verifies the
// bridge as o says. Go's own chain check is replaced by VerifyConnection,
// which does the same check against the roots when no pin is set.
func ClientConfig(o ClientOptions) *tls.Config {
	want := NormalizeFingerprint(o.Fingerprint)
	return &tls.Config{
		ServerName:         o.ServerName,
		MinVersion:         tls.VersionTLS13,
		InsecureSkipVerify: true, // verified in VerifyConnection: by pin, else against the roots
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("bridge presented no certificate")
			}
			leaf := cs.PeerCertificates[0]
			got := Fingerprint(leaf.Raw)
			if want != "" {
				if got != want {
					return fmt.Errorf("%w: bridge certificate fingerprint %s does not match fp=%s", ErrPinMismatch, got, want)
				}
				return nil
			}
			err := verifyChain(cs.PeerCertificates, o.Roots, o.ServerName)
			if err == nil {
				return nil
			}
			if o.Unverified != nil {
				o.Unverified(got)
				return nil
			}
			return &UntrustedError{Fingerprint: got, Err: err}
		},
	}
}

func verifyChain(certs []*x509.Certificate, roots *x509.CertPool, name string) error {
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	_, err := certs[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: name})
	return err
}

// LoadCA reads a PEM bundle of CA certificates (ca=FILE).
func LoadCA(file string) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read CA bundle: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("CA bundle %s holds no PEM certificate", file)
	}
	return pool, nil
}
