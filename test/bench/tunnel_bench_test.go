package bench

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Workload sizes; BURROW_BENCH_MB and BURROW_BENCH_CONNS make them larger
// or smaller (CI keeps them small).
func workload() (bulk int64, conns int) {
	bulk, conns = 256<<20, 2000
	if v, err := strconv.Atoi(os.Getenv("BURROW_BENCH_MB")); err == nil && v > 0 {
		bulk = int64(v) << 20
	}
	if v, err := strconv.Atoi(os.Getenv("BURROW_BENCH_CONNS")); err == nil && v > 0 {
		conns = v
	}
	return bulk, conns
}

// rounds interleaves direct and tunnel measurements and keeps the median of
// each, so a noisy moment hurts both sides alike.
const rounds = 3

// BenchmarkTCPThroughput moves bulk bytes through one connection, up (to a
// sink) and down (from a source): directly, through the tunnel with the
// handler linked in, and with the handler as a plugin process.
func BenchmarkTCPThroughput(b *testing.B) {
	p := newPaths(b)
	for range b.N {
		bulkBothWays(b, p.names, p.addrs, p.cpu, report)
	}
}

// bulkBothWays moves the bulk workload up (to the sink) and down (from the
// source) on every path, rounds times, and reports the MB/s (with
// reportFn) and the CPU ms per GiB (cpu: the CPU time path i has used).
func bulkBothWays(b *testing.B, names []string, addrs []backends, cpu func(i int) time.Duration,
	reportFn func(b *testing.B, what, unit string, names []string, samples [][]float64)) {
	bulk, _ := workload()
	for _, dir := range []struct {
		name string
		addr func(backends) string
		run  func(string, int64) (time.Duration, error)
	}{
		{"up", func(x backends) string { return x.sink }, upload},
		{"down", func(x backends) string { return x.source }, download},
	} {
		mbps := make([][]float64, len(names))
		cpus := make([][]float64, len(names))
		for range rounds {
			for i, to := range addrs {
				cpu0 := cpu(i)
				d, err := dir.run(dir.addr(to), bulk)
				if err != nil {
					b.Fatalf("%s %s: %v", names[i], dir.name, err)
				}
				mbps[i] = append(mbps[i], float64(bulk)/d.Seconds()/1e6)
				cpus[i] = append(cpus[i], float64((cpu(i)-cpu0).Milliseconds())/(float64(bulk)/(1<<30)))
			}
		}
		reportFn(b, dir.name, "MB/s", names, mbps)
		for i, name := range names {
			b.ReportMetric(median(cpus[i]), dir.name+"-"+name+"-cpu-ms/GiB")
		}
	}
}

// BenchmarkConnectEcho opens a connection, sends one byte, reads it back and
// closes, many times at concurrency 1 and 20, on each path, and reports
// p50/p99 latency and their ratios, and the CPU time per connection of
// every process on the path (see paths.cpu), which a loaded machine
// disturbs less than the latency.
func BenchmarkConnectEcho(b *testing.B) {
	p := newPaths(b)
	for range b.N {
		connectEcho(b, p.names, p.addrs, p.cpu, report)
	}
}

// connectEcho runs the connect + echo workload at concurrency 1 and 20 on
// every path, rounds times, and reports p50 and p99 (with reportFn) and
// the CPU µs per connection (cpu: the CPU time path i has used).
func connectEcho(b *testing.B, names []string, addrs []backends, cpu func(i int) time.Duration,
	reportFn func(b *testing.B, what, unit string, names []string, samples [][]float64)) {
	_, conns := workload()
	n := conns / rounds
	for _, conc := range []int{1, 20} {
		p50 := make([][]float64, len(names))
		p99 := make([][]float64, len(names))
		cpus := make([][]float64, len(names))
		for range rounds {
			for i, to := range addrs {
				cpu0 := cpu(i)
				a, z, err := echoLatency(to.echo, n, conc)
				if err != nil {
					b.Fatalf("%s: %v", names[i], err)
				}
				p50[i], p99[i] = append(p50[i], a), append(p99[i], z)
				cpus[i] = append(cpus[i], float64((cpu(i)-cpu0).Microseconds())/float64(n))
			}
		}
		c := fmt.Sprintf("c%d", conc)
		reportFn(b, c+"-p50", "us", names, p50)
		reportFn(b, c+"-p99", "us", names, p99)
		reportFn(b, c+"-cpu", "us/conn", names, cpus)
	}
}

