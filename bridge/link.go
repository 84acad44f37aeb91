package bridge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/xtaci/smux"

	"github.com/burrowproject/burrow/internal/netx"
	"github.com/burrowproject/burrow/internal/tlsx"
)

// ErrNoAgent means no agent of the requested key is connected.
var ErrNoAgent = errors.New("agent offline")

// ErrLinkReset is returned by a link's reads and writes once its agent
// reported that the target connection failed (see ControlReset).
var ErrLinkReset = errors.New("link reset by the agent")

// ErrTunnelLost is returned by a link's reads when the tunnel under it
// ended before the agent ended the link: smux reports that as a plain EOF,
// which would make a cut-off transfer look complete.
var ErrTunnelLost = errors.New("tunnel to the agent lost")

// VerdictError is the agent's refusal of a link: it could not or would not
// reach the target. Reason is the agent's own text.
type VerdictError struct {
	Target     string
	Reason     string
	NotAllowed bool // the agent's policy refused the target (see Verdict)
}

func (e *VerdictError) Error() string { return e.Reason }

// VerdictTimeout bounds the wait for an agent's verdict when the caller
// gives no deadline of its own (a Read before AwaitVerdict).
const VerdictTimeout = 15 * time.Second

// Link is a link to an agent for one target: an smux stream on the
// agent's session, or a pooled work connection of its own (see
// workwire.go). Its first Read (or WriteTo) consumes the agent's verdict
// and fails with a *VerdictError when the agent refused, so a caller may
// write before the verdict arrives and save a round trip. AwaitVerdict
// reads it explicitly.
type Link struct {
	net.Conn                // the carrier: st, the work connection, or frames
	st         *smux.Stream // nil on a pooled link
	frames     *FrameConn   // a pooled link on a reusable work connection (see frames.go)
	pooled     bool
	sess       *session
	target     string
	once       sync.Once
	verdict    error
	ended      atomic.Bool            // the agent ended the link (EOF read) or refused it
	abort      atomic.Bool            // abort on Close even if ended: a reset either way
	reset      atomic.Pointer[string] // the agent's reason, once it reset the link
	closeOnce  sync.Once
	lingerOnce sync.Once
}

// OpenLink opens a link to an agent of key and writes the link header and
// preamble (which may be empty) at once: on an idle work connection from
// the session's pool when it has one, else as one frame on a new stream.
// It does not wait for the verdict.
func (s *Server) OpenLink(ctx context.Context, key string, h LinkHeader, preamble []byte) (*Link, error) {
	hdr, err := AppendLinkHeader(make([]byte, 0, 64+len(preamble)+frameHeaderLen*(1+len(preamble)/MaxFrame)), h)
	if err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		p := s.pools.get(key)
		var sess *session
		if p != nil {
			sess = p.pick()
		}
		if sess == nil {
			return nil, ErrNoAgent
		}
		if l := sess.openPooled(ctx, h, hdr, preamble); l != nil {
			return l, nil
		}
		st, err := sess.mux.OpenStream()
		if err != nil {
			// The session died between pick and open: try another one.
			if attempt < 3 && ctx.Err() == nil {
				continue
			}
			return nil, fmt.Errorf("open stream to agent %s: %w", sess.name, err)
		}
		if d, ok := ctx.Deadline(); ok {
			_ = st.SetWriteDeadline(d)
		}
		if _, err := st.Write(append(hdr, preamble...)); err != nil {
			_ = st.Close()
			return nil, fmt.Errorf("write link header to agent %s: %w", sess.name, err)
		}
		_ = st.SetWriteDeadline(time.Time{})
		l := &Link{Conn: st, st: st, sess: sess, target: h.Target}
		sess.links.Store(st.ID(), l)
		return l, nil
	}
}

// Pooled reports whether the link rides a work connection of its own
// rather than a stream of the session.
func (l *Link) Pooled() bool { return l.pooled }

// Open opens a link and waits for the agent's verdict: it returns once the
// agent has reached the target, or the reason it could not.
func (s *Server) Open(ctx context.Context, key string, h LinkHeader) (*Link, error) {
	l, err := s.OpenLink(ctx, key, h, nil)
	if err != nil {
		return nil, err
	}
	if err := l.AwaitVerdict(ctx); err != nil {
		_ = l.Close()
		return nil, err
	}
	return l, nil
}

