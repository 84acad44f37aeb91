//go:build !linux

package netx

import "errors"

// spliceLoop is not used where the kernel has no splice: setupSplice
// declines first.
func (p *pump) spliceLoop() error {
	return errors.New("splice: not supported here")
}

// spliceState is empty where the kernel has no splice.
type spliceState struct{}

func (*spliceState) bind() {}
