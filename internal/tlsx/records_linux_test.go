package tlsx_test

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/burrowproject/burrow/internal/testutil"
	"github.com/burrowproject/burrow/internal/tlsx"
)

// counted counts the reads and writes that reach its connection.
type counted struct {
	net.Conn
	reads, writes atomic.Int64
}

func (c *counted) Read(p []byte) (int, error) {
	c.reads.Add(1)
	return c.Conn.Read(p)
}

func (c *counted) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// Buffered and NetConn let a RecordConn read the socket under c without
// waiting (see RecordConn.Read), which tlsx.Looks counts.
func (c *counted) Buffered() int     { return 0 }
func (c *counted) NetConn() net.Conn { return c.Conn }

// countedPair is TLS over RecordConns over counted TCP connections; the
// server writes full-size records from its first byte, and the client
// has read the server's session ticket.
func countedPair(t *testing.T) (client, server *tls.Conn, crc *tlsx.RecordConn, csock, ssock *counted, craw *net.TCPConn) {
	t.Helper()
	cert, err := tlsx.SelfSigned("x")
	if err != nil {
		t.Fatal(err)
	}
	a, b := testutil.TCPPair(t)
	csock, ssock = &counted{Conn: a}, &counted{Conn: b}
	crc = tlsx.NewRecordConn(csock)
	client, server = testutil.TLSPair(t, crc, tlsx.NewRecordConn(ssock),
		&tls.Config{Certificates: []tls.Certificate{cert}, DynamicRecordSizingDisabled: true})
	if _, err := server.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	_ = client.SetReadDeadline(time.Now().Add(testutil.Wait))
	if _, err := io.ReadFull(client, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	return client, server, crc, csock, ssock, a
}

// inSocket waits until socket c holds n bytes to read.
func inSocket(t *testing.T, c *net.TCPConn, n int) {
	t.Helper()
	raw, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(testutil.Wait); ; time.Sleep(time.Millisecond) {
		var queued int
		if err := raw.Control(func(fd uintptr) {
			queued, _ = unix.IoctlGetInt(int(fd), unix.SIOCINQ)
		}); err != nil {
			t.Fatal(err)
		}
		if queued >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d bytes in the socket", queued, n)
		}
	}
}

// A frame of four full records written with WriteRecords goes to the
// socket in one write, where TLS's own Write makes four; read while
// RecordReady says the next record waits, it comes from the reads of its
// first record and one look at the socket for the rest, unchanged.
func TestWriteRecordsAndRecordReadyMoveAFrameAtOnce(t *testing.T) {
	t.Parallel()
	client, server, crc, csock, ssock, craw := countedPair(t)
	frame := make([]byte, 64<<10)
	for i := range frame {
		frame[i] = byte(i / 7)
	}
	const wire = 4 * (16<<10 + 22) // four records and their overhead
	for _, batched := range []bool{false, true} {
		w0, r0 := ssock.writes.Load(), csock.reads.Load()+int64(tlsx.Looks(crc))
		var err error
		if batched {
			_, err = tlsx.WriteRecords(server, frame)
		} else {
			_, err = server.Write(frame)
		}
		if err != nil {
			t.Fatal(err)
		}
		writes := ssock.writes.Load() - w0
		switch {
		case batched && writes != 1:
			t.Fatalf("WriteRecords: %d socket writes for a frame of four records, want 1", writes)
		case !batched && writes != 4:
			t.Fatalf("TLS's Write: %d socket writes for four records, want 4: the check cannot tell", writes)
		}
		inSocket(t, craw, wire)
		got := make([]byte, len(frame))
		_ = client.SetReadDeadline(time.Now().Add(testutil.Wait))
		n, err := client.Read(got)
		for err == nil && n < len(got) && tlsx.RecordReady(client) {
			var m int
			m, err = client.Read(got[n:])
			n += m
		}
		if err != nil || n != len(frame) || !bytes.Equal(got, frame) {
			t.Fatalf("read %d of %d bytes (%v), or they changed", n, len(frame), err)
		}
		// The first record read as TLS asks (its header first, then the
		// rest, when TLS's buffer is small), then the rest in one look.
		if reads := csock.reads.Load() + int64(tlsx.Looks(crc)) - r0; reads > 3 {
			t.Fatalf("%d socket reads for a frame that waited whole, want 3 at most", reads)
		}
		if tlsx.RecordReady(client) {
			t.Fatal("a record reported ahead after the frame was read")
		}
	}
	if tlsx.RecordReady(&net.TCPConn{}) {
		t.Fatal("a connection without TLS reports a record ahead")
	}
}

// A batch whose write to the socket failed fails WriteRecords, and every
// write after it, even once the socket could take one again: TLS sealed
// the batch's records, so a later record would reach the peer out of its
// sequence.
func TestWriteRecordsFailsWhenItsBatchDoes(t *testing.T) {
	t.Parallel()
	_, server, _, _, ssock, _ := countedPair(t)
	raw := ssock.Conn.(*net.TCPConn)
	_ = raw.SetWriteDeadline(time.Now().Add(-time.Second))
	if _, err := tlsx.WriteRecords(server, make([]byte, 64<<10)); err == nil {
		t.Fatal("WriteRecords past its socket's write deadline: no error")
	}
	_ = raw.SetWriteDeadline(time.Time{})
	if _, err := server.Write([]byte("y")); err == nil {
		t.Fatal("a write after the failed batch went out")
	}
}

// A reset found by a read that did not wait (the connection was hot: its
// last record a full one) is the read's error, as the socket's own read
// would report it: a reset, not an end.
func TestRecordConnReportsAResetFoundWithoutWaiting(t *testing.T) {
	t.Parallel()
	client, server, crc, _, ssock, _ := countedPair(t)
	full := make([]byte, 16<<10)
	if _, err := server.Write(full); err != nil {
		t.Fatal(err)
	}
	_ = client.SetReadDeadline(time.Now().Add(testutil.Wait))
	if _, err := io.ReadFull(client, make([]byte, len(full))); err != nil {
		t.Fatal(err)
	}
	raw := ssock.Conn.(*net.TCPConn)
	_ = raw.SetLinger(0)
	_ = raw.Close()
	time.Sleep(20 * time.Millisecond) // the reset arrives
	looks := tlsx.Looks(crc)
	_, err := client.Read(make([]byte, 1))
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read after the peer's reset: %v, want a reset", err)
	}
	if tlsx.Looks(crc) != looks+1 {
		t.Fatal("the read waited instead of looking: the check cannot tell")
	}
}
