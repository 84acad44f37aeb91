package roundrobin

import (
	"math"
	"testing"
)

func TestNextCycles(t *testing.T) {
	var c Counter
	for i := range 10 {
		if got := c.Next(3); got != i%3 {
			t.Fatalf("pick %d: got %d, want %d", i, got, i%3)
		}
	}
	if got := c.Next(0); got != 0 {
		t.Fatalf("Next(0) = %d, want 0", got)
	}
}

// Past 2^31 and across the wrap at 2^32 every position stays in range: the
// old int(counter)%n went negative there on 32-bit builds.
func TestNextStaysInRangePastTwoToThe31(t *testing.T) {
	for _, start := range []uint32{math.MaxInt32 - 2, math.MaxUint32 - 2} {
		var c Counter
		c.n.Store(start)
		for i := range 8 {
			for _, n := range []int{1, 2, 3, 7} {
				if got := c.Next(n); got < 0 || got >= n {
					t.Fatalf("start %d, pick %d: Next(%d) = %d, out of range", start, i, n, got)
				}
			}
		}
	}
}