// AwaitVerdict reads the agent's verdict once; later calls return the same
// result. It gives up when ctx ends, or after VerdictTimeout when ctx has
// no deadline: an agent that never answers cannot hold a link forever.
func (l *Link) AwaitVerdict(ctx context.Context) error {
	l.once.Do(func() {
		if _, ok := ctx.Deadline(); !ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, VerdictTimeout)
			defer cancel()
		}
		if d, ok := ctx.Deadline(); ok {
			_ = l.Conn.SetReadDeadline(d)
		}
		fired := make(chan struct{})
		stop := context.AfterFunc(ctx, func() {
			_ = l.Conn.SetReadDeadline(time.Unix(1, 0)) // unblock the read below
			close(fired)
		})
		v, err := ReadVerdict(l.carrier())
		if !stop() {
			<-fired // a cancel raced the read: let it finish before clearing
		}
		_ = l.Conn.SetReadDeadline(time.Time{}) // the link's reads have no deadline
		switch {
		case err != nil && (ctx.Err() != nil || errors.Is(err, smux.ErrTimeout) || errors.Is(err, os.ErrDeadlineExceeded)):
			cause := ctx.Err()
			if cause == nil {
				cause = context.DeadlineExceeded
			}
			l.verdict = fmt.Errorf("wait for agent verdict: %w", cause)
		case err != nil:
			l.verdict = fmt.Errorf("agent closed the link before its verdict: %w", err)
		case !v.OK:
			l.verdict = &VerdictError{Target: l.target, Reason: v.Reason, NotAllowed: v.NotAllowed}
			l.ended.Store(true) // the agent closes a refused link itself
		}
	})
	return l.verdict
}

// Read reads the verdict first, then payload. It fails with ErrLinkReset
// once the agent reset the link, and with ErrTunnelLost instead of EOF
// when the tunnel ended under it.
func (l *Link) Read(p []byte) (int, error) {
	if err := l.AwaitVerdict(context.Background()); err != nil {
		return 0, err
	}
	n, err := l.Conn.Read(p)
	if err != nil {
		err = l.readErr(err)
	}
	return n, err
}

// WriteTo reads the verdict first, then hands the stream's buffers to w
// without copying them (a pooled link copies through a buffer, or
// splices: see netx.Spliceable). Its end is checked like Read's.
func (l *Link) WriteTo(w io.Writer) (int64, error) {
	if err := l.AwaitVerdict(context.Background()); err != nil {
		return 0, err
	}
	if l.st == nil {
		return netx.Copy(w, onlyReader{l}, netx.Flow{})
	}
	n, err := l.st.WriteTo(w)
	switch {
	case err == nil: // WriteTo ends without error exactly at EOF
		if err = l.readErr(io.EOF); err == io.EOF {
			err = nil
		}
	case err == io.ErrClosedPipe: // the stream's own end, not w's
		err = l.readErr(err)
	default:
		if rerr := l.readErr(err); errors.Is(rerr, ErrLinkReset) {
			err = rerr
		}
	}
	return n, err
}

// Write writes payload; once the agent reset the link it fails with
// ErrLinkReset, and on a dead tunnel with ErrTunnelLost, not with the
// closed-pipe error that reads as an orderly end.
func (l *Link) Write(p []byte) (int, error) {
	n, err := l.Conn.Write(p)
	if err != nil {
		err = l.readErr(err)
	}
	return n, err
}

// readErr says what a read error of the stream means: the agent's reset,
// a lost tunnel, a reset from this side, or (EOF on a live tunnel) the
// agent's orderly end.
func (l *Link) readErr(err error) error {
	if r := l.reset.Load(); r != nil {
		return fmt.Errorf("%w: %s", ErrLinkReset, *r)
	}
	if l.abort.Load() {
		return errResetHere
	}
	if l.sess != nil && !l.sess.live() {
		if err == io.EOF || err == io.ErrClosedPipe || errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrDeadlineExceeded) {
			return ErrTunnelLost
		}
		return fmt.Errorf("%w: %w", ErrTunnelLost, err)
	}
	if l.pooled && errors.Is(err, syscall.ECONNRESET) {
		// A pooled link's reset is TCP's own: the agent's target failed.
		return fmt.Errorf("%w: %w", ErrLinkReset, err)
	}
	if errors.Is(err, ErrCut) {
		return fmt.Errorf("%w: %w", ErrTunnelLost, err)
	}
	if err == io.EOF && l.pooled && l.frames == nil && l.sess != nil && !l.sess.confirmAlive() {
		return ErrTunnelLost // the agent died: its kernel's FIN is no orderly end
	}
	if err == io.EOF {
		l.ended.Store(true)
	}
	return err
}

// errResetHere is what a link's reads and writes return once it was reset
// on this side: closed, as far as the caller is concerned.
var errResetHere = fmt.Errorf("link reset: %w", net.ErrClosed)

