package bench

import (
	"crypto/aes"
	"crypto/cipher"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/burrowproject/burrow/test/e2e/framework"
)

// idleConns is how many idle connections BenchmarkIdleMemory holds open;
// BURROW_BENCH_IDLE changes it.
func idleConns() int {
	if v, err := strconv.Atoi(os.Getenv("BURROW_BENCH_IDLE")); err == nil && v > 0 {
		return v
	}
	return 1000
}

// BenchmarkIdleMemory holds idle connections open through a real
// server/client pair (two burrow processes, the binary of BURROW_BIN or
// one built on the fly) and reports what each costs, both ends together:
// the growth of the two processes' resident memory divided by the
// connections. Each connection echoes one byte first, so its link is up.
// With and without the pool of work connections (min=0), bridge TLS off
// (tls=0 on both ends: a client without tls= speaks TLS to a tls=0
// bridge) and on. Over the pool, connections open in batches smaller
// than the pool, each once the pool has refilled, so every link rides a
// work connection of its own (opened back to back, most would fall back
// to streams while the pool refills); pooled-% says how many did. The
// after64k variants echo 64 KiB first instead of a byte: a connection
// idle after it carried full-size records (crypto/tls keeps its read
// buffer at the largest record it received).
func BenchmarkIdleMemory(b *testing.B) {
	for _, v := range []struct {
		name, server, client string
		pool                 int
		first                int // bytes each connection echoes before it idles
	}{
		{"pool-tls0", "&tls=0", "&tls=0", idlePool, 1},
		{"pool-tls1", "&tls=1", "", idlePool, 1},
		{"streams-tls0", "&tls=0", "&tls=0&min=0", 0, 1},
		{"streams-tls1", "&tls=1", "&min=0", 0, 1},
		{"pool-tls0-after64k", "&tls=0", "&tls=0", idlePool, 64 << 10},
		{"pool-tls1-after64k", "&tls=1", "", idlePool, 64 << 10},
	} {
		b.Run(v.name, func(b *testing.B) {
			for range b.N {
				m, err := idleMemory(b, v.server, v.client, v.pool, v.first, idleConns())
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(m.kb, "KB/conn")
				if v.pool > 0 {
					b.ReportMetric(m.pooled, "pooled-%")
				}
			}
		})
	}
}

// idlePool is the agent's pool (min=) over the pool: the default.
const idlePool = 64

// idleBatch is how many connections open at once: less than the pool, so
// none finds it empty.
const idleBatch = idlePool / 4

type idleResult struct {
	kb     float64 // both processes' resident memory growth per connection
	pooled float64 // percent of the links on work connections of their own
}

func idleMemory(b *testing.B, serverQuery, clientQuery string, pool, first, n int) (idleResult, error) {
	var res idleResult
	f := framework.New(b)
	echo := f.TCPEcho()
	var (
		server, client       *framework.Process
		userPort, bridgePort int
		err                  error
	)
	for range 3 { // a port taken meanwhile by another process on a shared machine: new ports
		bridgePort = f.Port()
		userPort = f.Port()
		key := "bench-idle-key"
		server = f.Burrow("server", fmt.Sprintf("server://%s@127.0.0.1:%d/127.0.0.1:%d?log=info%s", key, bridgePort, userPort, serverQuery))
		client = f.Burrow("client", fmt.Sprintf("client://%s@127.0.0.1:%d/%s?log=info&mode=2%s", key, bridgePort, echo, clientQuery))
		if err = client.WaitLog(`msg="connected to bridge"`, 10*time.Second); err == nil {
			break
		}
	}
	if err != nil {
		return res, err
	}
	user := framework.Addr(userPort)
	// agentConns is the agent's connections to the bridge: its session,
	// its idle work connections and those that carry links.
	agentConns := func() (int, error) {
		return framework.ProcessConns([]int{client.PID()}, func(_, remote int) bool { return remote == bridgePort })
	}
	// refilled waits until the agent holds its session, a full pool and
	// the links of the open connections (at most a few seconds: a link
	// that fell back to a stream holds none).
	refilled := func(open int) error {
		if pool == 0 {
			return nil
		}
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			if c, err := agentConns(); err != nil || c >= 1+pool+open {
				return err
			}
		}
		return nil
	}
	payload, echoed := make([]byte, first), make([]byte, first)
	one := func() (net.Conn, error) {
		c, err := net.DialTimeout("tcp", user, 5*time.Second)
		if err != nil {
			return nil, err
		}
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		// The echo's socket buffers hold what is written before it is
		// read back (64 KiB: well within loopback's).
		if _, err := c.Write(payload); err == nil {
			_, err = io.ReadFull(c, echoed)
		}
		if err != nil {
			_ = c.Close()
			return nil, err
		}
		_ = c.SetDeadline(time.Time{})
		return c, nil
	}
	if c, err := one(); err != nil { // warm up: the first link, the pool filled
		return res, err
	} else {
		_ = c.Close()
	}
	time.Sleep(2 * time.Second)
	if err := refilled(0); err != nil {
		return res, err
	}
	rss := func() int64 {
		s, _ := framework.RSS(server.PID())
		c, _ := framework.RSS(client.PID())
		return s + c
	}
	before := rss()
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	for i := range n {
		c, err := one()
		if err != nil {
			return res, err
		}
		conns = append(conns, c)
		if i%idleBatch == idleBatch-1 {
			if err := refilled(len(conns)); err != nil {
				return res, err
			}
		}
	}
	if err := refilled(n); err != nil {
		return res, err
	}
	time.Sleep(2 * time.Second) // both ends settle
	res.kb = float64(rss()-before) / float64(n) / 1024
	if pool > 0 {
		c, err := agentConns()
		if err != nil {
			return res, err
		}
		res.pooled = 100 * float64(min(max(c-1-pool, 0), n)) / float64(n)
	}
	return res, nil
}

// BenchmarkAESGCMSeal is the cipher's own cost on this CPU: sealing
// full-size TLS records (16 KiB) with AES-128-GCM, reported as GB/s and
// CPU seconds per GB, the floor under bridge TLS's extra cost per GB (one
// seal and one open per byte per hop).
func BenchmarkAESGCMSeal(b *testing.B) {
	block, err := aes.NewCipher(make([]byte, 16))
	if err != nil {
		b.Fatal(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		b.Fatal(err)
	}
	record := make([]byte, 16<<10)
	out := make([]byte, 0, len(record)+aead.Overhead())
	nonce := make([]byte, aead.NonceSize())
	const total = 1 << 30
	for range b.N {
		start := time.Now()
		for range total / len(record) {
			out = aead.Seal(out[:0], nonce, record, nil)
		}
		s := time.Since(start).Seconds()
		b.ReportMetric(total/s/1e9, "GB/s")
		b.ReportMetric(s*1e9/total, "cpu-s/GB")
	}
}
