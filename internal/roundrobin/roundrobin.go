// Package roundrobin spreads picks over n choices with a shared counter.
// It exists so that the modulo is written once, on the unsigned counter:
// converting the counter to int first goes negative on 32-bit platforms
// once it passes 2^31, and a negative index panics.
package roundrobin

import "sync/atomic"

// Counter hands out starting positions in turn. The zero value is ready;
// it is safe for concurrent use and wraps around harmlessly.
type Counter struct{ n atomic.Uint32 }

// Next returns the next position in [0, n); 0 when n <= 0.
func (c *Counter) Next(n int) int {
	if n <= 0 {
		return 0
	}
	return int((c.n.Add(1) - 1) % uint32(n))
}
