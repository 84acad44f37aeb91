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
	wsSockets   = 64 // WebSockets echoing at once for the message rate
)

// BenchmarkHTTP measures, on each path: small-response requests/s and
// p50/p99 at 64 concurrent keep-alive clients, 1 MiB response throughput,
// WebSocket 1 KiB echo round trips on one socket, and the 1 KiB echo
// message rate of wsSockets sockets at once; and the CPU time of every process
// on the path (this one with the client and backends, the handler plugin
// processes, frp's) per small request and per MB of 1 MiB responses, which
// a loaded machine disturbs less than the rates. Through the tunnel the
// http instance routes by Host, so every request crosses the reverse proxy.
//
// One reverse proxy with nothing behind it but the backend (newProxy) is
// measured beside them for small requests and 1 MiB responses: the
// "proxy" figures, and each path's ratio to it (.../proxy), are what
// parsing every request and response costs before any tunnel does.
func BenchmarkHTTP(b *testing.B) {
	p := newPaths(b)
	proxy := newProxy(b, p.addrs[pathDirect].web)
	for range b.N {
		var proxyRPS, proxyBig, proxyCPU []float64
		rps := make([][]float64, len(p.names))
		p50 := make([][]float64, len(p.names))
		p99 := make([][]float64, len(p.names))
		big := make([][]float64, len(p.names))
		cpuReq := make([][]float64, len(p.names))
		cpuMB := make([][]float64, len(p.names))
		ws50 := make([][]float64, len(p.names))
		ws99 := make([][]float64, len(p.names))
		wsRate := make([][]float64, len(p.names))
		cpuMsg := make([][]float64, len(p.names))
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
				socks, err := dialWebSockets(to.web, wsSockets)
				if err != nil {
					b.Fatalf("%s websockets: %v", p.names[i], err)
				}
				cpu0 = p.cpu(i)
				msgs, rate, err := wsEchoRate(socks)
				if err == nil && msgs == 0 {
					err = fmt.Errorf("no echo completed")
				}
				if err != nil {
					b.Fatalf("%s websocket rate: %v", p.names[i], err)
				}
				cpuMsg[i] = append(cpuMsg[i], float64((p.cpu(i)-cpu0).Microseconds())/float64(msgs))
				wsRate[i] = append(wsRate[i], rate)
			}
			cpu0 := cpuTime()
			s, err := smallRequests(proxy)
			if err != nil {
				b.Fatalf("proxy small: %v", err)
			}
			proxyCPU = append(proxyCPU, float64((cpuTime()-cpu0).Microseconds())/float64(s.n))
			proxyRPS = append(proxyRPS, s.rps)
			mb, _, err := bigResponses(proxy)
			if err != nil {
				b.Fatalf("proxy big: %v", err)
			}
			proxyBig = append(proxyBig, mb)
		}
		reportProxy(b, "http-small", "req/s", p.names, rps, proxyRPS)
		reportProxy(b, "http-1MiB", "MB/s", p.names, big, proxyBig)
		reportProxy(b, "http-small-cpu", "us/req", p.names, cpuReq, proxyCPU)
		report(b, "http-small", "req/s", p.names, rps)
		report(b, "http-small-p50", "us", p.names, p50)
		report(b, "http-small-p99", "us", p.names, p99)
		report(b, "http-1MiB", "MB/s", p.names, big)
		report(b, "http-small-cpu", "us/req", p.names, cpuReq)
		report(b, "http-1MiB-cpu", "us/MB", p.names, cpuMB)
		report(b, "ws-1KiB-echo-p50", "us", p.names, ws50)
		report(b, "ws-1KiB-echo-p99", "us", p.names, ws99)
		report(b, fmt.Sprintf("ws-1KiB-echo-%d", wsSockets), "msg/s", p.names, wsRate)
		report(b, fmt.Sprintf("ws-1KiB-echo-%d-cpu", wsSockets), "us/msg", p.names, cpuMsg)
	}
}

// reportProxy writes the reverse proxy's median for what, its ratio to
// direct and to the relays, and the tunnel paths' ratios to it.
func reportProxy(b *testing.B, what, unit string, names []string, samples [][]float64, proxy []float64) {
	ref := median(proxy)
	b.ReportMetric(ref, what+"-proxy-"+unit)
	b.ReportMetric(ref/median(samples[pathDirect]), what+"-proxy/direct")
	b.ReportMetric(ref/median(samples[pathRelays]), what+"-proxy/relays")
	for i := pathInproc; i < len(names); i++ {
		b.ReportMetric(median(samples[i])/ref, what+"-"+names[i]+"/proxy")
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

// dialWebSockets opens n WebSockets to addr's echo.
func dialWebSockets(addr string, n int) ([]*websocket.Conn, error) {
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	socks := make([]*websocket.Conn, 0, n)
	for range n {
		c, _, err := d.Dial("ws://"+addr+"/ws", http.Header{"Host": {webHost}})
		if err != nil {
			for _, c := range socks {
				_ = c.Close()
			}
			return nil, err
		}
		socks = append(socks, c)
	}
	return socks, nil
}

// wsEchoRate echoes 1 KiB binary messages on every socket at once, one at
// a time on each, for httpWindow, closes the sockets and returns the
// echoes completed and their rate per second.
func wsEchoRate(socks []*websocket.Conn) (msgs int64, rate float64, err error) {
	defer func() {
		for _, c := range socks {
			_ = c.Close()
		}
	}()
	const most = 1 << 20 // per socket: the window ends the loop long before
	var (
		wg    sync.WaitGroup
		done  atomic.Int64
		first atomic.Pointer[error]
	)
	start := time.Now()
	end := start.Add(httpWindow)
	for _, c := range socks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg := make([]byte, 1024)
			_ = c.SetReadDeadline(end.Add(30 * time.Second))
			for n := 0; n < most && time.Now().Before(end); n++ {
				if err := c.WriteMessage(websocket.BinaryMessage, msg); err != nil {
					first.CompareAndSwap(nil, &err)
					return
				}
				if _, got, err := c.ReadMessage(); err != nil || len(got) != len(msg) {
					err = fmt.Errorf("echo: %d bytes, %v", len(got), err)
					first.CompareAndSwap(nil, &err)
					return
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	if e := first.Load(); e != nil {
		return 0, 0, *e
	}
	return done.Load(), float64(done.Load()) / time.Since(start).Seconds(), nil
}
