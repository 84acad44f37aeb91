package bridge

import (
	"time"

	"github.com/xtaci/smux"
)

// MuxConfig is the smux configuration both ends of a tunnel use. Protocol
// v2 gives every stream its own flow-control window, so one slow reader
// cannot stall the others; the windows and frame size are sized for
// throughput on fast links (see the benchmarks in the README).
func MuxConfig() *smux.Config {
	c := smux.DefaultConfig()
	c.Version = 2
	c.MaxFrameSize = 32 << 10
	c.MaxReceiveBuffer = 16 << 20
	c.MaxStreamBuffer = 2 << 20
	c.KeepAliveInterval = 5 * time.Second
	c.KeepAliveTimeout = 20 * time.Second
	return c
}
