// Package socks5 is an example Burrow handler written against the public
// plugin SDK only: a SOCKS5 server (RFC 1928, CONNECT only, with optional
// RFC 1929 username/password auth) whose connections go through the
// tunnel to the requested target, if the target matches one of the
// instance's target patterns.
//
// Parameters:
//
//	auth=user:pass   require this username and password (compared in constant time)
//	handoff=true     reply success at once and hand the connection to the host
//	                 (fastest: the host copies and counts it); by default the
//	                 handler waits for the agent's verdict so that a client is
//	                 told "refused" or "unreachable" truthfully, then copies
//	                 through a Dial link with splice
package socks5

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/burrowproject/burrow/plugins/sdk"
)

// Version is the handler's version.
const Version = "0.1.0"

// handshakeTimeout bounds the SOCKS negotiation of one connection.
const handshakeTimeout = 10 * time.Second

// SOCKS5 constants.
const (
	ver5          = 0x05
	methodNone    = 0x00
	methodUser    = 0x02
	methodNoneAcc = 0xff
	cmdConnect    = 0x01
	atypIPv4      = 0x01
	atypDomain    = 0x03
	atypIPv6      = 0x04

	repOK           = 0x00
	repFailure      = 0x01
	repNotAllowed   = 0x02
	repHostUnreach  = 0x04
	repRefused      = 0x05
	repCmdNotSupp   = 0x07
	repAtypNotSupp  = 0x08
	authVersion     = 0x01
	authOK, authBad = 0x00, 0x01
)

// Handler serves SOCKS5 instances. Build it with New.
type Handler struct {
	runs sdk.Runs
}

// New returns a SOCKS5 handler.
func New() *Handler { return &Handler{} }

// Describe implements sdk.Handler.
func (*Handler) Describe(context.Context) (sdk.Descriptor, error) {
	return sdk.Descriptor{
		Name: "socks5", Version: Version, SDKVersion: sdk.Version, Schemes: []string{"socks5"},
		Capabilities: []string{sdk.CapHandoff, sdk.CapDial, sdk.CapNeedsListener},
		Params: []sdk.Param{
			{Name: "auth", Type: "string", Help: "user:pass required from clients (RFC 1929)"},
			{Name: "handoff", Type: "bool", Default: "false", Help: "reply before the link is open and hand the connection to the host"},
		},
	}, nil
}

// config is an instance's parsed parameters.
type config struct {
	patterns []pattern
	user     [32]byte // sha256 of the user name, when auth is on
	pass     [32]byte
	auth     bool
	handoff  bool
}

func parse(spec sdk.InstanceSpec) (config, error) {
	var c config
	if spec.Listen == "" {
		return c, errors.New("socks5: a listen address is required")
	}
	var err error
	if c.patterns, err = parsePatterns(spec.Targets); err != nil {
		return c, err
	}
	if a, ok := spec.Params["auth"]; ok {
		user, pass, found := strings.Cut(a, ":")
		if !found || user == "" || len(user) > 255 || len(pass) > 255 {
			return c, errors.New("socks5: auth must be user:pass (each at most 255 bytes)")
		}
		c.auth, c.user, c.pass = true, sha256.Sum256([]byte(user)), sha256.Sum256([]byte(pass))
	}
	if v, ok := spec.Params["handoff"]; ok {
		if c.handoff, err = strconv.ParseBool(v); err != nil {
			return c, fmt.Errorf("socks5: handoff=%q is not a boolean", v)
		}
	}
	return c, nil
}

// Validate implements sdk.Handler.
func (*Handler) Validate(_ context.Context, spec sdk.InstanceSpec) error {
	_, err := parse(spec)
	return err
}

// Start implements sdk.Handler.
func (h *Handler) Start(ctx context.Context, spec sdk.InstanceSpec, host sdk.Host) error {
	cfg, err := parse(spec)
	if err != nil {
		return err
	}
	ln, err := host.Listener(ctx, spec.ID)
	if err != nil {
		return fmt.Errorf("socks5 instance %s: %w", spec.ID, err)
	}
	s := &server{id: spec.ID, cfg: cfg, host: host, log: host.Logger(spec.ID), conns: make(map[net.Conn]struct{})}
	return h.runs.Go(spec.ID, func(ctx context.Context) { s.serve(ctx, ln) })
}