// resetLinger bounds how long a link reset on this side keeps its stream
// open for the agent to act on the abort first: closing it at once would
// send a FIN, which the agent might read as the user's orderly end of the
// upload before it reads the abort.
const resetLinger = 5 * time.Second

// Reset ends the link abortively: the agent is told on the control stream
// (even if it already ended its side) and resets its target connection. It
// is how netx.Join passes on a failure of the user's side. Blocked reads
// and writes return at once; the stream itself is closed after
// resetLinger, or when the session ends.
func (l *Link) Reset() error {
	l.abort.Store(true)
	l.release()
	if l.pooled {
		return netx.Reset(l.Conn) // a real reset: the agent's reads fail at once
	}
	_ = l.st.SetDeadline(time.Unix(1, 0)) // unblock, without a FIN
	l.lingerOnce.Do(func() { time.AfterFunc(resetLinger, func() { _ = l.st.Close() }) })
	return nil
}

// resetByAgent records the agent's report that the target failed, aborts
// the stream (the agent's cue to close its end) and closes it, which
// unblocks its reader with ErrLinkReset.
func (l *Link) resetByAgent(reason string) {
	l.reset.Store(&reason)
	l.abort.Store(true)
	l.release()
	// The agent's copy is over and it waits only for the abort, sent
	// first: the stream can close now.
	_ = l.Conn.Close()
}

// Close closes the stream. A link the agent has not ended yet is also
// aborted on the control stream: smux would only send the agent a FIN,
// which looks like a half-close, and the agent would keep its target
// connection and go on writing into a stream nobody reads. After Reset,
// Close leaves the stream to Reset's linger.
func (l *Link) Close() error {
	l.release()
	switch {
	case l.pooled && (l.abort.Load() || !l.ended.Load()):
		return netx.Reset(l.Conn) // the agent resets its target too
	case l.abort.Load():
		return nil
	}
	return l.Conn.Close()
}

// CloseWrite ends the user's side of the link, as TCP's half-close: the
// agent reads an orderly end and half-closes its target connection.
func (l *Link) CloseWrite() error {
	if cw, ok := l.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}

// release forgets the link in its session and, unless the agent ended it
// (and it was not reset), aborts it there. Once.
func (l *Link) release() {
	l.closeOnce.Do(func() {
		if l.sess == nil {
			return
		}
		if l.pooled {
			l.sess.work.done(l)
			return
		}
		l.sess.links.Delete(l.st.ID())
		if !l.ended.Load() || l.abort.Load() {
			l.sess.abort(l.st.ID())
		}
	})
}

// onlyReader hides a reader's WriteTo, so io.Copy reads it.
type onlyReader struct{ io.Reader }

// carrier is the connection under the link's frames (its verdict is
// read there), or the link's own.
func (l *Link) carrier() net.Conn {
	if l.frames != nil {
		return l.frames.Conn
	}
	return l.Conn
}

// AwaitSocket implements netx.Awaitable: a pooled link over TLS is
// awaited at its socket between records.
func (l *Link) AwaitSocket() *net.TCPConn {
	if below := tlsx.BelowRecords(l.carrier()); l.pooled && below != nil {
		return netx.TCP(below)
	}
	return nil
}

// Buffered implements netx.Awaitable.
func (l *Link) Buffered() bool {
	if l.frames != nil {
		return l.frames.Buffered()
	}
	return tlsx.Buffered(l.Conn)
}

// AwaitErr implements netx.Awaitable.
func (l *Link) AwaitErr(err error) error { return l.readErr(err) }

// Headroom implements netx.Framer: a link in frames takes its copy's
// chunks with room for their length.
func (l *Link) Headroom() int {
	if l.frames != nil {
		return l.frames.Headroom()
	}
	return 0
}

// WriteFramed implements netx.Framer; its errors are Write's.
func (l *Link) WriteFramed(b []byte) (int, error) {
	n, err := l.frames.WriteFramed(b)
	if err != nil {
		err = l.readErr(err)
	}
	return n, err
}

// SpliceConn implements netx.Spliceable: a pooled link on plain TCP is
// spliced once its verdict is read.
func (l *Link) SpliceConn(reading bool) (*net.TCPConn, error) {
	tc, ok := l.Conn.(*net.TCPConn)
	if !l.pooled || !ok {
		return nil, nil
	}
	if reading {
		if err := l.AwaitVerdict(context.Background()); err != nil {
			return nil, err
		}
	}
	return tc, nil
}

// SpliceErr implements netx.Spliceable.
func (l *Link) SpliceErr(err error) error { return l.readErr(err) }
