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
// and WebSocket 1 KiB echo round trips. Through the tunnel the http
// instance routes by Host, so every request crosses the reverse proxy.
func BenchmarkHTTP(b *testing.B) {
	p := newPaths(b)
	for range b.N {
		rps := make([][]float64, len(p.names))
		p50 := make([][]float64, len(p.names))
		p99 := make([][]float64, len(p.names))
		big := make([][]float64, len(p.names))
		ws50 := make([][]float64, len(p.names))
		ws99 := make([][]float64, len(p.names))
		for range rounds {
			for i, to := range p.addrs {
				r, a, z, err := smallRequests(to.web)
				if err != nil {
					b.Fatalf("%s small: %v", p.names[i], err)
				}
				rps[i], p50[i], p99[i] = append(rps[i], r), append(p50[i], a), append(p99[i], z)
				mb, err := bigResponses(to.web)
				if err != nil {
					b.Fatalf("%s big: %v", p.names[i], err)
				}
				big[i] = append(big[i], mb)
				a, z, err = wsEcho(to.web)
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

// smallRequests loads addr with httpClients keep-alive clients for
// httpWindow and returns requests/s, p50 and p99 in microseconds.
func smallRequests(addr string) (rps, p50, p99 float64, err error) {
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
		return 0, 0, 0, *e
	}
	if len(lat) == 0 {
		return 0, 0, 0, fmt.Errorf("no request completed")
	}
	slices.Sort(lat)
	return float64(len(lat)) / time.Since(start).Seconds(), lat[len(lat)/2], lat[len(lat)*99/100], nil
}

// bigResponses fetches 1 MiB responses one after another on one keep-alive
// connection and returns MB/s.
func bigResponses(addr string) (float64, error) {
	c := newClient()
	defer c.CloseIdleConnections()
	var total int64
	start := time.Now()
	for range 64 {
		n, err := get(c, addr, "/big")
		if err != nil {
			return 0, err
		}
		total += n
	}
	return float64(total) / time.Since(start).Seconds() / 1e6, nil
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
