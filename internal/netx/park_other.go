//go:build !linux

package netx

import "time"

// canPark: here a quiet copy keeps waiting in its goroutine.
const canPark = false

// Parker parks nothing here: copies wait in goroutines of their own (see
// the Linux Parker).
type Parker struct{}

// Parker defaults, as on Linux.
const (
	DefaultParkAfter = 200 * time.Millisecond
	DefaultParkSweep = time.Second
)

// NewParker returns a Parker that parks nothing.
func NewParker(_, _ time.Duration) *Parker { return &Parker{} }

// Parked is always 0 here.
func (*Parker) Parked() int { return 0 }

// Sweep does nothing here.
func (*Parker) Sweep() {}

func (*Parker) park(*pump) bool { return false }

func (*Parker) wake(*pump) {}

func (*Parker) patience() time.Duration { return 0 }
