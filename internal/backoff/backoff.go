// Package backoff computes reconnect delays: exponential growth from a base,
// capped, with full jitter so that many agents dropped at once do not
// reconnect in lockstep.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff yields successive delays. The zero value is not usable; build one
// with New. It is not safe for concurrent use: each retry loop owns one.
type Backoff struct {
	base, max time.Duration
	attempt   int
}

// New returns a Backoff growing from base to at most max.
func New(base, max time.Duration) *Backoff {
	if base <= 0 {
		base = 100 * time.Millisecond
	}
	if max < base {
		max = base
	}
	return &Backoff{base: base, max: max}
}

// Next returns the next delay: a random duration in [d/2, d] where d doubles
// every attempt from base up to max.
func (b *Backoff) Next() time.Duration {
	d := b.base
	for i := 0; i < b.attempt && d < b.max; i++ {
		d *= 2
	}
	d = min(d, b.max)
	b.attempt++
	half := d / 2
	return half + rand.N(d-half+1)
}

// Reset starts over from base, after a success.
func (b *Backoff) Reset() { b.attempt = 0 }

// Sleep waits for the next delay or until ctx ends; it reports whether the
// full delay passed.
func (b *Backoff) Sleep(ctx context.Context) bool {
	t := time.NewTimer(b.Next())
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
