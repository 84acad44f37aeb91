//go:build unix

package dgram_test

import (
	"bytes"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/burrowproject/burrow/bridge"
	"github.com/burrowproject/burrow/internal/dgram"
	"github.com/burrowproject/burrow/internal/testutil"
)

// writeCounter counts the writes that reach a stream.
type writeCounter struct {
	net.Conn
	writes atomic.Int64
}

func (w *writeCounter) Write(p []byte) (int, error) {
	w.writes.Add(1)
	return w.Conn.Write(p)
}

// Towards a link that takes batches, the datagrams a socket holds already
// go in one write each batch: at most BatchLen datagrams, within
// BatchBytes (a datagram that does not fit starts the next batch); every
// datagram arrives whole, in order, and is counted; the source's end
// after a batch still ends the join once the batch is written.
func TestJoinBatchesWhatTheSocketHolds(t *testing.T) {
	t.Parallel()
	user, link := socketpair(t)
	near, far := testutil.TCPPair(t)
	wc := &writeCounter{Conn: near}
	var in atomic.Int64
	var sent [][]byte
	send := func(msg []byte) {
		t.Helper()
		if _, err := user.Write(msg); err != nil {
			t.Fatal(err)
		}
		sent = append(sent, msg)
	}
	for i := range dgram.BatchLen + 6 {
		send(bytes.Repeat([]byte{byte(i)}, 1+i%7))
	}
	big := (dgram.BatchBytes - 8) / 2 // two fit one batch, a third does not
	for i := range 3 {
		send(bytes.Repeat([]byte{'A' + byte(i)}, big))
	}
	_ = user.(interface{ CloseWrite() error }).CloseWrite() // the socket's end, read after what waits

	done := make(chan error, 1)
	go func() {
		done <- dgram.Join(link, bridge.NewDatagramConn(wc), dgram.Shared, dgram.JoinOptions{AToB: &in})
	}()
	r := bridge.NewDatagramConn(far)
	_ = r.SetReadDeadline(time.Now().Add(testutil.Wait))
	buf := make([]byte, dgram.Max)
	var total int64
	for i, want := range sent {
		n, err := r.Read(buf)
		if err != nil || !bytes.Equal(buf[:n], want) {
			t.Fatalf("datagram %d: %d bytes, %v; want %d bytes", i, n, err, len(want))
		}
		total += int64(len(want))
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Join ended with %v at the source's end", err)
		}
	case <-time.After(testutil.Wait):
		t.Fatal("Join did not end at the source's end")
	}
	// BatchLen tiny ones, then 6 tiny and a big one, then two big ones.
	if got := wc.writes.Load(); got != 3 {
		t.Errorf("%d writes on the link for %d datagrams, want 3", got, len(sent))
	}
	if in.Load() != total {
		t.Errorf("counted %d bytes, want %d", in.Load(), total)
	}
}
