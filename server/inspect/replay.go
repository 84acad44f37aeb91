package inspect

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/burrowproject/burrow/plugins/sdk"
)

// A replay sends a recorded request again through its instance: to the
// instance's own listen address, with the recorded Host (so the entry
// routes it exactly as it routed the original), through the proxy and the
// agent to the backend, which sees it a second time. Redacted headers are
// not sent (the result names them); an instance with auth= gets its own
// credentials, which the proxy checks and never sends upstream. The
// request carries sdk.ReplayHeader with a fresh random nonce, which the
// http handler strips before the backend: the record that comes back with
// that nonce is the replay's, marked with the id it replays. A stranger
// cannot forge the mark, since nonces are unguessable and used once.

// Errors of Replay.
var (
	ErrGone          = errors.New("record not in the ring")
	ErrNotReplayable = errors.New("request cannot be replayed")
	ErrBusy          = errors.New("too many replays in progress")
)

const (
	maxReplays    = 4                // replays in flight at once
	replayTimeout = 30 * time.Second // the whole replay, response included
	recordWait    = 5 * time.Second  // how long the replay's own record may take to arrive
	maxReplayRead = 1 << 20          // response bytes read before the replay's connection is closed
)

// hopHeaders are not replayed: they described the original connection.
var hopHeaders = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Te", "Trailer", "Transfer-Encoding", "Upgrade", "Content-Length", sdk.ReplayHeader}

// Target is where an instance's replays go.
type Target struct {
	Listen string // the instance's listen address, host:port (an unspecified host is loopback)
	TLS    bool   // the entry serves HTTPS
	Auth   string // the instance's auth= user:pass, "" when none
}

// ReplayResult is the answer to a replay.
type ReplayResult struct {
	ReplayOf    string   `json:"replay_of"`
	Status      int      `json:"status"`       // the status the replay got
	NotReplayed []string `json:"not_replayed"` // headers of the record left out, redacted there
	Record      *Record  `json:"record"`       // the replay's own record; null if it did not arrive within 5 s
}

// pending is a replay awaiting its record.
type pending struct {
	instance, of string
	ch           chan Record // buffered: Record never blocks on it
}

// Replay sends record rid of instance again through t.
func (s *Set) Replay(ctx context.Context, instance, rid string, t Target) (ReplayResult, error) {
	e := s.find(instance, rid)
	if e == nil {
		return ReplayResult{}, fmt.Errorf("%w: record %s of instance %s is no longer kept (the ring keeps the last %d)", ErrGone, rid, instance, s.cfg.PerInstance)
	}
	ex := e.ex
	if err := replayable(ex); err != nil {
		return ReplayResult{}, err
	}
	select {
	case s.replays <- struct{}{}:
		defer func() { <-s.replays }()
	default:
		return ReplayResult{}, fmt.Errorf("%w (%d at once); try again shortly", ErrBusy, maxReplays)
	}
	req, skipped, err := replayRequest(ctx, ex, t)
	if err != nil {
		return ReplayResult{}, err
	}
	var nb [16]byte
	_, _ = rand.Read(nb[:])
	nonce := hex.EncodeToString(nb[:])
	req.Header.Set(sdk.ReplayHeader, nonce)
	p := &pending{instance: instance, of: ex.ID, ch: make(chan Record, 1)}
	s.mu.Lock()
	s.pending[nonce] = p
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.pending, nonce)
		s.mu.Unlock()
	}()

	res, err := replayClient(t, ex.Host).Do(req)
	if err != nil {
		return ReplayResult{}, fmt.Errorf("replay through %s: %w", t.Listen, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, maxReplayRead))
	_ = res.Body.Close()
	out := ReplayResult{ReplayOf: ex.ID, Status: res.StatusCode, NotReplayed: skipped}
	timer := time.NewTimer(s.cfg.RecordWait)
	defer timer.Stop()
	select {
	case r := <-p.ch:
		out.Record = &r
	case <-timer.C:
	case <-ctx.Done():
	}
	return out, nil
}

// replayable says why ex cannot be sent again, or nil.
func replayable(ex *sdk.Exchange) error {
	switch {
	case ex.Upgrade != "":
		return fmt.Errorf("%w: it switched to %s, a connection rather than a request", ErrNotReplayable, ex.Upgrade)
	case ex.HeadersTruncated:
		return fmt.Errorf("%w: its headers were larger than the %d bytes recorded", ErrNotReplayable, sdk.MaxInspectHeaders)
	case ex.ReqBytes > 0 && !ex.BodiesRecorded:
		return fmt.Errorf("%w: its %d-byte body was not recorded (inspect=1); record bodies with inspect=body", ErrNotReplayable, ex.ReqBytes)
	case ex.ReqTruncated:
		return fmt.Errorf("%w: its body was larger than the %d bytes recorded", ErrNotReplayable, sdk.MaxInspectBody)
	}
	return nil
}

// replayRequest rebuilds ex's request for t; skipped are the redacted
// headers left out.
func replayRequest(ctx context.Context, ex *sdk.Exchange, t Target) (*http.Request, []string, error) {
	scheme := "http"
	if t.TLS {
		scheme = "https"
	}
	var body io.Reader = http.NoBody
	if len(ex.ReqBody) > 0 {
		body = bytes.NewReader(ex.ReqBody)
	}
	req, err := http.NewRequestWithContext(ctx, ex.Method, scheme+"://"+dialAddr(t.Listen)+"/", body)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrNotReplayable, err)
	}
	req.URL.Opaque = ex.Path // sent as recorded, not re-encoded
	if ex.Path == "" || ex.Path[0] != '/' {
		return nil, nil, fmt.Errorf("%w: its target %q is not a path", ErrNotReplayable, ex.Path)
	}
	req.Host = ex.Host
	skipped := []string{}
	for name, vs := range ex.ReqHeader {
		switch {
		case slices.ContainsFunc(hopHeaders, func(h string) bool { return http.CanonicalHeaderKey(h) == http.CanonicalHeaderKey(name) }):
		case sdk.IsRedacted(name):
			skipped = append(skipped, name)
		default:
			req.Header[name] = slices.Clone(vs)
		}
	}
	slices.Sort(skipped)
	if _, ok := req.Header["User-Agent"]; !ok {
		req.Header["User-Agent"] = []string{""} // not Go's
	}
	if t.Auth != "" {
		user, pass, _ := strings.Cut(t.Auth, ":")
		req.SetBasicAuth(user, pass)
	}
	return req, skipped, nil
}

// dialAddr is where the master reaches a listen address: an unspecified
// host (every address) is reached on loopback.
func dialAddr(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
		if ip != nil && ip.To4() == nil {
			host = "::1"
		}
	}
	return net.JoinHostPort(host, port)
}

// replayClient is a one-connection client for a replay. An HTTPS entry's
// certificate is not verified: the master is dialing its own instance's
// listener, and sends the recorded host as SNI so the entry picks the
// instance's certificate.
func replayClient(t Target, host string) *http.Client {
	tr := &http.Transport{
		DisableKeepAlives: true, DisableCompression: true, ForceAttemptHTTP2: false,
		TLSClientConfig:       &tls.Config{ServerName: host, InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}, //nolint:gosec // our own listener, see above
		ResponseHeaderTimeout: replayTimeout, MaxResponseHeaderBytes: 1 << 20,
	}
	return &http.Client{
		Transport: tr, Timeout: replayTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
