//go:build unix

package dgram_test

import (
	"bytes"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/burrowproject/burrow/internal/dgram"
	"github.com/burrowproject/burrow/internal/testutil"
)

func TestMain(m *testing.M) { testutil.VerifyNoLeaks(m) }

func TestPoolClasses(t *testing.T) {
	t.Parallel()
	var p dgram.Pool
	for _, tc := range []struct{ n, cap int }{{0, 512}, {1, 512}, {512, 512}, {513, 2048}, {9000, 16 << 10}, {dgram.Max, dgram.Max + 2}, {dgram.Max + 2, dgram.Max + 2}} {
		b := p.Get(tc.n)
		if len(*b) != tc.n || cap(*b) != tc.cap {
			t.Errorf("Get(%d): len %d cap %d, want cap %d", tc.n, len(*b), cap(*b), tc.cap)
		}
		p.Put(b)
	}
	foreign := make([]byte, 100, 1000)
	p.Put(&foreign) // not a class size: dropped, never handed out
	if b := p.Get(100); cap(*b) != 512 {
		t.Fatalf("a foreign buffer of cap %d came back", cap(*b))
	}
	if c := p.Copy([]byte("abc")); string(*c) != "abc" {
		t.Fatalf("Copy = %q", *c)
	}
}

// socketpair returns both ends of a SOCK_SEQPACKET pair as conns.
func socketpair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_SEQPACKET, 0)
	if err != nil {
		t.Skipf("no seqpacket socket pairs here: %v", err)
	}
	var conns [2]net.Conn
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "socketpair")
		c, err := net.FileConn(f)
		_ = f.Close()
		if err != nil {
			t.Fatal(err)
		}
		conns[i] = c
		t.Cleanup(func() { _ = c.Close() })
	}
	return conns[0], conns[1]
}

func TestReadPacketSocketPair(t *testing.T) {
	t.Parallel()
	a, b := socketpair(t)
	var p dgram.Pool
	for _, size := range []int{1, 700, 9000, 60000} {
		msg := bytes.Repeat([]byte{byte(size)}, size)
		if _, err := a.Write(msg); err != nil {
			t.Fatal(err)
		}
		got, err := dgram.ReadPacket(b, &p)
		if err != nil || !bytes.Equal(*got, msg) {
			t.Fatalf("datagram of %d bytes read as %d, %v", size, len(*got), err)
		}
		// Only the datagram's size class is kept, not a 64 KiB buffer.
		if size < 16<<10 && cap(*got) > 16<<10 {
			t.Errorf("a %d-byte datagram holds a buffer of %d", size, cap(*got))
		}
		p.Put(got)
	}
	_ = a.Close()
	if _, err := dgram.ReadPacket(b, &p); err == nil {
		t.Fatal("no error after the peer closed")
	}
}

// Join relays both ways over a UDP socket and a socket pair, counts, and
// ends both at the idle period.
func TestJoinRelaysCountsAndIdles(t *testing.T) {
	t.Parallel()
	echo := testutil.ServeUDPEcho(t)
	udp, err := net.Dial("udp", echo)
	if err != nil {
		t.Fatal(err)
	}
	user, link := socketpair(t)
	var in, out atomic.Int64
	done := make(chan error, 1)
	go func() {
		done <- dgram.Join(link, udp, dgram.Shared, dgram.JoinOptions{AToB: &in, BToA: &out, Idle: 300 * time.Millisecond})
	}()
	_ = user.SetDeadline(time.Now().Add(testutil.Wait))
	buf := make([]byte, 2048)
	for i := range 5 {
		msg := bytes.Repeat([]byte{'x'}, 100+i)
		if _, err := user.Write(msg); err != nil {
			t.Fatal(err)
		}
		n, err := user.Read(buf)
		if err != nil || !bytes.Equal(buf[:n], msg) {
			t.Fatalf("echo %d: %q, %v", i, buf[:n], err)
		}
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Join ended with %v after the idle period", err)
		}
	case <-time.After(testutil.Wait):
		t.Fatal("Join did not end at the idle period")
	}
	if want := int64(100 + 101 + 102 + 103 + 104); in.Load() != want || out.Load() != want {
		t.Fatalf("counted %d in, %d out; want %d each way", in.Load(), out.Load(), want)
	}
}

// TryWrite sends while the socket takes datagrams at once and says false,
// without waiting, once its buffer is full; every datagram it sent arrives
// whole and in order. A conn that is no socket gets no TryWriter.
func TestTryWriteNeverWaits(t *testing.T) {
	t.Parallel()
	a, b := socketpair(t)
	w := dgram.NewTryWriter(a)
	if w == nil {
		t.Fatal("no TryWriter for a socket")
	}
	msg := bytes.Repeat([]byte{'d'}, 1000)
	sent := 0
	for ; sent < 100_000; sent++ {
		msg[0] = byte(sent)
		ok, err := w.TryWrite(msg)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
	}
	if sent == 0 || sent == 100_000 {
		t.Fatalf("TryWrite sent %d datagrams before the socket was full", sent)
	}
	_ = b.SetReadDeadline(time.Now().Add(testutil.Wait))
	var p dgram.Pool
	for i := range sent {
		got, err := dgram.ReadPacket(b, &p)
		if err != nil || len(*got) != len(msg) || (*got)[0] != byte(i) {
			t.Fatalf("datagram %d of %d: %d bytes, %v", i, sent, len(*got), err)
		}
		p.Put(got)
	}
	if ok, err := w.TryWrite(msg); !ok || err != nil {
		t.Fatalf("TryWrite on a drained socket: %v, %v", ok, err)
	}
	if dgram.NewTryWriter(struct{ net.Conn }{a}) != nil {
		t.Fatal("a TryWriter for a conn that is no socket")
	}
}

// A Reader of a UDP socket allocates nothing per datagram (the buffer
// comes from the pool and goes back to it).
func TestReaderAllocatesNothingPerDatagram(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop buffers")
	}
	a, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := net.DialUDP("udp", nil, a.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var pool dgram.Pool
	r := dgram.NewReader(b, &pool)
	to := b.LocalAddr().(*net.UDPAddr).AddrPort()
	msg := []byte("datagram")
	allocs := testing.AllocsPerRun(200, func() {
		if _, err := a.WriteToUDPAddrPort(msg, to); err != nil {
			t.Fatal(err)
		}
		p, err := r.Read()
		if err != nil || string(*p) != string(msg) {
			t.Fatalf("read %q, %v", *p, err)
		}
		pool.Put(p)
	})
	if allocs > 0 {
		t.Fatalf("%.1f allocations per datagram read", allocs)
	}
}
