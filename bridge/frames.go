package bridge

// Links on reusable work connections (hello version 5 over TLS).
//
// A link on a pooled work connection of its own ends, without reuse, with
// the connection: TCP's FIN is the orderly end of each direction. Over TLS
// that costs a TCP connection and a TLS handshake on both ends for every
// link, more than the link itself when it is short. In a session of
// HelloVersionReuse a TLS work connection's link is carried in frames
// instead, after the link header (bridge to agent) and the verdict (agent
// to bridge), which stay as they are:
//
//	length u16 | length bytes of the link's payload   (1 ≤ length ≤ MaxFrame, 0xFFFE)
//	0x0000                                            the end of this direction
//	0xFFFF                                            the end, and the connection retires
//
// Each frame is written with one TLS write, so no TLS record holds bytes
// of two frames; a copy reads its chunk in behind room for the length
// (netx.Framer), so a frame costs neither a copy nor a record of its own:
// 64 KiB read from a socket go out as a frame of 65534 bytes in exactly
// four full records. Once both directions ended with an end frame, the link
// is over and the connection is idle again: the agent waits on it for the
// next link header, the bridge puts it back in the session's pool (or
// closes it when the pool is full, which the agent reads as the end of
// an idle connection, no failure). An agent that holds enough idle
// connections ends its side with 0xFFFF instead, and both ends close the
// connection. So does an end that, before it ended its side, had read a
// record of grownRecord bytes or more (tlsx.LargestRecord): crypto/tls
// keeps its read buffer at the largest record it received for the
// connection's life (golang/go#43563), so a connection that carried bulk
// would hold about 18 KiB more on that end, idle in the pool, than a
// fresh one; it is closed instead, and the pool dials a fresh one (a
// resumed handshake). Anything else ends the connection, not the session: a
// reset (the link's abort, as before), a FIN or TLS's close without an
// end frame (the link was cut: its peer died). Without TLS, work connections keep TCP's own ends (their
// links are spliced kernel to kernel, which frames would prevent).

import (
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/burrowproject/burrow/internal/netx"
	"github.com/burrowproject/burrow/internal/tlsx"
)

// HelloVersionReuse is the hello version of an agent whose TLS work
// connections carry framed links and outlive them (see above). Its hello
// and the bridge's ok reply are those of HelloVersionAck.
const HelloVersionReuse = 5

// MaxFrame is the most payload one frame carries: with its length, four
// full TLS records.
const MaxFrame = 0xFFFE

const (
	frameHeaderLen = 2
	frameEnd       = 0x0000
	frameRetire    = 0xFFFF
)

// grownRecord is the record that retires a connection at its link's end
// (see above): one this large has at least doubled the read buffer TLS's
// resumed handshake left (about 2 KiB).
const grownRecord = 4 << 10

// ErrCut is a framed link's read error when its work connection ended
// without an end frame: the link was cut, not ended.
var ErrCut = errors.New("work connection closed before the link's end")

// Framed reports whether a work connection of a session of hello version
// v carries framed links: TLS ones of HelloVersionReuse.
func Framed(v uint8, c net.Conn) bool {
	_, ok := c.(*tls.Conn)
	return ok && v >= HelloVersionReuse
}

// framePool holds the buffers a frame is written from: its length and
// payload go to TLS in one write.
var framePool = sync.Pool{New: func() any { b := make([]byte, frameHeaderLen+MaxFrame); return &b }}

// FrameConn is one link's framed view of a reusable work connection (see
// above). Reads return the peer's payload and io.EOF at its end frame;
// writes frame the payload; CloseWrite sends the end frame. Close hands
// the connection to Reuse once both ends were exchanged (and neither
// retired it), else closes it; Reset resets it.
type FrameConn struct {
	net.Conn // the work connection (TLS)

	// Retire, when set, is asked as this side's end frame goes out:
	// true retires the connection (0xFFFF).
	Retire func() bool
	// Reuse, when set, takes the connection once the link ended cleanly;
	// without it the connection is closed.
	Reuse func(net.Conn)

	// The reader's state (one reader at a time, as net.Conn's).
	remain  int                  // payload bytes of the current frame still to read
	hdr     [frameHeaderLen]byte // the next frame's length, hdrN bytes of it read
	hdrN    int
	drained bool // the last read from TLS returned less than asked: it holds nothing

	gotEnd  atomic.Bool // the peer's end frame was read
	retired atomic.Bool // ... and it retired the connection
	sentEnd atomic.Bool
	retires atomic.Bool // this side's end frame retired the connection
	broken  atomic.Bool // an error or a reset: the connection is not reused
	closed  atomic.Bool
	handed  atomic.Bool // Close handed the connection to Reuse
	wmu     sync.Mutex  // orders CloseWrite after a concurrent Write
	endBuf  [frameHeaderLen]byte
}

