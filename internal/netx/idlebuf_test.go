package netx

import (
	"bytes"
	"io"
	"slices"
	"testing"
)

// scripted returns, read by read, the sizes it was given, and records the
// size of the buffer each Read was handed.
type scripted struct {
	sizes []int
	seen  []int
}

func (s *scripted) Read(p []byte) (int, error) {
	s.seen = append(s.seen, len(p))
	if len(s.sizes) == 0 {
		return 0, io.EOF
	}
	n := min(s.sizes[0], len(p))
	s.sizes = s.sizes[1:]
	clear(p[:n])
	return n, nil
}

// A copy from a source that cannot be polled (not a TCP socket) waits for
// bytes with an idleChunk buffer; a read that fills it or returns a full
// TLS record switches to ChunkSize reads, and a short one back.
func TestCopyWaitsWithSmallBuffer(t *testing.T) {
	t.Parallel()
	// A full record read in two (an idleChunk piece and its rest) keeps
	// the copy on ChunkSize reads; a shorter one goes back to idleChunk.
	rest := recordChunk - idleChunk
	src := &scripted{sizes: []int{100, idleChunk, recordChunk, recordChunk, 500, 7, idleChunk, rest, recordChunk, 9, idleChunk, 100, 3}}
	var dst bytes.Buffer
	n, err := Copy(&dst, struct{ io.Reader }{src}, Flow{})
	if err != nil || n != int64(dst.Len()) || n != int64(100+3*idleChunk+rest+3*recordChunk+500+7+9+100+3) {
		t.Fatalf("copied %d (%d written), %v", n, dst.Len(), err)
	}
	want := []int{idleChunk, idleChunk, ChunkSize, ChunkSize, ChunkSize, idleChunk, idleChunk, ChunkSize, ChunkSize, ChunkSize,
		idleChunk, ChunkSize, idleChunk, idleChunk}
	if !slices.Equal(src.seen, want) {
		t.Fatalf("read buffer sizes %v, want %v", src.seen, want)
	}
}
