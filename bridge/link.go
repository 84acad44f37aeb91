package bridge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xtaci/smux"
)

// ErrNoAgent means no agent of the requested key is connected.
var ErrNoAgent = errors.New("agent offline")

// VerdictError is the agent's refusal of a link: it could not or would not
// reach the target. Reason is the agent's own text.
type VerdictError struct {
	Target     string
	Reason     string
	NotAllowed bool // the agent's policy refused the target (see Verdict)
}

func (e *VerdictError) Error() string { return e.Reason }

// Link is a stream to an agent for one target. Its first Read (or WriteTo)
// consumes the agent's verdict and fails with a *VerdictError when the
// agent refused, so a caller may write before the verdict arrives and save
// a round trip. AwaitVerdict reads it explicitly.
type Link struct {
	*smux.Stream
	sess      *session
	target    string
	once      sync.Once
	verdict   error
	ended     atomic.Bool // the agent ended the stream (EOF read) or refused the link
	closeOnce sync.Once
}

// OpenLink opens a stream to an agent of key and writes the link header and
// preamble (which may be empty) in one frame. It does not wait for the
// verdict.
func (s *Server) OpenLink(ctx context.Context, key string, h LinkHeader, preamble []byte) (*Link, error) {
	hdr, err := AppendLinkHeader(make([]byte, 0, 64+len(preamble)), h)
	if err != nil {
		return nil, err
	}
	hdr = append(hdr, preamble...)
	for attempt := 0; ; attempt++ {
		p := s.pools.get(key)
		var sess *session
		if p != nil {
			sess = p.pick()
		}
		if sess == nil {
			return nil, ErrNoAgent
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
		if _, err := st.Write(hdr); err != nil {
			_ = st.Close()
			return nil, fmt.Errorf("write link header to agent %s: %w", sess.name, err)
		}
		_ = st.SetWriteDeadline(time.Time{})
		return &Link{Stream: st, sess: sess, target: h.Target}, nil
	}
}

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
// result. It gives up when ctx ends.
func (l *Link) AwaitVerdict(ctx context.Context) error {
	l.once.Do(func() {
		if d, ok := ctx.Deadline(); ok {
			_ = l.Stream.SetReadDeadline(d)
		}
		fired := make(chan struct{})
		stop := context.AfterFunc(ctx, func() {
			_ = l.Stream.SetReadDeadline(time.Unix(1, 0)) // unblock the read below
			close(fired)
		})
		v, err := ReadVerdict(l.Stream)
		if !stop() {
			<-fired // a cancel raced the read: let it finish before clearing
		}
		_ = l.Stream.SetReadDeadline(time.Time{}) // the link's reads have no deadline
		switch {
		case err != nil && (ctx.Err() != nil || errors.Is(err, smux.ErrTimeout)):
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

// Read reads the verdict first, then payload.
func (l *Link) Read(p []byte) (int, error) {
	if err := l.AwaitVerdict(context.Background()); err != nil {
		return 0, err
	}
	n, err := l.Stream.Read(p)
	if err == io.EOF {
		l.ended.Store(true)
	}
	return n, err
}

// WriteTo reads the verdict first, then hands the stream's buffers to w
// without copying them.
func (l *Link) WriteTo(w io.Writer) (int64, error) {
	if err := l.AwaitVerdict(context.Background()); err != nil {
		return 0, err
	}
	n, err := l.Stream.WriteTo(w)
	if err == nil { // WriteTo ends without error exactly at EOF
		l.ended.Store(true)
	}
	return n, err
}

// Close closes the stream. A link the agent has not ended yet is also
// aborted on the control stream: smux would only send the agent a FIN,
// which looks like a half-close, and the agent would keep its target
// connection and go on writing into a stream nobody reads.
func (l *Link) Close() error {
	l.closeOnce.Do(func() {
		if !l.ended.Load() && l.sess != nil {
			l.sess.abort(l.Stream.ID())
		}
	})
	return l.Stream.Close()
}