// NewFrameConn returns the framed view of work connection c for one link.
func NewFrameConn(c net.Conn) *FrameConn { return &FrameConn{Conn: c} }

// AppendFrames appends p to b as frames.
func AppendFrames(b, p []byte) []byte {
	for len(p) > 0 {
		k := min(len(p), MaxFrame)
		b = binary.BigEndian.AppendUint16(b, uint16(k))
		b = append(b, p[:k]...)
		p = p[k:]
	}
	return b
}

// Read reads the peer's payload: io.EOF once it sent its end frame,
// ErrCut when the connection ended without one.
func (f *FrameConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if f.closed.Load() {
		return 0, errFramesClosed // the connection may carry another link now
	}
	if f.gotEnd.Load() {
		return 0, io.EOF
	}
	if f.remain == 0 {
		if err := f.readHeader(); err != nil {
			return 0, err
		}
		if f.gotEnd.Load() {
			return 0, io.EOF
		}
	}
	// Ask TLS for one byte beyond the frame when p has room: a short read
	// then proves the record drained (see Buffered), and a byte it does
	// return starts the next frame's length.
	want := min(len(p), f.remain+1)
	n, err := f.Conn.Read(p[:want])
	f.drained = n < want
	// The frame's next records, while they wait whole below TLS: a frame
	// of four full records is one read, and one write onwards, not four.
	for err == nil && f.drained && n < f.remain && tlsx.RecordReady(f.Conn) {
		var m int
		m, err = f.Conn.Read(p[n:want])
		n += m
		f.drained = n < want
	}
	if n > f.remain {
		f.hdr[0], f.hdrN = p[f.remain], 1
		n = f.remain
	}
	f.remain -= n
	if err != nil {
		err = f.fail(err)
	}
	return n, err
}

// readHeader reads the next frame's length.
func (f *FrameConn) readHeader() error {
	if _, err := io.ReadFull(f.Conn, f.hdr[f.hdrN:]); err != nil {
		return f.fail(err)
	}
	f.hdrN = 0
	switch n := binary.BigEndian.Uint16(f.hdr[:]); {
	case n == frameEnd || n == frameRetire:
		f.retired.Store(n == frameRetire)
		f.gotEnd.Store(true)
	default:
		f.remain = int(n)
	}
	return nil
}

// fail marks the connection broken and says what err means: an end of
// the connection without an end frame cuts the link.
func (f *FrameConn) fail(err error) error {
	f.broken.Store(true)
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return ErrCut
	}
	return err
}

// Buffered reports whether payload may wait above the socket: in TLS
// (not proven drained, or a record read ahead) or in part of a frame
// length read already.
func (f *FrameConn) Buffered() bool {
	return !f.drained || f.hdrN > 0 || tlsx.Buffered(f.Conn)
}

// Write writes p as frames, each with one TLS write.
func (f *FrameConn) Write(p []byte) (int, error) {
	f.wmu.Lock()
	defer f.wmu.Unlock()
	if f.sentEnd.Load() || f.closed.Load() {
		return 0, errFramesClosed
	}
	if len(p) == 0 {
		return 0, nil
	}
	bp := framePool.Get().(*[]byte)
	defer framePool.Put(bp)
	buf := *bp
	n := 0
	for n < len(p) {
		k := copy(buf[frameHeaderLen:], p[n:])
		if _, err := f.writeFrame(buf[:frameHeaderLen+k]); err != nil {
			return n, err
		}
		n += k
	}
	return n, nil
}

// Headroom implements netx.Framer: a frame's length goes before its
// payload.
func (f *FrameConn) Headroom() int { return frameHeaderLen }

// WriteFramed implements netx.Framer: b is a frame, its payload after
// Headroom bytes for the length, written as it is (longer ones are copied
// into frames).
func (f *FrameConn) WriteFramed(b []byte) (int, error) {
	if len(b)-frameHeaderLen > MaxFrame {
		return f.Write(b[frameHeaderLen:])
	}
	f.wmu.Lock()
	defer f.wmu.Unlock()
	if f.sentEnd.Load() || f.closed.Load() {
		return 0, errFramesClosed
	}
	if len(b) == frameHeaderLen {
		return 0, nil
	}
	return f.writeFrame(b)
}

