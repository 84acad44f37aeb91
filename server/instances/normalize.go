package instances

import (
	"errors"
	"strings"

	"github.com/burrowproject/burrow/conf"
)

// normalize parses a submitted instance URL and applies the master's
// defaults (NodePass master API, section 10): when absent, log=<master log>
// (if the master URL has one) and, for server instances of a master whose
// tls is not 0, tls=<master tls> (plus crt and key for tls=2). Nothing else
// is added and user parameters are kept verbatim; the query is re-encoded
// with sorted keys. The result is validated by the Runtime.
func (m *Manager) normalize(raw string) (*conf.Instance, error) {
	return Normalize(m.cfg.Master, m.rt, raw)
}

// Validator checks what the URL parser cannot know (Runtime.Validate).
type Validator interface {
	Validate(inst *conf.Instance) error
}

// Normalize is what the manager does to a submitted URL (see normalize),
// for a master URL and a validator: `burrow verify` checks a config file
// with it as the API would.
func Normalize(master *conf.Instance, v Validator, raw string) (*conf.Instance, error) {
	raw = strings.TrimSpace(raw)
	if len(raw) > MaxURL {
		return nil, errorf(KindInvalid, "Invalid URL format: longer than %d bytes", MaxURL)
	}
	in, err := conf.Parse(raw)
	if err != nil {
		return nil, &Error{Kind: KindInvalid, Msg: "Invalid URL format: " + err.Error(), Err: err}
	}
	if in.Scheme == conf.SchemeMaster {
		return nil, errBadScheme
	}
	setDefault := func(key, value string) {
		if value != "" && in.Query.Get(key) == "" {
			in.Query.Set(key, value)
		}
	}
	setDefault("log", master.Query.Get("log"))
	if in.Scheme == conf.SchemeServer && master.Params.TLS != conf.TLSOff {
		setDefault("tls", master.Query.Get("tls"))
		if master.Params.TLS == conf.TLSFiles && in.Query.Get("tls") == "2" {
			setDefault("crt", master.Params.Crt)
			setDefault("key", master.Params.KeyFile)
		}
	}
	in, err = conf.Parse(in.String())
	if err != nil {
		return nil, &Error{Kind: KindInvalid, Msg: "Invalid URL format: " + err.Error(), Err: err}
	}
	if err := v.Validate(in); err != nil {
		if errors.Is(err, ErrUnknownScheme) {
			return nil, &Error{Kind: KindInvalid, Msg: "Invalid URL scheme: " + err.Error(), Err: err}
		}
		return nil, &Error{Kind: KindInvalid, Msg: "Invalid URL format: " + err.Error(), Err: err}
	}
	return in, nil
}
