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
		a.log.Warn("HTTP server shutdown", "error", err)
	}
	if !serving {
		return nil
	}
	if err := <-a.errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("master: serve: %w", err)
	}
	return nil
}

// apiTLS returns the API's TLS configuration (nil for tls=0): TLS 1.3 with
// an in-memory self-signed certificate (tls=1), or the crt/key files
// (tls=2) reloaded hourly. When the files do not load at start the master
// falls back to tls=1, as NodePass does.
func apiTLS(inst *conf.Instance, log *slog.Logger) (*tls.Config, error) {
	switch inst.Params.TLS {
	case conf.TLSOff:
		return nil, nil
	case conf.TLSFiles:
		tc, err := tlsx.Reloading(inst.Params.Crt, inst.Params.KeyFile, log)
		if err == nil {
			return tc, nil
		}
		log.Warn("TLS certificate files failed to load, falling back to a self-signed certificate", "error", err)
	}
	cert, err := tlsx.SelfSigned()
	if err != nil {
		return nil, fmt.Errorf("self-signed certificate: %w", err)
	}
	return &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert}}, nil
}
