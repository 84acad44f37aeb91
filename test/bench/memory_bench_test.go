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
// and on.
func BenchmarkIdleMemory(b *testing.B) {
	for _, v := range []struct{ name, server, client string }{
		{"pool-tls0", "", ""},
		{"pool-tls1", "&tls=1", ""},
		{"streams-tls0", "", "&min=0"},
		{"streams-tls1", "&tls=1", "&min=0"},
	} {
		b.Run(v.name, func(b *testing.B) {
			for range b.N {
				kb, err := idleMemory(b, v.server, v.client, idleConns())
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(kb, "KB/conn")
			}
		})
	}
}

func idleMemory(b *testing.B, serverQuery, clientQuery string, n int) (float64, error) {
	f := framework.New(b)
	echo := f.TCPEcho()
	var (
		server, client *framework.Process
		userPort       int
		err            error
	)
	for range 3 { // a port taken meanwhile by another process on a shared machine: new ports
		bridgePort := f.Port()
		userPort = f.Port()
		key := "bench-idle-key"
		server = f.Burrow("server", fmt.Sprintf("server://%s@127.0.0.1:%d/127.0.0.1:%d?log=info%s", key, bridgePort, userPort, serverQuery))
		client = f.Burrow("client", fmt.Sprintf("client://%s@127.0.0.1:%d/%s?log=info&mode=2%s", key, bridgePort, echo, clientQuery))
		if err = client.WaitLog(`msg="connected to bridge"`, 10*time.Second); err == nil {
			break
		}
	}
	if err != nil {
		return 0, err
	}
	user := framework.Addr(userPort)
	one := func() (net.Conn, error) {
		c, err := net.DialTimeout("tcp", user, 5*time.Second)
		if err != nil {
			return nil, err
		}
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		var p [1]byte
		if _, err := c.Write([]byte{'x'}); err == nil {
			_, err = io.ReadFull(c, p[:])
		}
		if err != nil {
			_ = c.Close()
			return nil, err
		}
		_ = c.SetDeadline(time.Time{})
		return c, nil
	}
	if c, err := one(); err != nil { // warm up: the first link, the pool filled
		return 0, err
	} else {
		_ = c.Close()
	}
	time.Sleep(2 * time.Second)
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
	for range n {
		c, err := one()
		if err != nil {
			return 0, err
		}
		conns = append(conns, c)
	}
	time.Sleep(2 * time.Second) // the pool refills; both ends settle
	return float64(rss()-before) / float64(n) / 1024, nil
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
