package bench

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// httpClients is the number of concurrent keep-alive clients for small
// requests; httpWindow how long each path is loaded per round.
const (
	httpClients = 64
	httpWindow  = 2 * time.Second
	wsEchoes    = 2000
)

// BenchmarkHTTP measures, on each path: small-response requests/s and
// p50/p99 at 64 concurrent keep-alive clients, 1 MiB response throughput,
// and WebSocket 1 KiB echo round trips; and the CPU time of every process
// on the path (this one with the client and backends, the handler plugin
// processes, frp's) per small request and per MB of 1 MiB responses, which
// a loaded machine disturbs less than the rates. Through the tunnel the
// http instance routes by Host, so every request crosses the reverse proxy.
func BenchmarkHTTP(b *testing.B) {
	p := newPaths(b)
	for range b.N {
		rps := make([][]float64, len(p.names))
		p50 := make([][]float64, len(p.names))
		p99 := make([][]float64, len(p.names))
		big := make([][]float64, len(p.names))
		cpuReq := make([][]float64, len(p.names))
		cpuMB := make([][]float64, len(p.names))
		ws50 := make([][]float64, len(p.names))
		ws99 := make([][]float64, len(p.names))
		for range rounds {
			for i, to := range p.addrs {
				cpu0 := p.cpu(i)
				s, err := smallRequests(to.web)
				if err != nil {
					b.Fatalf("%s small: %v", p.names[i], err)
				}
				cpuReq[i] = append(cpuReq[i], float64((p.cpu(i)-cpu0).Microseconds())/float64(s.n))
				rps[i], p50[i], p99[i] = append(rps[i], s.rps), append(p50[i], s.p50), append(p99[i], s.p99)
				cpu0 = p.cpu(i)
				mb, total, err := bigResponses(to.web)
				if err != nil {
					b.Fatalf("%s big: %v", p.names[i], err)
				}
				cpuMB[i] = append(cpuMB[i], float64((p.cpu(i)-cpu0).Microseconds())/(float64(total)/1e6))
				big[i] = append(big[i], mb)
				a, z, err := wsEcho(to.web)
				if err != nil {
					b.Fatalf("%s websocket: %v", p.names[i], err)
				}
				ws50[i], ws99[i] = append(ws50[i], a), append(ws99[i], z)
			}
		}
		report(b, "http-small", "req/s", p.names, rps)
		report(b, "http-small-p50", "us", p.names, p50)
		report(b, "http-small-p99", "us", p.names, p99)
		report(b, "http-1MiB", "MB/s", p.names, big)
		report(b, "http-small-cpu", "us/req", p.names, cpuReq)
		report(b, "http-1MiB-cpu", "us/MB", p.names, cpuMB)
		report(b, "ws-1KiB-echo-p50", "us", p.names, ws50)
		report(b, "ws-1KiB-echo-p99", "us", p.names, ws99)
	}
}

func newClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		MaxIdleConnsPerHost: httpClients, MaxConnsPerHost: httpClients, DisableCompression: true,
		DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
	}, Timeout: 30 * time.Second}
}

func get(c *http.Client, addr, path string) (int64, error) {
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		return 0, err
	}
	req.Host = webHost
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("status %d", resp.StatusCode)
	}
	return n, err
}

// smallResult is a smallRequests run: requests completed, requests/s, and
// p50 and p99 latency in microseconds.
type smallResult struct {
	n             int
	rps, p50, p99 float64
}

// smallRequests loads addr with httpClients keep-alive clients for
// httpWindow.
func smallRequests(addr string) (smallResult, error) {
	c := newClient()
	defer c.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), httpWindow)
	defer cancel()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		lat   []float64
		first atomic.Pointer[error]
	)
	start := time.Now()
	for range httpClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []float64
			for ctx.Err() == nil {
				t := time.Now()
				if _, err := get(c, addr, "/small"); err != nil {
					first.CompareAndSwap(nil, &err)
					return
				}
				mine = append(mine, float64(time.Since(t).Microseconds()))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if e := first.Load(); e != nil {
		return smallResult{}, *e
	}
	if len(lat) == 0 {
		return smallResult{}, fmt.Errorf("no request completed")
	}
	slices.Sort(lat)
	return smallResult{n: len(lat), rps: float64(len(lat)) / time.Since(start).Seconds(), p50: lat[len(lat)/2], p99: lat[len(lat)*99/100]}, nil
}

// bigResponses fetches 1 MiB responses one after another on one keep-alive
// connection and returns MB/s and the bytes received.
func bigResponses(addr string) (mbps float64, total int64, err error) {
	c := newClient()
	defer c.CloseIdleConnections()
	start := time.Now()
	for range 64 {
		n, err := get(c, addr, "/big")
		if err != nil {
			return 0, 0, err
		}
		total += n
	}
	return float64(total) / time.Since(start).Seconds() / 1e6, total, nil
}

// wsEcho sends 1 KiB binary messages over one WebSocket and times each
// echo; it returns p50 and p99 in microseconds.
func wsEcho(addr string) (p50, p99 float64, err error) {
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	c, _, err := d.Dial("ws://"+addr+"/ws", http.Header{"Host": {webHost}})
	if err != nil {
		return 0, 0, err
	}
	defer c.Close()
	msg := make([]byte, 1024)
	lat := make([]float64, 0, wsEchoes)
	_ = c.SetReadDeadline(time.Now().Add(time.Minute))
	for range wsEchoes {
		t := time.Now()
		if err := c.WriteMessage(websocket.BinaryMessage, msg); err != nil {
			return 0, 0, err
		}
		if _, got, err := c.ReadMessage(); err != nil || len(got) != len(msg) {
			return 0, 0, fmt.Errorf("echo: %d bytes, %v", len(got), err)
		}
		lat = append(lat, float64(time.Since(t).Microseconds()))
	}
	slices.Sort(lat)
	return lat[len(lat)/2], lat[len(lat)*99/100], nil
}
