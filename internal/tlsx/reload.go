package tlsx

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// certReload is how often Reloading reads its files again.
const certReload = time.Hour

// Reloading returns a TLS 1.3 server configuration serving the crt and
// key files, read again when the last read is an hour old; a failed reload
// keeps the previous certificate (and says so in log). It fails when the
// files do not load now.
func Reloading(crt, key string, log *slog.Logger) (*tls.Config, error) {
	r := &certReloader{crt: crt, key: key, log: log, now: time.Now}
	if _, err := r.load(); err != nil {
		return nil, err
	}
	return &tls.Config{MinVersion: tls.VersionTLS13, GetCertificate: r.get}, nil
}

// certReloader serves a certificate pair from files, re-reading them when
// the last read is older than certReload.
type certReloader struct {
	crt, key string
	log      *slog.Logger
	now      func() time.Time

	mu     sync.Mutex
	cert   *tls.Certificate
	loaded time.Time
}

func (r *certReloader) load() (*tls.Certificate, error) {
	c, err := tls.LoadX509KeyPair(r.crt, r.key)
	if err != nil {
		return nil, fmt.Errorf("load %s and %s: %w", r.crt, r.key, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cert, r.loaded = &c, r.now()
	return &c, nil
}

func (r *certReloader) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	cert, stale := r.cert, r.now().Sub(r.loaded) > certReload
	r.mu.Unlock()
	if !stale {
		return cert, nil
	}
	c, err := r.load()
	if err != nil {
		r.log.Warn("TLS certificate reload failed, keeping the previous one", "err", err)
		r.mu.Lock()
		r.loaded = r.now() // retry at the next period, not on every handshake
		r.mu.Unlock()
		return cert, nil
	}
	return c, nil
}
