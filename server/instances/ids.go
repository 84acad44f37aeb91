package instances

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
)

// randomHex returns 2n lowercase hex characters from n random bytes.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (it panics if the OS cannot supply entropy)
	return hex.EncodeToString(b)
}

// newAPIKey returns a fresh API key: 32 lowercase hex characters.
func newAPIKey() string { return randomHex(16) }

// newMasterID returns a fresh master id: 16 lowercase hex characters.
func newMasterID() string { return randomHex(8) }

// newInstanceID returns 8 lowercase hex characters not in use (m.mu held).
func (m *Manager) newInstanceIDLocked() string {
	for {
		id := randomHex(4)
		if _, taken := m.byID[id]; !taken {
			return id
		}
	}
}

// keysEqual compares two secrets in constant time (lengths included: both
// are hashed first).
func keysEqual(a, b string) bool {
	ha, hb := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(ha[:], hb[:]) == 1
}