// writeFrame fills in frame b's length and writes it, with wmu held; it
// returns the payload bytes written.
func (f *FrameConn) writeFrame(b []byte) (int, error) {
	binary.BigEndian.PutUint16(b, uint16(len(b)-frameHeaderLen))
	if _, err := tlsx.WriteRecords(f.Conn, b); err != nil {
		f.broken.Store(true)
		return 0, err
	}
	return len(b) - frameHeaderLen, nil
}

// CloseWrite ends this side of the link with its end frame.
func (f *FrameConn) CloseWrite() error {
	f.wmu.Lock()
	defer f.wmu.Unlock()
	return f.end(false)
}

// end sends this side's end frame, once, with wmu held; retire (or
// Retire, or a record that grew TLS's buffer) retires the connection.
func (f *FrameConn) end(retire bool) error {
	if !f.sentEnd.CompareAndSwap(false, true) {
		return nil
	}
	end := uint16(frameEnd)
	if retire || tlsx.LargestRecord(f.Conn) >= grownRecord || f.Retire != nil && f.Retire() {
		end = frameRetire
		f.retires.Store(true)
	}
	binary.BigEndian.PutUint16(f.endBuf[:], end)
	if _, err := f.Conn.Write(f.endBuf[:]); err != nil {
		f.broken.Store(true)
		return err
	}
	return nil
}

// Clean reports whether the link ended with both end frames and the
// connection may carry another.
func (f *FrameConn) Clean() bool {
	return f.gotEnd.Load() && f.sentEnd.Load() && !f.broken.Load() && !f.retired.Load() && !f.retires.Load()
}

// HandedBack reports whether Close handed the connection to Reuse: it is
// no longer the link's.
func (f *FrameConn) HandedBack() bool { return f.handed.Load() }

// Close ends the link: this side's end frame goes out (if it has not
// yet) and, once the peer's was read too, the connection goes to Reuse.
// Else it is closed: closed before the peer's end, its own end retires it
// (the peer may write on, into a connection nobody reads), so the peer
// reads an orderly end and then the connection's. After an error or
// Reset, or during a Write (an idle timeout's Close: closing unblocks
// it), it is closed only. Once.
func (f *FrameConn) Close() error {
	if !f.closed.CompareAndSwap(false, true) {
		return nil
	}
	if !f.broken.Load() && f.wmu.TryLock() {
		_ = f.Conn.SetWriteDeadline(time.Now().Add(abortTimeout))
		err := f.end(!f.gotEnd.Load())
		f.wmu.Unlock()
		if err == nil && f.Clean() && f.Reuse != nil {
			_ = f.Conn.SetDeadline(time.Time{})
			f.handed.Store(true)
			f.Reuse(f.Conn)
			return nil
		}
	}
	return f.Conn.Close()
}

// errFramesClosed is a FrameConn's error for a read or write after its
// close (or, for a write, after its end).
var errFramesClosed = fmt.Errorf("link frames: %w", net.ErrClosed)

// SetDeadline, SetReadDeadline and SetWriteDeadline set the connection's
// deadlines until the link's Close; after it they do nothing: the
// connection may carry another link.
func (f *FrameConn) SetDeadline(t time.Time) error { return f.deadline(f.Conn.SetDeadline, t) }

// SetReadDeadline: see SetDeadline.
func (f *FrameConn) SetReadDeadline(t time.Time) error { return f.deadline(f.Conn.SetReadDeadline, t) }

// SetWriteDeadline: see SetDeadline.
func (f *FrameConn) SetWriteDeadline(t time.Time) error {
	return f.deadline(f.Conn.SetWriteDeadline, t)
}

func (f *FrameConn) deadline(set func(time.Time) error, t time.Time) error {
	if f.closed.Load() {
		return errFramesClosed
	}
	return set(t)
}

// Reset resets the connection: the peer's reads fail at once.
func (f *FrameConn) Reset() error {
	if f.closed.Swap(true) && f.HandedBack() {
		return nil // the connection is not the link's any more
	}
	f.broken.Store(true)
	return netx.Reset(f.Conn)
}
