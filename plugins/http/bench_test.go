package http

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/burrowproject/burrow/plugins/sdk"
)

// The benchmarks run the same load against the backend directly and
// through the tunnel (entry server -> ReverseProxy -> host.Dial -> smux ->
// agent -> backend) in one run, and report both and their ratio.
//
//	go test -run '^$' -bench . -benchtime 1x ./plugins/http/
//
// Each benchmark does at least a fixed amount of work per mode whatever
// b.N is, so -benchtime 1x gives stable figures; ns/op is not meaningful.

const (
	benchClients = 64       // concurrent keep-alive clients for small requests
	benchSmall   = 64 * 150 // small requests per mode, at least
	benchBig     = 1 << 20  // response size for throughput
	benchBigN    = 200      // 1 MiB downloads per mode, at least
)

func benchEnv(b *testing.B) (direct, tunnel *http.Client, backendAddr string) {
	e := newEnv(b)
	e.agent("k")
	big := make([]byte, benchBig)
	_, _ = newPattern().Read(big)
	be := newBackend(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/big" {
			w.Header().Set("Content-Length", fmt.Sprint(len(big)))
			_, _ = w.Write(big)
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	listen := e.listen()
	e.start("bench", listen, "k", []string{be.addr}, map[string]string{"host": "bench.test"})
	return userClient(b, be.addr), userClient(b, listen), be.addr
}

type loadResult struct {
	rps, p50, p99 float64 // requests/s, latency in ms
	mbps          float64 // MB/s of response bodies
}

// load sends n GETs of url's path over clients concurrent workers.
func load(b *testing.B, c *http.Client, url string, n, clients int) loadResult {
	b.Helper()
	lat := make([][]time.Duration, clients)
	var next, bytes atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for w := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				t0 := time.Now()
				res, err := c.Get(url)
				if err != nil {
					failed.Store(err)
					return
				}
				m, err := io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if err != nil || res.StatusCode != 200 {
					failed.Store(fmt.Errorf("status %d, err %v", res.StatusCode, err))
					return
				}
				bytes.Add(m)
				lat[w] = append(lat[w], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	ms := func(q float64) float64 { return float64(all[int(q*float64(len(all)-1))]) / 1e6 }
	return loadResult{
		rps: float64(len(all)) / el.Seconds(), p50: ms(0.50), p99: ms(0.99),
		mbps: float64(bytes.Load()) / 1e6 / el.Seconds(),
	}
}

// BenchmarkSmallRequests: requests/s and p50/p99 latency of a 2-byte
// response at 64 concurrent keep-alive clients.
func BenchmarkSmallRequests(b *testing.B) {
	direct, tunnel, addr := benchEnv(b)
	n := max(b.N, benchSmall)
	load(b, direct, "http://"+addr+"/", benchClients*4, benchClients) // warm up: open the connections
	load(b, tunnel, "http://bench.test/", benchClients*4, benchClients)
	b.ResetTimer()
	d := load(b, direct, "http://"+addr+"/", n, benchClients)
	t := load(b, tunnel, "http://bench.test/", n, benchClients)
	b.StopTimer()
	b.ReportMetric(d.rps, "direct-req/s")
	b.ReportMetric(t.rps, "tunnel-req/s")
	b.ReportMetric(t.rps/d.rps, "ratio-req/s")
	b.ReportMetric(d.p50, "direct-p50-ms")
	b.ReportMetric(t.p50, "tunnel-p50-ms")
	b.ReportMetric(t.p50/d.p50, "ratio-p50")
	b.ReportMetric(d.p99, "direct-p99-ms")
	b.ReportMetric(t.p99, "tunnel-p99-ms")
	b.ReportMetric(t.p99/d.p99, "ratio-p99")
}

// BenchmarkThroughput1MiB: MB/s of sequential 1 MiB responses on one
// keep-alive connection.
func BenchmarkThroughput1MiB(b *testing.B) {
	direct, tunnel, addr := benchEnv(b)
	n := max(b.N, benchBigN)
	load(b, direct, "http://"+addr+"/big", 4, 1)
	load(b, tunnel, "http://bench.test/big", 4, 1)
	b.ResetTimer()
	d := load(b, direct, "http://"+addr+"/big", n, 1)
	t := load(b, tunnel, "http://bench.test/big", n, 1)
	b.StopTimer()
	b.ReportMetric(d.mbps, "direct-MB/s")
	b.ReportMetric(t.mbps, "tunnel-MB/s")
	b.ReportMetric(t.mbps/d.mbps, "ratio-MB/s")
	b.ReportMetric(t.p50/d.p50, "ratio-p50")
}

// BenchmarkInspect: one keep-alive client's small GETs through the tunnel
// with inspect= off, 1 and body; allocs/op count the whole process (client,
// proxy, host, bridge, agent, backend). Off must match the handler without
// the inspector: serve checks one nil pointer and nothing else.
//
//	go test -run '^$' -bench Inspect -benchmem ./plugins/http/
func BenchmarkInspect(b *testing.B) {
	for _, mode := range []string{"0", "1", "body"} {
		b.Run("inspect="+mode, func(b *testing.B) {
			e := newEnv(b)
			e.records = discardRecords{}
			e.agent("k")
			be := newBackend(b, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }))
			listen := e.listen()
			e.start("bench", listen, "k", []string{be.addr}, map[string]string{"host": "bench.test", "inspect": mode})
			c := userClient(b, listen)
			load(b, c, "http://bench.test/", 50, 1) // warm up
			b.ReportAllocs()
			b.ResetTimer()
			load(b, c, "http://bench.test/", b.N, 1)
		})
	}
}

type discardRecords struct{}

func (discardRecords) Record(*sdk.Exchange)   {}
func (discardRecords) Dropped(string, uint64) {}
