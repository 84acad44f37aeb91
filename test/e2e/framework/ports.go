package framework

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
)

// Ports handed to burrow processes come from a range below the kernel's
// ephemeral range. A port picked with "listen on :0, close" lies inside the
// ephemeral range, so between the probe and the binary's bind it can be
// taken by any outgoing connection's local port or any mock server's :0
// listener (a spec with 200 concurrent connections makes that likely).
// Ports below the ephemeral range are only ever taken by explicit binds.
//
// The allocator is process-wide so parallel specs never get the same port;
// each test binary starts at an offset derived from its pid so parallel
// test binaries rarely probe the same ports.
const (
	portRangeLow  = 10000
	portRangeHigh = 32768 // Linux's default ephemeral range starts here
	portProbes    = 2000  // bound on ports tried per allocation
)

var ports = &portAllocator{used: make(map[int]bool)}

type portAllocator struct {
	mu   sync.Mutex
	used map[int]bool
	next int // offset into the range of the next probe
	init bool
	low  int // the range, fixed at the first allocation
	high int
}

// allocate returns a loopback port that is free for both TCP and UDP.
func (a *portAllocator) allocate() (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.init {
		a.low, a.high = portRange()
		a.next = (os.Getpid() * 7919) % (a.high - a.low)
		a.init = true
	}
	low, high := a.low, a.high
	span := high - low
	for range portProbes {
		p := low + a.next%span
		a.next++
		if a.used[p] {
			continue
		}
		if bindable(p) {
			a.used[p] = true
			return p, nil
		}
	}
	return 0, fmt.Errorf("no free port in %d..%d after %d probes", low, high, portProbes)
}

// bindable reports whether port can be bound on 127.0.0.1 for TCP and UDP.
func bindable(port int) bool {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	defer l.Close()
	c, err := net.ListenPacket("udp", addr)
	if err != nil {
		return false
	}
	_ = c.Close()
	return true
}

// portRange returns [low, high) below the ephemeral range, narrowed if the
// host configured a lower ephemeral range.
func portRange() (int, int) {
	low, high := portRangeLow, portRangeHigh
	if eph, err := ephemeralLow(); err == nil && eph < high {
		high = eph
	}
	if high-low < 1000 { // ephemeral range starts very low: use what is left
		low = 1024
	}
	return low, high
}

func ephemeralLow() (int, error) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0, errors.New("unexpected ip_local_port_range")
	}
	return strconv.Atoi(f[0])
}
