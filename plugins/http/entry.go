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
	addr    string
	tls     bool // serves HTTPS; every instance on it has a certificate
	headCap int  // request heads the checker reads; beyond, net/http's limit answers 431
	log     *slog.Logger
	srv     *http.Server
	snap    atomic.Pointer[snapshot]
	wg      sync.WaitGroup // one per listener being served

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
	// net/http reads up to 4 KiB past MaxHeaderBytes before it answers 431.
	e := &entry{addr: addr, tls: tlsOn, headCap: lim.maxHeader + 8<<10, log: log, insts: map[string]*instance{}, lns: map[net.Listener]int{}}
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

// ServeHTTP routes a request to its instance, or answers 404. Framing the
// entry refuses never gets here (see framing.go); CONNECT gets 405.
func (e *entry) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodConnect {
		w.Header().Set("Allow", "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS")
		w.Header().Set("Connection", "close") // whatever follows is tunnel bytes, not requests
		writeError(w, http.StatusMethodNotAllowed, "This server is not a forward proxy: CONNECT is not served.", newRequestID())
		return
	}
	if len(r.TransferEncoding) > 0 {
		// The entry's reader does not follow chunked framing, so it cannot
		// check a request pipelined behind this body: none is read.
		w.Header().Set("Connection", "close")
	}
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

// build makes the snapshot for insts. When two routes claim the same host
// and path, the error names the instance already holding the route, not
// joining (the instance being added; "" when removing).
func (e *entry) build(insts map[string]*instance, joining string) (*snapshot, error) {
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
		first, second := rules[ce.First].Value.id, rules[ce.Second].Value.id
		if first == second {
			return nil, fmt.Errorf("http: instance %s names host %s path %s twice", first, ce.Host, ce.Path)
		}
		holder := first
		if holder == joining {
			holder = second
		}
		return nil, fmt.Errorf("http: host %s path %s on %s is already served by instance %s",
			ce.Host, ce.Path, e.addr, holder)
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
		check := checkedListener{Listener: ln, log: e.log, headCap: e.headCap}
		if e.tls {
			hl := newHandshakeListener(ln, e.srv.TLSConfig, e.srv.ReadHeaderTimeout, check)
			err = e.srv.Serve(hl)
			_ = hl.Close()
			hl.wait()
		} else {
			err = e.srv.Serve(check)
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
