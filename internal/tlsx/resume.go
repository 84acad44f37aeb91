package tlsx

import (
	"crypto/fips140"
	"crypto/tls"
	"errors"
)

// ErrNotResumed is returned by the handshake of a ResumedOnly
// configuration that did not resume a session: the caller dials again
// with the full configuration.
var ErrNotResumed = errors.New("tls: the handshake did not resume a session")

// ResumedOnly returns a copy of c for connections that resume a session
// of c (the same ClientSessionCache) and do nothing else: their key
// exchange is X25519 alone, and a handshake that does not resume fails
// with ErrNotResumed before any byte is sent on it, so no full handshake
// ever runs with less than c's key exchange. In FIPS 140 mode, where X25519
// is not approved, it is P-256 alone.
//
// A resumed handshake is authenticated by the session's pre-shared key,
// which came from a full handshake with c's key exchange (X25519MLKEM768
// by default) and which travels, in the ticket, only encrypted under the
// server's ticket key. Its X25519 share adds forward secrecy on top: the
// traffic keys need both the PSK and the X25519 secret. What X25519 alone
// gives up, next to the hybrid, is post-quantum forward secrecy for an
// attacker who records the connection and later obtains the server's
// ticket key; the resumed connection's confidentiality otherwise rests on
// the PSK as before. The hybrid's ML-KEM key generation, encapsulation and
// decapsulation are most of what a resumed handshake costs beyond X25519.
func ResumedOnly(c *tls.Config) *tls.Config {
	r := c.Clone()
	r.CurvePreferences = []tls.CurveID{tls.X25519}
	if fips140.Enabled() {
		r.CurvePreferences = []tls.CurveID{tls.CurveP256} // X25519 is not approved
	}
	verify := c.VerifyConnection
	r.VerifyConnection = func(cs tls.ConnectionState) error {
		if !cs.DidResume {
			return ErrNotResumed
		}
		if verify != nil {
			return verify(cs)
		}
		return nil
	}
	return r
}
