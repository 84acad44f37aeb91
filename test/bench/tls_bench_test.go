package bench

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/burrowproject/burrow/internal/tlsx"
)

// BenchmarkTLSRecords is TLS's own cost on one connection, without a
// tunnel around it: a bulk stream over loopback in 64 KiB writes and 64
// KiB reads (what Join's copies do), over plain TCP, over crypto/tls as it
// comes (a write per 16 KiB record) and over tlsx.Conn (what bridge TLS
// uses: the records of one write in one system call). Both ends run in
// this process, so CPU per GiB counts a seal and an open of every byte;
// "-extra" is what TLS adds over plain TCP, to set beside
// BenchmarkAESGCMSeal and BenchmarkAESGCMOpen.
func BenchmarkTLSRecords(b *testing.B) {
	cert, err := tlsx.SelfSigned("127.0.0.1")
	if err != nil {
		b.Fatal(err)
	}
	server, fp := tlsx.ServerConfigFor(cert)
	client := tlsx.ClientConfig(tlsx.ClientOptions{ServerName: "127.0.0.1", Fingerprint: fp})
	modes := []struct {
		name string
		wrap func(c net.Conn, server bool) net.Conn
	}{
		{"tcp", nil},
		{"tls", func(c net.Conn, s bool) net.Conn {
			if s {
				return tls.Server(c, server)
			}
			return tls.Client(c, client)
		}},
		{"tlsx", func(c net.Conn, s bool) net.Conn {
			if s {
				return tlsx.Server(c, server)
			}
			return tlsx.Client(c, client)
		}},
	}
	suite, err := negotiated(server, client)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("bridge TLS negotiates %s", suite)
	bulk, _ := workload()
	for range b.N {
		mbps := make([][]float64, len(modes))
		cpus := make([][]float64, len(modes))
		for range rounds {
			for i, m := range modes {
				d, cpu, err := tlsBulk(m.wrap, bulk)
				if err != nil {
					b.Fatalf("%s: %v", m.name, err)
				}
				mbps[i] = append(mbps[i], float64(bulk)/d.Seconds()/1e6)
				cpus[i] = append(cpus[i], float64(cpu.Milliseconds())/(float64(bulk)/(1<<30)))
			}
		}
		for i, m := range modes {
			b.ReportMetric(median(mbps[i]), m.name+"-MB/s")
			b.ReportMetric(median(cpus[i]), m.name+"-cpu-ms/GiB")
			if i > 0 {
				b.ReportMetric(median(cpus[i])-median(cpus[0]), m.name+"-extra-cpu-ms/GiB")
			}
		}
	}
}

// tlsBulk sends n bytes over a fresh loopback connection, wrapped at both
// ends by wrap (nil: plain TCP), and returns how long it took and the CPU
// this process used meanwhile.
func tlsBulk(wrap func(net.Conn, bool) net.Conn, n int64) (time.Duration, time.Duration, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, 0, err
	}
	defer ln.Close()
	type result struct {
		n   int64
		err error
	}
	got := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- result{err: err}
			return
		}
		if wrap != nil {
			c = wrap(c, true)
		}
		defer c.Close()
		buf := make([]byte, 64<<10)
		var total int64
		for {
			m, err := c.Read(buf)
			total += int64(m)
			if err == io.EOF {
				got <- result{n: total}
				return
			}
			if err != nil {
				got <- result{n: total, err: err}
				return
			}
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return 0, 0, err
	}
	if wrap != nil {
		c = wrap(c, false)
		if err := c.(interface{ Handshake() error }).Handshake(); err != nil {
			_ = c.Close()
			return 0, 0, fmt.Errorf("handshake: %w", err)
		}
	}
	buf := make([]byte, 64<<10)
	start, cpu0 := time.Now(), cpuTime()
	for sent := int64(0); sent < n; sent += int64(len(buf)) {
		if _, err := c.Write(buf); err != nil {
			_ = c.Close()
			return 0, 0, err
		}
	}
	_ = c.Close()
	r := <-got
	d, cpu := time.Since(start), cpuTime()-cpu0
	if r.err != nil {
		return 0, 0, r.err
	}
	if r.n < n {
		return 0, 0, fmt.Errorf("received %d bytes of %d", r.n, n)
	}
	return d, cpu, nil
}

// negotiated is the TLS version and cipher suite a bridge and an agent
// with these configurations agree on.
func negotiated(server, client *tls.Config) (string, error) {
	a, z := net.Pipe()
	defer a.Close()
	defer z.Close()
	s := tlsx.Server(z, server)
	errc := make(chan error, 1)
	go func() { errc <- s.Handshake() }()
	c := tlsx.Client(a, client)
	if err := c.Handshake(); err != nil {
		return "", err
	}
	if err := <-errc; err != nil {
		return "", err
	}
	st := c.ConnectionState()
	return tls.VersionName(st.Version) + " " + tls.CipherSuiteName(st.CipherSuite), nil
}