// report writes each path's median, its ratio to direct and to the two
// relays, process/inproc, and process/frp when frp was measured.
func report(b *testing.B, what, unit string, names []string, samples [][]float64) {
	med := make([]float64, len(samples))
	for i := range samples {
		med[i] = median(samples[i])
		b.ReportMetric(med[i], what+"-"+names[i]+"-"+unit)
		if i != pathDirect {
			b.ReportMetric(med[i]/med[pathDirect], what+"-"+names[i]+"/direct")
		}
		if i > pathRelays {
			b.ReportMetric(med[i]/med[pathRelays], what+"-"+names[i]+"/relays")
		}
	}
	b.ReportMetric(med[pathProcess]/med[pathInproc], what+"-process/inproc")
	b.ReportMetric(med[pathProcessTLS]/med[pathProcess], what+"-process-tls/process")
	if len(med) > pathProcessTLS+1 {
		b.ReportMetric(med[pathProcess]/med[pathProcessTLS+1], what+"-process/frp")
		b.ReportMetric(med[pathProcessTLS]/med[pathProcessTLS+1], what+"-process-tls/frp")
	}
}

func upload(addr string, n int64) (time.Duration, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	start := time.Now()
	var count [8]byte
	binary.BigEndian.PutUint64(count[:], uint64(n))
	if _, err := c.Write(count[:]); err != nil {
		return 0, fmt.Errorf("send count: %w", err)
	}
	if _, err := io.CopyN(c, zeroReader{}, n); err != nil {
		return 0, fmt.Errorf("send: %w", err)
	}
	var got [8]byte
	_ = c.SetReadDeadline(time.Now().Add(time.Minute))
	if _, err := io.ReadFull(c, got[:]); err != nil {
		return 0, fmt.Errorf("read count: %w", err)
	}
	if m := int64(binary.BigEndian.Uint64(got[:])); m != n {
		return 0, fmt.Errorf("sink got %d bytes, sent %d", m, n)
	}
	return time.Since(start), nil
}

func download(addr string, n int64) (time.Duration, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	start := time.Now()
	var req [8]byte
	binary.BigEndian.PutUint64(req[:], uint64(n))
	if _, err := c.Write(req[:]); err != nil {
		return 0, err
	}
	_ = c.SetReadDeadline(time.Now().Add(time.Minute))
	m, err := io.Copy(io.Discard, c)
	if err != nil {
		return 0, err
	}
	if m != n {
		return 0, fmt.Errorf("got %d bytes, want %d", m, n)
	}
	return time.Since(start), nil
}

// echoLatency runs total connect+echo round trips with conc workers and
// returns p50 and p99 in microseconds.
func echoLatency(addr string, total, conc int) (p50, p99 float64, err error) {
	lat := make([]float64, total)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		next  = make(chan int, total)
	)
	for i := range total {
		next <- i
	}
	close(next)
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf [1]byte
			for i := range next {
				start := time.Now()
				err := func() error {
					c, err := net.DialTimeout("tcp", addr, 5*time.Second)
					if err != nil {
						return err
					}
					defer c.Close()
					_ = c.SetDeadline(time.Now().Add(5 * time.Second))
					if _, err := c.Write([]byte{'x'}); err != nil {
						return err
					}
					_, err = io.ReadFull(c, buf[:])
					return err
				}()
				if err != nil {
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("echo via %s: %w", addr, err)
					}
					mu.Unlock()
					return
				}
				lat[i] = float64(time.Since(start).Microseconds())
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return 0, 0, first
	}
	slices.Sort(lat)
	return lat[len(lat)/2], lat[len(lat)*99/100], nil
}

// cpuTime is the user+system CPU time this process has used. Everything of
// a measurement (client, tunnel, backend) runs in this process, so CPU per
// byte is a load-independent view of the data path's cost.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}