// Stop implements sdk.Handler.
func (h *Handler) Stop(ctx context.Context, id string) error { return h.runs.Stop(ctx, id) }

// server is one running instance.
type server struct {
	id   string
	cfg  config
	host sdk.Host
	log  *slog.Logger

	mu    sync.Mutex
	conns map[net.Conn]struct{} // connections the handler still owns
	wg    sync.WaitGroup
}

func (s *server) serve(ctx context.Context, ln net.Listener) {
	stop := context.AfterFunc(ctx, func() {
		_ = ln.Close()
		s.mu.Lock()
		for c := range s.conns {
			_ = c.Close()
		}
		s.mu.Unlock()
	})
	defer stop()
	defer s.wg.Wait()
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.log.Warn("accept failed", "err", err)
			select {
			case <-time.After(delay):
				continue
			case <-ctx.Done():
				return
			}
		}
		delay = 0
		if !s.track(c, ctx) {
			_ = c.Close()
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer s.untrack(c)
			s.handle(ctx, c)
		}()
	}
}

func (s *server) track(c net.Conn, ctx context.Context) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ctx.Err() != nil {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *server) untrack(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// handle negotiates SOCKS5 on c and connects it through the tunnel. It
// reads c directly (no bufio), so no byte of the stream is left behind in
// a buffer when the connection is handed off or spliced.
func (s *server) handle(ctx context.Context, c net.Conn) {
	client := c.RemoteAddr().String()
	_ = c.SetDeadline(time.Now().Add(handshakeTimeout))
	host, port, err := s.negotiate(c)
	if err != nil {
		s.log.Debug("socks5 negotiation failed", "client", client, "err", err)
		_ = c.Close()
		return
	}
	target := net.JoinHostPort(host, strconv.Itoa(int(port)))
	if !allowed(s.cfg.patterns, host, port) {
		s.log.Info("socks5 target not allowed", "client", client, "target", target)
		_ = reply(c, repNotAllowed)
		_ = c.Close()
		return
	}
	_ = c.SetDeadline(time.Time{})
	req := sdk.LinkRequest{Instance: s.id, Network: "tcp", Target: target,
		Meta: map[string]string{sdk.MetaClientAddr: client}}
	if s.cfg.handoff {
		if err := reply(c, repOK); err != nil {
			_ = c.Close()
			return
		}
		// The handler must not touch c again; the host owns it now.
		s.untrack(c)
		if err := s.host.Handoff(ctx, c, req, nil, sdk.HandoffOptions{}); err != nil {
			s.log.Debug("handoff failed", "target", target, "err", err)
		}
		return
	}
	link, err := s.host.Dial(ctx, req)
	if err != nil {
		s.log.Info("socks5 link failed", "target", target, "err", err)
		_ = reply(c, replyFor(err))
		_ = c.Close()
		return
	}
	if err := reply(c, repOK); err != nil {
		_ = c.Close()
		_ = link.Close()
		return
	}
	pipe(c, link)
}

// pipe copies both ways with plain io.Copy between the raw connections, so
// the kernel splices, and half-closes so protocols that shut down one
// direction keep working.
func pipe(a, b net.Conn) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(b, a)
		closeWrite(b)
	}()
	_, _ = io.Copy(a, b)
	closeWrite(a)
	<-done
	_ = a.Close()
	_ = b.Close()
}

func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
		return
	}
	_ = c.Close()
}

// replyFor maps a link error to a SOCKS5 reply code.
func replyFor(err error) byte {
	var le *sdk.LinkError
	if errors.As(err, &le) {
		r := strings.ToLower(le.Reason)
		switch {
		case errors.Is(err, sdk.ErrTargetNotAllowed):
			return repNotAllowed
		case strings.Contains(r, "refused"):
			return repRefused
		case strings.Contains(r, "no route") || strings.Contains(r, "unreachable") || strings.Contains(r, "no such host") ||
			strings.Contains(r, "timeout") || errors.Is(err, sdk.ErrNoAgent):
			return repHostUnreach
		}
	}
	return repFailure
}

