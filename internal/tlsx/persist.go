package tlsx

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Files of the certificate Persistent keeps in its directory.
const (
	PersistentCert = "bridge.crt"
	PersistentKey  = "bridge.key"
)

// persistentValidity is long: agents pin the certificate, and a pin does
// not look at dates, but a CA-style check would.
const persistentValidity = 20 * 365 * 24 * time.Hour

// Persistent returns the self-signed certificate kept in dir (bridge.crt
// and bridge.key), making it on first use with 0600 permissions, so its
// fingerprint stays the same across restarts. created reports whether it
// was made now. One of the two files without the other is an error: it is
// never silently replaced.
func Persistent(dir string) (cert tls.Certificate, created bool, err error) {
	crt, key := filepath.Join(dir, PersistentCert), filepath.Join(dir, PersistentKey)
	_, errC := os.Stat(crt)
	_, errK := os.Stat(key)
	switch {
	case errC == nil && errK == nil:
		cert, err = tls.LoadX509KeyPair(crt, key)
		if err != nil {
			return cert, false, fmt.Errorf("load bridge certificate %s and key %s: %w", crt, key, err)
		}
		return cert, false, nil
	case errors.Is(errC, fs.ErrNotExist) && errors.Is(errK, fs.ErrNotExist):
	case errC != nil && !errors.Is(errC, fs.ErrNotExist):
		return cert, false, fmt.Errorf("bridge certificate: %w", errC)
	case errK != nil && !errors.Is(errK, fs.ErrNotExist):
		return cert, false, fmt.Errorf("bridge key: %w", errK)
	default:
		return cert, false, fmt.Errorf("bridge certificate: only one of %s and %s exists; restore the other or remove both to make a new certificate", crt, key)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return cert, false, fmt.Errorf("bridge certificate directory: %w", err)
	}
	cert, err = selfSigned(persistentValidity, nil)
	if err != nil {
		return cert, false, err
	}
	crtPEM, keyPEM, err := EncodePEM(cert)
	if err != nil {
		return cert, false, err
	}
	// The key first: a crash between the two leaves no certificate, and the
	// next start reports the lone key instead of serving a new pair.
	if err := writeFile(key, keyPEM); err != nil {
		return cert, false, err
	}
	if err := writeFile(crt, crtPEM); err != nil {
		return cert, false, err
	}
	return cert, true, nil
}

// EncodePEM returns cert's leaf certificate and its PKCS #8 private key as
// PEM, the format of crt= and key= files.
func EncodePEM(cert tls.Certificate) (crtPEM, keyPEM []byte, err error) {
	keyDER, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		return nil, nil, fmt.Errorf("encode private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), nil
}

// writeFile writes b to path atomically (temp file, fsync, rename) with
// 0600 permissions.
func writeFile(path string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	_, err = f.Write(b)
	if err == nil {
		err = f.Chmod(0o600)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
