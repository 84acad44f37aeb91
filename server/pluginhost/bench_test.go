package pluginhost

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/burrowproject/burrow/plugins/sdk"
	"github.com/burrowproject/burrow/server/flow"
)

// Data-path benchmarks: the tcp handler linked in (inprocess) against the
// same handler as a plugin process (process: the host accepts, Forward),
// and as a plugin process that accepts and hands off every connection
// over the fd link (handoff: the path of handlers that read first, such as
// http and socks5), through a real bridge and agent on loopback. Run
//
//	go test -run '^$' -bench . ./server/pluginhost
//
// for the raw figures, or BURROW_BENCH=1 go test -run TestBenchRatios -v
// for every mode side by side in one run, as ratios to inprocess.

type benchMode struct {
	name    string
	handler func(b *testing.B) sdk.Handler
}

var benchModes = []benchMode{
	{"inprocess", func(*testing.B) sdk.Handler { return builtin("tcp") }},
	{"process", func(b *testing.B) sdk.Handler { return benchProcess(b, "tcp") }},
	{"handoff", func(b *testing.B) sdk.Handler { return benchProcess(b, "tcphandoff") }},
}

// benchProcess is the tcp handler as a plugin process of the given mode.
func benchProcess(b *testing.B, mode string) sdk.Handler {
	ph := processHost(b, Config{}, mode)
	h, err := ph.Handler(mode)
	if err != nil {
		b.Fatal(err)
	}
	return h
}

// benchInstance starts a tcp instance to target on h and returns its address.
func benchInstance(b *testing.B, e *env, h sdk.Handler, target string) (string, *flow.Meter) {
	spec, meter := e.add("bench", "tcp", target)
	if err := h.Start(context.Background(), spec, e.host); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { e.stop(h, "bench") })
	return e.host.Addr("bench").String(), meter
}

const bulkChunk = 64 << 10

func benchBulk(b *testing.B, m benchMode) {
	e := newEnv(b)
	addr, meter := benchInstance(b, e, m.handler(b), e.sinkTCP)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, bulkChunk)
	b.SetBytes(bulkChunk)
	b.ResetTimer()
	for range b.N {
		if _, err := c.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	_ = c.(*net.TCPConn).CloseWrite()
	_, _ = io.Copy(io.Discard, c) // the host ends the connection once everything is through
	b.StopTimer()
	_ = c.Close()
	want := int64(b.N) * bulkChunk
	deadline := time.Now().Add(10 * time.Second)
	for meter.Snapshot().TCPRx < want && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if got := meter.Snapshot().TCPRx; got != want {
		b.Fatalf("host counted %d bytes, want %d", got, want)
	}
}

func benchSetup(b *testing.B, m benchMode) {
	e := newEnv(b)
	addr, _ := benchInstance(b, e, m.handler(b), e.echoTCP)
	msg := []byte("0123456789012345678901234567890") // 31 B
	got := make([]byte, len(msg))
	b.ResetTimer()
	for range b.N {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.Write(msg); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, got); err != nil {
			b.Fatal(err)
		}
		_ = c.Close()
	}
}

func BenchmarkTCPBulk(b *testing.B) {
	for _, m := range benchModes {
		b.Run(m.name, func(b *testing.B) { benchBulk(b, m) })
	}
}

func BenchmarkTCPSetup(b *testing.B) {
	for _, m := range benchModes {
		b.Run(m.name, func(b *testing.B) { benchSetup(b, m) })
	}
}

// TestBenchRatios runs both modes in the same process, interleaved, and
// reports process/inprocess ratios. Set BURROW_BENCH=1 to run it.
func TestBenchRatios(t *testing.T) {
	if os.Getenv("BURROW_BENCH") == "" {
		t.Skip("set BURROW_BENCH=1 to run the data-path comparison")
	}
	const rounds = 3
	type fig struct{ mbps, setupUs []float64 }
	figs := map[string]*fig{}
	for r := 0; r < rounds; r++ {
		for _, m := range benchModes {
			f := figs[m.name]
			if f == nil {
				f = &fig{}
				figs[m.name] = f
			}
			bulk := testing.Benchmark(func(b *testing.B) { benchBulk(b, m) })
			setup := testing.Benchmark(func(b *testing.B) { benchSetup(b, m) })
			f.mbps = append(f.mbps, float64(bulk.Bytes)*float64(bulk.N)/bulk.T.Seconds()/1e6)
			f.setupUs = append(f.setupUs, float64(setup.NsPerOp())/1e3)
		}
	}
	in := figs["inprocess"]
	t.Logf("median of %d interleaved rounds (race detector %v):", rounds, raceEnabled)
	t.Logf("%-10s %12s %16s %14s %14s", "mode", "bulk MB/s", "setup µs/conn", "bulk ratio", "setup ratio")
	for _, m := range benchModes {
		f := figs[m.name]
		var ratioT, ratioS []float64
		for i := range rounds {
			ratioT = append(ratioT, f.mbps[i]/in.mbps[i])
			ratioS = append(ratioS, f.setupUs[i]/in.setupUs[i])
		}
		t.Logf("%-10s %12.0f %16.0f %13.2f× %13.2f×", m.name, median(f.mbps), median(f.setupUs), median(ratioT), median(ratioS))
		fmt.Fprintf(os.Stderr, "BENCH %s throughput_ratio=%.3f setup_ratio=%.3f setup_added_us=%.0f\n",
			m.name, median(ratioT), median(ratioS), median(f.setupUs)-median(in.setupUs))
	}
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s[len(s)/2]
}
