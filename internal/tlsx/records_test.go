package tlsx_test

import (
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/burrowproject/burrow/internal/testutil"
	"github.com/burrowproject/burrow/internal/tlsx"
)

// chunked is a connection whose reads return the next of its sizes (at
// most what the reader asks), of a stream given whole.
type chunked struct {
	net.Conn
	stream []byte
	rng    *rand.Rand
}

func (c *chunked) Read(p []byte) (int, error) {
	if len(c.stream) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.stream[:min(len(c.stream), 1+c.rng.IntN(40<<10))])
	c.stream = c.stream[n:]
	return n, nil
}

// records is a stream of TLS-shaped records of the given body sizes; the
// body bytes of record i are all byte(i).
func records(sizes []int) (stream []byte, ends []int) {
	for i, n := range sizes {
		stream = append(stream, 23, 3, 3, 0, 0)
		binary.BigEndian.PutUint16(stream[len(stream)-2:], uint16(n))
		stream = append(stream, bytes.Repeat([]byte{byte(i)}, n)...)
		ends = append(ends, len(stream))
	}
	return stream, ends
}

// Whatever the socket's reads and the reader's buffers, a RecordConn
// delivers the stream unchanged and no read crosses the end of a record.
func TestRecordConnNeverReadsPastARecord(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 50 {
		sizes := make([]int, 1+rng.IntN(40))
		for i := range sizes {
			switch rng.IntN(4) {
			case 0:
				sizes[i] = 0
			case 1:
				sizes[i] = 1 + rng.IntN(8)
			default:
				sizes[i] = rng.IntN(16<<10 + 256)
			}
		}
		stream, ends := records(sizes)
		rc := tlsx.NewRecordConn(&chunked{stream: append([]byte(nil), stream...), rng: rng})
		var got []byte
		for reads := 0; ; reads++ {
			if reads > 100000 {
				t.Fatal("the stream never ended")
			}
			p := make([]byte, 1+rng.IntN(20<<10))
			n, err := rc.Read(p)
			start := len(got)
			got = append(got, p[:n]...)
			for _, e := range ends {
				if start < e && e < len(got) {
					t.Fatalf("round %d: a read of [%d, %d) crosses the record end at %d", round, start, len(got), e)
				}
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(got, stream) {
			t.Fatalf("round %d: %d bytes delivered of %d, or changed", round, len(got), len(stream))
		}
		if rc.Buffered() {
			t.Fatalf("round %d: bytes still buffered after the end", round)
		}
	}
}

// tlsPair is a TLS connection pair over loopback TCP, each end over a
// RecordConn when records is set; it returns the client, the server and
// the server's RecordConn (nil without).
func tlsPair(t *testing.T, records bool) (*tls.Conn, *tls.Conn, *tlsx.RecordConn, *net.TCPConn) {
	t.Helper()
	cert, err := tlsx.SelfSigned("x")
	if err != nil {
		t.Fatal(err)
	}
	a, b := testutil.TCPPair(t)
	var ca, cb net.Conn = a, b
	var rc *tlsx.RecordConn
	if records {
		ca, rc = tlsx.NewRecordConn(a), tlsx.NewRecordConn(b)
		cb = rc
	}
	client, server := testutil.TLSPair(t, ca, cb, &tls.Config{Certificates: []tls.Certificate{cert}})
	return client, server, rc, b
}

// readable reports whether the socket has bytes to read now.
func readable(t *testing.T, c *net.TCPConn) bool {
	t.Helper()
	raw, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var perr error
	if err := raw.Control(func(fd uintptr) {
		var b [1]byte
		_, _, perr = syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	}); err != nil {
		t.Fatal(err)
	}
	return perr == nil
}

// Over a RecordConn, once tls.Conn's Read returned less than asked and
// nothing is buffered, the rest of the stream is still in the socket: a
// reader may wait for the socket instead of in Read. Without one TLS reads
// records ahead, and the same check finds bytes that only a Read returns.
func TestTLSOverRecordConnLeavesTheRestInTheSocket(t *testing.T) {
	t.Parallel()
	for _, records := range []bool{true, false} {
		client, server, rc, sock := tlsPair(t, records)
		// Many small records at once: they arrive together, and without
		// RecordConn one socket read takes several.
		const messages, size = 64, 100
		for i := range messages {
			if _, err := client.Write(bytes.Repeat([]byte{byte(i)}, size)); err != nil {
				t.Fatal(err)
			}
		}
		deadline := time.Now().Add(testutil.Wait)
		for !readable(t, sock) && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		time.Sleep(20 * time.Millisecond) // all of them in the socket
		buf := make([]byte, 64<<10)
		var got []byte
		stuck := false
		for len(got) < messages*size {
			_ = server.SetReadDeadline(time.Now().Add(testutil.Wait))
			n, err := server.Read(buf)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, buf[:n]...)
			if n < len(buf) && len(got) < messages*size && (rc == nil || !rc.Buffered()) && !readable(t, sock) {
				stuck = true
				break
			}
		}
		switch {
		case records && stuck:
			t.Fatalf("over a RecordConn: %d of %d bytes read, the rest neither buffered nor in the socket", len(got), messages*size)
		case !records && !stuck:
			t.Fatal("without a RecordConn TLS read no record ahead: the check cannot tell")
		case records:
			for i := range messages {
				if !bytes.Equal(got[i*size:(i+1)*size], bytes.Repeat([]byte{byte(i)}, size)) {
					t.Fatalf("message %d changed", i)
				}
			}
		}
	}
}

// A socket error after bytes read ahead comes once they are read.
func TestRecordConnReturnsTheErrorAfterWhatIsAhead(t *testing.T) {
	t.Parallel()
	stream, _ := records([]int{3, 4})
	rc := tlsx.NewRecordConn(&failing{data: stream, err: errors.New("boom")})
	p := make([]byte, 64)
	if n, err := rc.Read(p); n != 8 || err != nil {
		t.Fatalf("first read: %d, %v; want the first record, no error", n, err)
	}
	if !rc.Buffered() {
		t.Fatal("the second record is not reported buffered")
	}
	if n, err := rc.Read(p); n != 9 || err != nil {
		t.Fatalf("second read: %d, %v; want the second record", n, err)
	}
	if n, err := rc.Read(p); n != 0 || err == nil || err.Error() != "boom" {
		t.Fatalf("third read: %d, %v; want the error", n, err)
	}
}

// failing returns all its data and its error in one read.
type failing struct {
	net.Conn
	data []byte
	err  error
}

func (f *failing) Read(p []byte) (int, error) {
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, f.err
}

// LargestRecord follows the longest record TLS read over its RecordConn:
// small after the handshake, full-size (16 KiB) once a bulk write arrived
// (past the small records of TLS's dynamic sizing), never less afterwards;
// 0 for TLS without a RecordConn.
func TestLargestRecord(t *testing.T) {
	t.Parallel()
	client, server, _, _ := tlsPair(t, true)
	read := func(n int) {
		t.Helper()
		_ = server.SetReadDeadline(time.Now().Add(testutil.Wait))
		if _, err := io.ReadFull(server, make([]byte, n)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := client.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	read(1)
	if got := tlsx.LargestRecord(server); got <= 0 || got >= 4<<10 {
		t.Fatalf("after the handshake and a byte, the largest record is %d, want a small one", got)
	}
	const bulk = 256 << 10
	werr := make(chan error, 1)
	go func() { _, err := client.Write(make([]byte, bulk)); werr <- err }()
	read(bulk)
	if err := <-werr; err != nil {
		t.Fatal(err)
	}
	if got := tlsx.LargestRecord(server); got < 16<<10 {
		t.Fatalf("after a 256 KiB write, the largest record is %d, want a full one", got)
	}
	if _, err := client.Write([]byte("y")); err != nil {
		t.Fatal(err)
	}
	read(1)
	if got := tlsx.LargestRecord(server); got < 16<<10 {
		t.Fatalf("a later small record lowered the largest to %d", got)
	}
	_, plainServer, _, _ := tlsPair(t, false)
	if got := tlsx.LargestRecord(plainServer); got != 0 {
		t.Fatalf("TLS without a RecordConn reports %d", got)
	}
}

// pieces is a connection whose reads return its pieces in turn (at most
// what the reader asks), then errNoMore: a read the test did not expect.
type pieces struct {
	net.Conn
	next  [][]byte
	reads int
}

var errNoMore = errors.New("read past the pieces: this read would wait")

func (c *pieces) Read(p []byte) (int, error) {
	c.reads++
	if len(c.next) == 0 {
		return 0, errNoMore
	}
	n := copy(p, c.next[0])
	if c.next[0] = c.next[0][n:]; len(c.next[0]) == 0 {
		c.next = c.next[1:]
	}
	return n, nil
}

// A record that arrives in parts (the bridge peeks at a hello's first
// bytes, so TLS's first read gets those alone) is handed to TLS whole by
// one Read when it fits: TLS would otherwise grow its read buffer to ask
// for the rest, and that buffer never shrinks (a pooled link's idle
// memory). Nothing is read beyond the record.
func TestRecordConnHandsASplitRecordWhole(t *testing.T) {
	t.Parallel()
	hello, _ := records([]int{380})
	hello[0] = 22 // a handshake record
	next, _ := records([]int{7})
	rc := tlsx.NewRecordConn(&pieces{next: [][]byte{hello[:16], hello[16:100], hello[100:], next}})
	p := make([]byte, 576) // the buffer a fresh tls.Conn reads its first record into
	if n, err := rc.Read(p); n != len(hello) || err != nil || !bytes.Equal(p[:n], hello) {
		t.Fatalf("read %d bytes (%v), want the record's %d", n, err, len(hello))
	}
	if n, err := rc.Read(p); n != len(next) || err != nil {
		t.Fatalf("read %d bytes (%v), want the next record's %d", n, err, len(next))
	}
	// Split within its header too.
	rc = tlsx.NewRecordConn(&pieces{next: [][]byte{hello[:2], hello[2:4], hello[4:]}})
	if n, err := rc.Read(p); n != len(hello) || err != nil {
		t.Fatalf("read %d bytes (%v) of a record split in its header, want %d", n, err, len(hello))
	}
}

// A split record is not read on when TLS would not read it: one that does
// not fit in the caller's buffer (TLS grows the buffer and reads into
// that), and one whose header TLS rejects (not a record of TLS 1.x: TLS
// fails it at once and must not wait for its body here). A failed read
// returns what came before it with its error.
func TestRecordConnReadsOnOnlyWhereTLSWould(t *testing.T) {
	t.Parallel()
	big, _ := records([]int{1000})
	junk := append([]byte{22, 0x7f, 0x7f, 0, 200}, bytes.Repeat([]byte{1}, 11)...)
	for _, tc := range []struct {
		name  string
		first []byte
	}{
		{"larger than the buffer", big[:16]},
		{"not a TLS record", junk},
	} {
		c := &pieces{next: [][]byte{tc.first}}
		rc := tlsx.NewRecordConn(c)
		if n, err := rc.Read(make([]byte, 576)); n != 16 || err != nil || c.reads != 1 {
			t.Fatalf("%s: read %d bytes (%v) in %d socket reads, want the 16 that came in 1", tc.name, n, err, c.reads)
		}
	}
	small, _ := records([]int{50})
	rc := tlsx.NewRecordConn(&pieces{next: [][]byte{small[:16]}})
	if n, err := rc.Read(make([]byte, 576)); n != 16 || !errors.Is(err, errNoMore) {
		t.Fatalf("read %d bytes (%v), want the 16 that came with the next read's error", n, err)
	}
}
