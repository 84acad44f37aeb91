package http

import (
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

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
}

// basicAuth holds the digests of auth='s user and password, compared in
// constant time.
type basicAuth struct{ user, pass [sha256.Size]byte }

func newBasicAuth(v string) *basicAuth {
	u, p, _ := strings.Cut(v, ":")
	return &basicAuth{user: sha256.Sum256([]byte(u)), pass: sha256.Sum256([]byte(p))}
}

// parseSettings reads and checks spec's params. Every problem is reported,
// joined, each naming its parameter; secret values are never repeated.
func parseSettings(spec sdk.InstanceSpec) (settings, error) {
	p := spec.Params
	s := settings{path: "/", headerTimeout: DefaultHeaderTimeout}
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf("http: "+format, a...)) }

	if v := p["host"]; v == "" {
		bad("host= is required: name the host names this instance serves, e.g. host=app.example.com or host=*.example.com")
	} else {
		for h := range strings.SplitSeq(v, ",") {
			h = strings.ToLower(strings.TrimSpace(h))
			if !validHostPattern(h) {
				bad("host=%q is not a host name or *.domain wildcard", h)
				continue
			}
			s.hosts = append(s.hosts, h)
		}
	}
	if v := p["path"]; v != "" {
		if !strings.HasPrefix(v, "/") || strings.ContainsAny(v, " \t\r\n?#") {
			bad("path=%q must be a URL path starting with /", v)
		}
		s.path = v
	}
	if v := p["auth"]; v != "" {
		if u, _, ok := strings.Cut(v, ":"); !ok || u == "" {
			bad("auth= must be user:pass")
		} else {
			s.auth = newBasicAuth(v)
		}
	}
	if v := p["hostrewrite"]; v != "" {
		if strings.ContainsAny(v, " \t\r\n/?#@") {
			bad("hostrewrite=%q is not host or host:port", v)
		}
		s.hostRewrite = v
	}
	if v := p["read"]; v != "" {
		d, ok := parseDuration(v)
		switch {
		case !ok || d < 0:
			bad("read=%q is not a duration (e.g. 30s)", v)
		case d > 0:
			s.headerTimeout = d
		}
	}
	s.crt, s.key = p["crt"], p["key"]
	switch v := p["tls"]; v {
	case "", "0":
		if s.crt != "" || s.key != "" {
			s.tlsMode = 2
		}
	case "1":
		s.tlsMode = 1
	case "2":
		s.tlsMode = 2
	default:
		bad("tls=%q is not 0, 1 (self-signed) or 2 (crt and key files)", v)
	}
	if s.tlsMode == 2 && (s.crt == "" || s.key == "") {
		bad("HTTPS needs both crt= and key= (certificate and private key files)")
	}
	if v := p["redirect"]; v != "" {
		port, ok := "", v == "https"
		if rest, found := strings.CutPrefix(v, "https:"); found {
			n, err := strconv.Atoi(rest)
			port, ok = rest, err == nil && n >= 1 && n <= 65535
		}
		switch {
		case !ok:
			bad("redirect=%q must be https or https:PORT", v)
		case s.tlsMode != 0:
			bad("redirect= is for plain-HTTP instances; this one already serves HTTPS")
		}
		s.redirect, s.redirectOn = port, true
	}
	switch p["proxy"] {
	case "", "0", "false":
	default:
		bad("proxy=1 is not supported: one upstream connection carries many clients' requests; backends get X-Forwarded-For and X-Real-IP instead")
	}
	return s, errors.Join(errs...)
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

// parseDuration accepts a Go duration or a bare number of seconds.
func parseDuration(v string) (time.Duration, bool) {
	if n, err := strconv.Atoi(v); err == nil {
		return time.Duration(n) * time.Second, true
	}
	d, err := time.ParseDuration(v)
	return d, err == nil
}

// validHostPattern reports whether h is a host name, an IP, or "*." and a
// host name.
func validHostPattern(h string) bool {
	h = strings.TrimPrefix(h, "*.")
	if h == "" || len(h) > 253 {
		return false
	}
	if net.ParseIP(h) != nil {
		return true
	}
	for label := range strings.SplitSeq(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' && c != '_' {
				return false
			}
		}
	}
	return true
}
