//go:build !linux

package netx

import "errors"

// spliceLoop is not used where the kernel has no splice: setupSplice
// declines first.
func (p *pump) spliceLoop() error {
	return errors.New("splice: not supported here")
}
