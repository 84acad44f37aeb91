package http

import (
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/burrowproject/burrow/conf"
	"github.com/burrowproject/burrow/internal/tlsx"
	"github.com/burrowproject/burrow/plugins/sdk"
)

// DefaultHeaderTimeout is how long a backend may take to send its response
// headers when read= is not given (or is 0).
const DefaultHeaderTimeout = 60 * time.Second

// settings is an instance's typed configuration, parsed from its params.
type settings struct {
	hosts         []string      // host=, lower-case patterns
	path          string        // path=, "/" when absent
	auth          *basicAuth    // auth=, nil when absent
	hostRewrite   string        // hostrewrite=, "" keeps the client's Host
	headerTimeout time.Duration // read=
	tlsMode       int           // 0 plain, 1 self-signed, 2 crt/key files
	crt, key      string        // crt=, key=
	redirectOn    bool          // redirect= given: answer 308 to HTTPS instead of proxying
	redirect      string        // the HTTPS port to redirect to; "" = the default (443)
	inspect       conf.InspectMode
}

// basicAuth holds the digests of auth='s user and password, compared in
// constant time.
type basicAuth struct{ user, pass [sha256.Size]byte }

func newBasicAuth(v string) *basicAuth {
	u, p, _ := strings.Cut(v, ":")
	return &basicAuth{user: sha256.Sum256([]byte(u)), pass: sha256.Sum256([]byte(p))}
}

// parseSettings reads spec's params with conf's rules, the one place URL
// parameters are parsed and checked; secret values are never repeated.
func parseSettings(spec sdk.InstanceSpec) (settings, error) {
	p, err := conf.ParseParams(conf.SchemeHTTP, spec.Params)
	if err != nil {
		return settings{}, fmt.Errorf("http: %w", err)
	}
	s := settings{
		hosts: p.Host, path: "/", hostRewrite: p.HostRewrite, headerTimeout: DefaultHeaderTimeout,
		crt: p.Crt, key: p.KeyFile, tlsMode: int(p.TLS), inspect: p.Inspect,
	}
	if p.Path != "" {
		s.path = p.Path
	}
	if p.Auth != "" {
		s.auth = newBasicAuth(p.Auth)
	}
	if p.Read > 0 {
		s.headerTimeout = p.Read
	}
	if s.tlsMode == 0 && (s.crt != "" || s.key != "") {
		s.tlsMode = 2 // crt= alone implies certificate files
	}
	if s.tlsMode == 2 && (s.crt == "" || s.key == "") {
		return settings{}, errors.New("http: HTTPS needs both crt= and key= (certificate and private key files)")
	}
	if p.Redirect != "" {
		s.redirectOn = true
		s.redirect, _ = strings.CutPrefix(strings.TrimPrefix(p.Redirect, "https"), ":")
	}
	return s, nil
}

// certificate loads or makes the instance's certificate; nil for plain HTTP.
func (s *settings) certificate() (*tls.Certificate, error) {
	switch s.tlsMode {
	case 1:
		c, err := tlsx.SelfSigned(s.hosts...)
		if err != nil {
			return nil, fmt.Errorf("http: self-signed certificate: %w", err)
		}
		return &c, nil
	case 2:
		c, err := tls.LoadX509KeyPair(s.crt, s.key)
		if err != nil {
			return nil, fmt.Errorf("http: load certificate %s and key %s: %w", s.crt, s.key, err)
		}
		return &c, nil
	}
	return nil, nil
}
