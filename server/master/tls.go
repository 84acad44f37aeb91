package master

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/burrowproject/burrow/conf"
	"github.com/burrowproject/burrow/internal/tlsx"
)

// certReload is how often tls=2 certificate files are read again.
const certReload = time.Hour

// serverTLS returns the API's TLS configuration (nil for tls=0): TLS 1.3
// with an in-memory self-signed certificate (tls=1), or the crt/key files
// (tls=2) reloaded hourly. When the files do not load at start the master
// falls back to tls=1, as NodePass does.
func serverTLS(inst *conf.Instance, log *slog.Logger) (*tls.Config, error) {
	switch inst.Params.TLS {
	case conf.TLSOff:
		return nil, nil
	case conf.TLSFiles:
		r := &certReloader{crt: inst.Params.Crt, key: inst.Params.KeyFile, log: log, now: time.Now}
		_, err := r.load()
		if err == nil {
			return &tls.Config{MinVersion: tls.VersionTLS13, GetCertificate: r.get}, nil
		}
		log.Warn("TLS certificate files failed to load, falling back to a self-signed certificate", "error", err)
	}
	cert, err := tlsx.SelfSigned()
	if err != nil {
		return nil, fmt.Errorf("self-signed certificate: %w", err)
	}
	return &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert}}, nil
}

// certReloader serves a certificate pair from files, re-reading them when
// the last read is older than certReload; a failed reload keeps the
// previous certificate.
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
		r.log.Warn("TLS certificate reload failed, keeping the previous one", "error", err)
		r.mu.Lock()
		r.loaded = r.now() // retry at the next period, not on every handshake
		r.mu.Unlock()
		return cert, nil
	}
	return c, nil
}