// reply writes a SOCKS5 reply with an unspecified bound address.
func reply(c net.Conn, code byte) error {
	_, err := c.Write([]byte{ver5, code, 0, atypIPv4, 0, 0, 0, 0, 0, 0})
	return err
}

// negotiate runs the method selection, the optional auth and the request,
// and returns the requested host and port.
func (s *server) negotiate(c net.Conn) (string, uint16, error) {
	var hdr [2]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return "", 0, err
	}
	if hdr[0] != ver5 {
		return "", 0, fmt.Errorf("not SOCKS5 (version %d)", hdr[0])
	}
	methods := make([]byte, hdr[1])
	if _, err := io.ReadFull(c, methods); err != nil {
		return "", 0, err
	}
	want := byte(methodNone)
	if s.cfg.auth {
		want = methodUser
	}
	if !contains(methods, want) {
		_, _ = c.Write([]byte{ver5, methodNoneAcc})
		return "", 0, errors.New("no acceptable auth method")
	}
	if _, err := c.Write([]byte{ver5, want}); err != nil {
		return "", 0, err
	}
	if s.cfg.auth {
		if err := s.authenticate(c); err != nil {
			return "", 0, err
		}
	}
	var req [4]byte
	if _, err := io.ReadFull(c, req[:]); err != nil {
		return "", 0, err
	}
	if req[0] != ver5 {
		return "", 0, fmt.Errorf("request version %d", req[0])
	}
	host, err := readAddr(c, req[3])
	if err != nil {
		_ = reply(c, repAtypNotSupp)
		return "", 0, err
	}
	var pb [2]byte
	if _, err := io.ReadFull(c, pb[:]); err != nil {
		return "", 0, err
	}
	if req[1] != cmdConnect {
		_ = reply(c, repCmdNotSupp)
		return "", 0, fmt.Errorf("command %d not supported", req[1])
	}
	return host, binary.BigEndian.Uint16(pb[:]), nil
}

// authenticate runs RFC 1929. Name and password are compared as SHA-256
// digests with subtle.ConstantTimeCompare, so neither their contents nor
// their lengths show in the timing, and both are always compared.
func (s *server) authenticate(c net.Conn) error {
	var v [2]byte
	if _, err := io.ReadFull(c, v[:]); err != nil {
		return err
	}
	if v[0] != authVersion {
		return fmt.Errorf("auth version %d", v[0])
	}
	user := make([]byte, v[1])
	if _, err := io.ReadFull(c, user); err != nil {
		return err
	}
	var pl [1]byte
	if _, err := io.ReadFull(c, pl[:]); err != nil {
		return err
	}
	pass := make([]byte, pl[0])
	if _, err := io.ReadFull(c, pass); err != nil {
		return err
	}
	uh, ph := sha256.Sum256(user), sha256.Sum256(pass)
	ok := subtle.ConstantTimeCompare(uh[:], s.cfg.user[:]) & subtle.ConstantTimeCompare(ph[:], s.cfg.pass[:])
	if ok != 1 {
		_, _ = c.Write([]byte{authVersion, authBad})
		return errors.New("bad username or password")
	}
	_, err := c.Write([]byte{authVersion, authOK})
	return err
}

func readAddr(c net.Conn, atyp byte) (string, error) {
	switch atyp {
	case atypIPv4, atypIPv6:
		n := 4
		if atyp == atypIPv6 {
			n = 16
		}
		b := make([]byte, n)
		if _, err := io.ReadFull(c, b); err != nil {
			return "", err
		}
		ip, _ := netip.AddrFromSlice(b)
		return ip.Unmap().String(), nil
	case atypDomain:
		var l [1]byte
		if _, err := io.ReadFull(c, l[:]); err != nil {
			return "", err
		}
		b := make([]byte, l[0])
		if _, err := io.ReadFull(c, b); err != nil {
			return "", err
		}
		if len(b) == 0 || strings.ContainsAny(string(b), ":/ \x00") {
			return "", fmt.Errorf("bad domain name %q", b)
		}
		return string(b), nil
	}
	return "", fmt.Errorf("address type %d not supported", atyp)
}

func contains(b []byte, x byte) bool {
	for _, v := range b {
		if v == x {
			return true
		}
	}
	return false
}

var _ sdk.Handler = (*Handler)(nil)
