package http

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
)

// entry is the server on one listen address, shared by every http instance
// that listens there. Requests are routed through an immutable snapshot of
// the routing table; adding or removing an instance builds a new snapshot
// and swaps it in, so requests of other instances never notice.
type entry struct {
	addr string
	tls  bool // serves HTTPS; every instance on it has a certificate
	log  *slog.Logger
	srv  *http.Server
	snap atomic.Pointer[snapshot]
	wg   sync.WaitGroup // one per listener being served

	// Guarded by the Handler's mutex.
	insts map[string]*instance
	lns   map[net.Listener]int // listener -> instances that got it from the host
}

// snapshot is one version of the entry's routing.
type snapshot struct {
	table    *Table[*instance]
	fallback *instance // TLS: whose certificate clients without a known SNI get
}

func newEntry(addr string, tlsOn bool, lim limits, log *slog.Logger) *entry {
	e := &entry{addr: addr, tls: tlsOn, log: log, insts: map[string]*instance{}, lns: map[net.Listener]int{}}
	e.snap.Store(&snapshot{})
	e.srv = &http.Server{
		Handler:           e,
		ReadHeaderTimeout: lim.readHeader,
		IdleTimeout:       lim.idle,
		MaxHeaderBytes:    lim.maxHeader,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	if tlsOn {
		e.srv.TLSConfig = &tls.Config{
			MinVersion:     tls.VersionTLS12,
			NextProtos:     []string{"h2", "http/1.1"},
			GetCertificate: e.certificate,
		}
	}
	return e
}

// ServeHTTP routes a request to its instance, or answers 404.
func (e *entry) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	in, ok := e.snap.Load().table.Match(r.Host, r.URL.Path)
	if !ok || !in.enter() {
		notFound(w, r.Host)
		return
	}
	defer in.leave()
	in.serve(w, r)
}

// certificate picks the certificate of the instance serving the client's
// SNI name; clients without SNI, or with a name no instance serves, get the
// certificate of the instance with the lowest id (and then a 404).
func (e *entry) certificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	s := e.snap.Load()
	if in, ok := s.table.MatchHost(hello.ServerName); ok && in.cert != nil {
		return in.cert, nil
	}
	if s.fallback != nil {
		return s.fallback.cert, nil
	}
	return nil, fmt.Errorf("no certificate for %q on %s", hello.ServerName, e.addr)
}

// build makes the snapshot for insts, naming both instances when two claim
// the same host and path.
func (e *entry) build(insts map[string]*instance) (*snapshot, error) {
	ids := make([]string, 0, len(insts))
	for id := range insts {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var rules []Rule[*instance]
	s := &snapshot{}
	for _, id := range ids {
		in := insts[id]
		if s.fallback == nil && in.cert != nil {
			s.fallback = in
		}
		for _, h := range in.set.hosts {
			rules = append(rules, Rule[*instance]{Host: h, Path: in.set.path, Value: in})
		}
	}
	t, err := NewTable(rules)
	var ce *ConflictError
	if errors.As(err, &ce) {
		return nil, fmt.Errorf("http: host %s path %s on %s is already served by instance %s",
			ce.Host, ce.Path, e.addr, rules[ce.First].Value.id)
	}
	if err != nil {
		return nil, fmt.Errorf("http: %w", err)
	}
	s.table = t
	return s, nil
}

// serve serves ln until it is closed or the server closes.
func (e *entry) serve(ln net.Listener) {
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		var err error
		if e.tls {
			err = e.srv.ServeTLS(ln, "", "")
		} else {
			err = e.srv.Serve(ln)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			e.log.Warn("http entry stopped serving", "listen", e.addr, "err", err)
		}
	}()
}

// close stops the server: listeners, idle and active client connections
// (upgraded ones belong to their instances and are already gone).
func (e *entry) close() {
	_ = e.srv.Close()
	e.wg.Wait()
}
