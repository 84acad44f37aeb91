package testutil

import "sync"

// Counts counts events by name, safe for concurrent use: give Add to a
// hook such as bridge.Config.OnRefuse or host.OnCount.
type Counts struct {
	mu sync.Mutex
	n  map[string]int
}

// Add counts one event named name.
func (c *Counts) Add(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = make(map[string]int)
	}
	c.n[name]++
}

// Get returns how many events named name were counted.
func (c *Counts) Get(name string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[name]
}
