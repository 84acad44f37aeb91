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
// sink) and down (from a source), directly and through the tunnel.
func BenchmarkTCPThroughput(b *testing.B) {
	e := newEnv(b)
	bulk, _ := workload()
	for range b.N {
		for _, dir := range []struct {
			name           string
			direct, tunnel string
			run            func(string, int64) (time.Duration, error)
		}{
			{"up", e.sink, e.tSink, upload},
			{"down", e.source, e.tSource, download},
		} {
			var direct, tunnel, directCPU, tunnelCPU []float64
			for range rounds {
				for _, side := range []struct {
					addr     string
					out, cpu *[]float64
				}{{dir.direct, &direct, &directCPU}, {dir.tunnel, &tunnel, &tunnelCPU}} {
					cpu0 := cpuTime()
					d, err := dir.run(side.addr, bulk)
					if err != nil {
						b.Fatalf("%s via %s: %v", dir.name, side.addr, err)
					}
					*side.out = append(*side.out, float64(bulk)/d.Seconds()/1e6)
					*side.cpu = append(*side.cpu, float64((cpuTime()-cpu0).Milliseconds())/(float64(bulk)/(1<<30)))
				}
			}
			dm, tm := median(direct), median(tunnel)
			b.ReportMetric(dm, dir.name+"-direct-MB/s")
			b.ReportMetric(tm, dir.name+"-tunnel-MB/s")
			b.ReportMetric(tm/dm, dir.name+"-ratio")
			b.ReportMetric(median(directCPU), dir.name+"-direct-cpu-ms/GiB")
			b.ReportMetric(median(tunnelCPU), dir.name+"-tunnel-cpu-ms/GiB")
		}
	}
}

// BenchmarkConnectEcho opens a connection, sends one byte, reads it back and
// closes, many times at concurrency 1 and 20, directly and through the
// tunnel, and reports p50/p99 latency and their ratios.
func BenchmarkConnectEcho(b *testing.B) {
	e := newEnv(b)
	_, conns := workload()
	for range b.N {
		for _, conc := range []int{1, 20} {
			var d50, d99, t50, t99 []float64
			for range rounds {
				p50, p99, err := echoLatency(e.echo, conns/rounds, conc)
				if err != nil {
					b.Fatal(err)
				}
				d50, d99 = append(d50, p50), append(d99, p99)
				p50, p99, err = echoLatency(e.tEcho, conns/rounds, conc)
				if err != nil {
					b.Fatal(err)
				}
				t50, t99 = append(t50, p50), append(t99, p99)
			}
			c := fmt.Sprintf("c%d-", conc)
			b.ReportMetric(median(d50), c+"direct-p50-us")
			b.ReportMetric(median(t50), c+"tunnel-p50-us")
			b.ReportMetric(median(t50)/median(d50), c+"p50-ratio")
			b.ReportMetric(median(d99), c+"direct-p99-us")
			b.ReportMetric(median(t99), c+"tunnel-p99-us")
			b.ReportMetric(median(t99)/median(d99), c+"p99-ratio")
		}
	}
}

func upload(addr string, n int64) (time.Duration, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	start := time.Now()
	if _, err := io.CopyN(c, zeroReader{}, n); err != nil {
		return 0, fmt.Errorf("send: %w", err)
	}
	_ = c.(*net.TCPConn).CloseWrite()
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
