package bench

import (
	"testing"
	"time"

	"github.com/burrowproject/burrow/bridge"
)

// carrierPaths are direct and the tunnel over each carrier, every bridge
// with TLS (the agent pins its self-signed certificate), handlers linked
// in so that the carrier is all that differs: "tcp" (TLS over TCP, the
// reference), "quic", "ws" (wss://) and "h2".
type carrierPaths struct {
	names []string
	addrs []backends
}

// pathTCPTLS is the index of the TCP/TLS tunnel, the carriers' reference.
const pathTCPTLS = 1

func newCarrierPaths(tb testing.TB) carrierPaths {
	direct := newBackends(tb)
	p := carrierPaths{names: []string{"direct"}, addrs: []backends{direct}}
	for _, c := range []struct {
		name string
		c    bridge.CarrierType
	}{{"tcp", bridge.CarrierTCP}, {"quic", bridge.CarrierQUIC}, {"ws", bridge.CarrierWebSocket}, {"h2", bridge.CarrierHTTP2}} {
		p.names = append(p.names, c.name)
		p.addrs = append(p.addrs, newTunnelOn(tb, direct, false, &carrierSpec{carrier: c.c}))
	}
	return p
}

// reportCarriers writes each path's median and its ratios to direct and
// to the TCP/TLS tunnel.
func reportCarriers(b *testing.B, what, unit string, names []string, samples [][]float64) {
	med := make([]float64, len(samples))
	for i := range samples {
		med[i] = median(samples[i])
		b.ReportMetric(med[i], what+"-"+names[i]+"-"+unit)
		if i != pathDirect {
			b.ReportMetric(med[i]/med[pathDirect], what+"-"+names[i]+"/direct")
		}
		if i > pathTCPTLS {
			b.ReportMetric(med[i]/med[pathTCPTLS], what+"-"+names[i]+"/tcp")
		}
	}
}

// BenchmarkCarrierThroughput moves bulk bytes through one connection, up
// and down, through a bridge on each carrier (pool types, type=).
func BenchmarkCarrierThroughput(b *testing.B) {
	p := newCarrierPaths(b)
	for range b.N {
		bulkBothWays(b, p.names, p.addrs, func(int) time.Duration { return cpuTime() }, reportCarriers)
	}
}

// BenchmarkCarrierConnectEcho opens a connection, echoes one byte and
// closes, at concurrency 1 and 20, through a bridge on each carrier, and
// reports p50/p99 and the CPU time per connection.
func BenchmarkCarrierConnectEcho(b *testing.B) {
	p := newCarrierPaths(b)
	for range b.N {
		connectEcho(b, p.names, p.addrs, func(int) time.Duration { return cpuTime() }, reportCarriers)
	}
}
