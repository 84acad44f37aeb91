package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/burrowproject/burrow/bridge"
	"github.com/burrowproject/burrow/conf"
	"github.com/burrowproject/burrow/internal/tlsx"
	"github.com/burrowproject/burrow/server/runtime"
)

// The master's long-lived parts with a lifecycle of their own: each owns
// what it serves, Start serves it in a goroutine it owns, Stop ends it and
// waits for that goroutine.

// bridgeService serves the shared bridge agents dial, on the sockets its
// carrier needs (runtime.ListenBridge).
type bridgeService struct {
	srv *bridge.Server
	ln  *runtime.BridgeListener
}

func (b *bridgeService) Start() { b.ln.Start() }

// Stop ends the bridge and every agent session on it.
func (b *bridgeService) Stop() {
	b.ln.Stop()
	_ = b.srv.Close()
}

// httpShutdownTimeout bounds the API server's drain.
const httpShutdownTimeout = 5 * time.Second

// apiService serves the admin API over HTTP or HTTPS.
type apiService struct {
	srv  *http.Server
	ln   net.Listener // plain; wrapped in TLS when srv.TLSConfig is set
	errc chan error   // Serve's result
	log  *slog.Logger
}

func newAPIService(ln net.Listener, h http.Handler, tc *tls.Config, log *slog.Logger) *apiService {
	return &apiService{ln: ln, log: log, errc: make(chan error, 1), srv: &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		TLSConfig:         tc,
	}}
}

func (a *apiService) Start() {
	ln := a.ln
	if a.srv.TLSConfig != nil {
		ln = tls.NewListener(ln, a.srv.TLSConfig)
	}
	go func() { a.errc <- a.srv.Serve(ln) }()
}

// Failed is told why serving stopped before Stop.
func (a *apiService) Failed() <-chan error { return a.errc }

// Stop drains the server (SSE streams must have been ended first) and
// returns Serve's error, if it was not the expected one.
func (a *apiService) Stop(serving bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), httpShutdownTimeout)
	defer cancel()
	if err := a.srv.Shutdown(ctx); err != nil {
		_ = a.srv.Close()
		a.log.Warn("HTTP server shutdown", "err", err)
	}
	if !serving {
		return nil
	}
	if err := <-a.errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("master: serve: %w", err)
	}
	return nil
}

// apiTLS returns the admin API's TLS, what tls= means on a master (nil for
// tls=0), and the fingerprint of the certificate it serves: with tls=1 the
// data directory's certificate (the one the bridge serves: kept across
// restarts, so a client that pins it keeps working, and one fingerprint
// for the operator to check), with tls=2 the crt= and key= files,
// reloaded hourly. Files that do not load are an error: the API never
// falls back to a certificate its clients were not told about.
func apiTLS(p conf.Params, dataCert func() (*tls.Certificate, error), log *slog.Logger) (*tls.Config, string, error) {
	switch p.TLS {
	case conf.TLSOff:
		return nil, "", nil
	case conf.TLSFiles:
		tc, err := tlsx.Reloading(p.Crt, p.KeyFile, log)
		if err != nil {
			return nil, "", fmt.Errorf("tls=2 (the admin API's certificate): %w", err)
		}
		cert, err := tc.GetCertificate(nil)
		if err != nil {
			return nil, "", fmt.Errorf("tls=2 (the admin API's certificate): %w", err)
		}
		return tc, tlsx.Fingerprint(cert.Certificate[0]), nil
	}
	cert, err := dataCert()
	if err != nil {
		return nil, "", fmt.Errorf("tls=1 (the admin API's certificate): %w", err)
	}
	return &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{*cert}}, tlsx.Fingerprint(cert.Certificate[0]), nil
}
