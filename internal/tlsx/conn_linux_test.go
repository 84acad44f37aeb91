package tlsx_test

import (
	"io"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/burrowproject/burrow/internal/testutil"
)

// holdBack forwards a write but its last tail bytes, which release sends.
type holdBack struct {
	net.Conn
	mu   sync.Mutex
	tail int
	held []byte
}

func (h *holdBack) Write(p []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.tail > 0 && len(p) > h.tail {
		h.held = append([]byte(nil), p[len(p)-h.tail:]...)
		h.tail = 0
		if _, err := h.Conn.Write(p[:len(p)-len(h.held)]); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return h.Conn.Write(p)
}

func (h *holdBack) release() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := h.Conn.Write(h.held)
	return err
}

// awaitQueued waits until c's socket has at least n bytes to read.
func awaitQueued(t *testing.T, c net.Conn, n int) {
	t.Helper()
	rc, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(testutil.Wait)
	for {
		var q int32
		_ = rc.Control(func(fd uintptr) {
			_, _, _ = syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCINQ, uintptr(unsafe.Pointer(&q)))
		})
		if int(q) >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d bytes queued, waited for %d", q, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestConnReadGathers: after a full record, a Read goes on with the
// records that have arrived, and stops short of one that has only partly
// arrived instead of waiting for it.
func TestConnReadGathers(t *testing.T) {
	t.Parallel()
	c, s := tcpPair(t)
	hb := &holdBack{Conn: c}
	client, server := tlsPair(t, hb, s)
	defer client.Close()
	defer server.Close()

	const record = 16 << 10
	// Past tls.Conn's dynamic record sizing (small records for the first
	// 128 KiB), records are full.
	warm := make([]byte, 256<<10)
	go func() { _, _ = client.Write(warm) }()
	if _, err := io.ReadFull(server, make([]byte, len(warm))); err != nil {
		t.Fatal(err)
	}
	msg := make([]byte, 4*record)
	hb.mu.Lock()
	hb.tail = 100 // the last record's end stays behind
	hb.mu.Unlock()
	if _, err := client.Write(msg); err != nil {
		t.Fatal(err)
	}
	awaitQueued(t, s, 4*(record+22)-100)
	buf := make([]byte, len(msg))
	n, err := server.Read(buf)
	if err != nil || n != 3*record {
		t.Fatalf("Read = %d, %v; want the 3 whole records (%d) at once", n, err, 3*record)
	}
	if err := hb.release(); err != nil {
		t.Fatal(err)
	}
	n, err = server.Read(buf)
	if err != nil || n != record {
		t.Fatalf("Read = %d, %v; want the last record (%d)", n, err, record)
	}

	// A small message is returned as it comes.
	if _, err := client.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	if n, err := server.Read(buf); err != nil || string(buf[:n]) != "ping" {
		t.Fatalf("Read = %q, %v", buf[:n], err)
	}
}

// TestConnWriteNoAllocs: a bulk Write allocates nothing once the
// connection is past its first records (the bytes are taken off the
// socket raw here; tls.Conn's own Read allocates a reader per socket read,
// with Conn as without).
func TestConnWriteNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop what it is given")
	}
	c, s := tcpPair(t)
	client, server := tlsPair(t, c, s)
	defer client.Close()
	defer server.Close()
	msg := make([]byte, 64<<10)
	const wire = 4 * (16<<10 + 22) // 4 full TLS 1.3 records: header, content type, tag
	buf := make([]byte, wire)
	round := func() {
		if _, err := client.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(s, buf); err != nil {
			t.Fatal(err)
		}
	}
	for range 4 { // past dynamic record sizing (the first 128 KiB)
		if _, err := client.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(server, msg); err != nil {
			t.Fatal(err)
		}
	}
	if a := testing.AllocsPerRun(50, round); a != 0 {
		t.Fatalf("%.1f allocations per 64 KiB written", a)
	}
}
