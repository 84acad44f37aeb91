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
// bytes with an idleChunk buffer; a read that fills it or returns more
// than it holds switches to ChunkSize reads, and a short one back.
func TestCopyWaitsWithSmallBuffer(t *testing.T) {
	t.Parallel()
	src := &scripted{sizes: []int{100, idleChunk, 16 << 10, 16 << 10, 500, 7}}
	var dst bytes.Buffer
	n, err := Copy(&dst, struct{ io.Reader }{src}, Flow{})
	if err != nil || n != int64(dst.Len()) || n != 100+idleChunk+2*(16<<10)+500+7 {
		t.Fatalf("copied %d (%d written), %v", n, dst.Len(), err)
	}
	want := []int{idleChunk, idleChunk, ChunkSize, ChunkSize, ChunkSize, idleChunk, idleChunk}
	if !slices.Equal(src.seen, want) {
		t.Fatalf("read buffer sizes %v, want %v", src.seen, want)
	}
}

// records reads as tls.Conn does: at most what is left of the current
// record per Read, records of size bytes each.
type records struct {
	size, left, count int
	seen              []int
}

func (r *records) Read(p []byte) (int, error) {
	r.seen = append(r.seen, len(p))
	if r.left == 0 {
		if r.count == 0 {
			return 0, io.EOF
		}
		r.count--
		r.left = r.size
	}
	n := min(r.left, len(p))
	r.left -= n
	clear(p[:n])
	return n, nil
}

// A burst of TLS records whose first one filled the idle buffer is read
// ChunkSize at a time from the rest of that record on, not idleChunk and
// the rest by turns.
func TestCopyRecordsStayLarge(t *testing.T) {
	t.Parallel()
	const record = 16 << 10
	src := &records{size: record, count: 4}
	n, err := Copy(io.Discard, struct{ io.Reader }{src}, Flow{})
	if err != nil || n != 4*record {
		t.Fatalf("copied %d, %v", n, err)
	}
	want := []int{idleChunk, ChunkSize, ChunkSize, ChunkSize, ChunkSize, ChunkSize}
	if !slices.Equal(src.seen, want) {
		t.Fatalf("read buffer sizes %v, want %v", src.seen, want)
	}
}
