package netx_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/burrowproject/burrow/internal/netx"
	"github.com/burrowproject/burrow/internal/testutil"
)

// framer is a netx.Framer that keeps what it was handed; a plain Write
// (a chunk copied to make room) is an error.
type framer struct {
	got    bytes.Buffer
	frames int
	maxLen int
}

const framerRoom = 2

func (f *framer) Headroom() int { return framerRoom }

func (f *framer) WriteFramed(b []byte) (int, error) {
	f.frames++
	f.maxLen = max(f.maxLen, len(b)-framerRoom)
	f.got.Write(b[framerRoom:])
	return len(b) - framerRoom, nil
}

func (f *framer) Write([]byte) (int, error) { return 0, errors.New("Write on a Framer") }

// A copy into a Framer reads each chunk in behind the Framer's headroom and
// hands it over whole: every byte arrives, in order, none through Write,
// and a bulk copy's chunks fill a buffer less the headroom.
func TestCopyIntoFramerLeavesHeadroom(t *testing.T) {
	t.Parallel()
	src, far := testutil.TCPPair(t)
	want := make([]byte, 4<<20)
	_, _ = rand.Read(want)
	var werr atomic.Value
	go func() {
		if _, err := far.Write(want); err != nil {
			werr.Store(err)
		}
		_ = far.CloseWrite()
	}()
	var f framer
	n, err := netx.Copy(&f, src, netx.Flow{})
	if err != nil || n != int64(len(want)) {
		t.Fatalf("copied %d, %v; want %d", n, err, len(want))
	}
	if e := werr.Load(); e != nil {
		t.Fatal(e)
	}
	if !bytes.Equal(f.got.Bytes(), want) {
		t.Fatal("the framer got other bytes than were sent")
	}
	if f.maxLen != netx.ChunkSize-framerRoom {
		t.Fatalf("largest chunk %d bytes, want %d (a full buffer less the headroom)", f.maxLen, netx.ChunkSize-framerRoom)
	}
}
