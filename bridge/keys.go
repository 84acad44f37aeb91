package bridge

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"sync"
)

// Keys decides which agent keys the bridge accepts.
type Keys interface {
	// Accepts reports whether key may connect. Implementations must compare
	// in constant time.
	Accepts(key string) bool
}

// KeySet is a Keys of explicitly added keys, safe for concurrent use. Each
// key is reference counted, so several instances may name the same pool.
type KeySet struct {
	mu   sync.RWMutex
	keys map[string]int
}

// NewKeySet returns a set holding keys.
func NewKeySet(keys ...string) *KeySet {
	s := &KeySet{keys: make(map[string]int)}
	for _, k := range keys {
		s.Add(k)
	}
	return s
}

// Add accepts key (once more).
func (s *KeySet) Add(key string) {
	s.mu.Lock()
	s.keys[key]++
	s.mu.Unlock()
}

// Remove drops one reference to key and reports whether none is left.
func (s *KeySet) Remove(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.keys[key] <= 1 {
		delete(s.keys, key)
		return true
	}
	s.keys[key]--
	return false
}

// Accepts compares key against every key in the set without stopping at a
// match, so timing does not reveal which key or how much of it matched.
func (s *KeySet) Accepts(key string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	found := 0
	for k := range s.keys {
		found |= subtle.ConstantTimeCompare([]byte(k), []byte(key))
	}
	return found == 1
}

// KeyID is a short, non-secret name for a key, safe to log and show.
func KeyID(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:4])
}
