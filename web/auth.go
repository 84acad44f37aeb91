package web

import (
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
)

// Auth error texts (NodePass).
const (
	msgKeyRequired = "Unauthorized: API key required"
	msgKeyInvalid  = "Unauthorized: Invalid API key"
)

// authenticate checks X-API-Key (constant time) on protected paths. The
// metrics endpoint also accepts "Authorization: Bearer <key>" (Prometheus's
// native scrape option). Wrong keys from an address that keeps sending them
// are answered ever more slowly; right keys never wait.
func (s *server) authenticate(c *gin.Context) {
	if !s.isProtected(c.Request.URL.Path) {
		c.Next()
		return
	}
	key := c.GetHeader("X-API-Key")
	if key == "" && c.Request.URL.Path == metricsPath {
		if bearer, ok := strings.CutPrefix(c.GetHeader("Authorization"), "Bearer "); ok {
			key = bearer
		}
	}
	if key == "" {
		fail(c, http.StatusUnauthorized, msgKeyRequired)
		return
	}
	ip := c.RemoteIP()
	if s.m.CheckKey(key) {
		s.auth.succeed(ip)
		c.Next()
		return
	}
	// Only the refusal waits: a guesser is slowed down just as much, and a
	// dashboard on the same address still sending an old key does not slow
	// scripts that use the right one.
	if d := s.auth.delay(ip); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-c.Request.Context().Done():
			t.Stop()
			c.Abort()
			return
		}
	}
	s.auth.fail(ip)
	fail(c, http.StatusUnauthorized, msgKeyInvalid)
}

// authLimiter remembers recent wrong-key attempts per address, in bounded
// memory.
type authLimiter struct {
	free     int
	maxDelay time.Duration
	now      func() time.Time

	mu   sync.Mutex
	seen map[string]*authFailures
}

type authFailures struct {
	n    int
	last time.Time
}

const (
	authMaxAddrs = 10000            // addresses remembered at most
	authForget   = 10 * time.Minute // failures older than this are forgotten
	authBase     = 100 * time.Millisecond
)

func newAuthLimiter(free int, maxDelay time.Duration) *authLimiter {
	if free <= 0 {
		free = 5
	}
	if maxDelay <= 0 {
		maxDelay = 2 * time.Second
	}
	return &authLimiter{free: free, maxDelay: maxDelay, now: time.Now, seen: make(map[string]*authFailures)}
}

// delay returns how long a request from ip waits before its key is checked.
func (l *authLimiter) delay(ip string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.seen[ip]
	if f == nil || l.now().Sub(f.last) > authForget || f.n < l.free {
		return 0
	}
	d := authBase << min(f.n-l.free, 16)
	return min(d, l.maxDelay)
}

func (l *authLimiter) fail(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	f := l.seen[ip]
	if f == nil {
		if len(l.seen) >= authMaxAddrs {
			l.pruneLocked(now)
		}
		f = &authFailures{}
		l.seen[ip] = f
	}
	if now.Sub(f.last) > authForget {
		f.n = 0
	}
	f.n++
	f.last = now
}

func (l *authLimiter) succeed(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.seen, ip)
}

// pruneLocked forgets old entries; if every entry is recent, it forgets
// them all rather than grow (an attacker with that many addresses is not
// slowed by a per-address delay anyway).
func (l *authLimiter) pruneLocked(now time.Time) {
	for ip, f := range l.seen {
		if now.Sub(f.last) > authForget {
			delete(l.seen, ip)
		}
	}
	if len(l.seen) >= authMaxAddrs {
		clear(l.seen)
	}
}
