// Package udp is the UDP forwarding handler. Datagrams arriving on an
// instance's socket are grouped by sender into sessions; each session has a
// datagram link through the instance's agent, and replies on the link go
// back to that sender. A session idle for the instance's idle period ends.
package udp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/burrowproject/burrow/conf"
	"github.com/burrowproject/burrow/plugins/sdk"
)

// Version is the handler's version.
const Version = "1.0.0"

// DefaultIdle ends a session after this long without a datagram either way.
const DefaultIdle = 60 * time.Second

// queueLen bounds the datagrams waiting for one session's link; beyond it
// datagrams are dropped, as a congested UDP path would.
const queueLen = 256

// maxDatagram is the largest UDP payload.
const maxDatagram = 65535

// Handler forwards UDP datagrams. Build it with New.
type Handler struct {
	runs sdk.Runs
	bufs sync.Pool
}

// New returns a UDP handler.
func New() *Handler {
	return &Handler{bufs: sync.Pool{New: func() any { b := make([]byte, maxDatagram); return &b }}}
}

// Describe implements sdk.Handler.
func (*Handler) Describe(context.Context) (sdk.Descriptor, error) {
	return sdk.Descriptor{
		Name: "udp", Version: Version, SDKVersion: sdk.Version, Schemes: []string{"udp"},
		Capabilities: []string{sdk.CapDial, sdk.CapUDP},
		Params:       []sdk.Param{{Name: "idle", Type: "duration", Default: DefaultIdle.String(), Help: "end a UDP session after this long without traffic"}},
	}, nil
}

// Validate implements sdk.Handler.
func (*Handler) Validate(_ context.Context, spec sdk.InstanceSpec) error {
	if spec.Listen == "" {
		return errors.New("udp: a listen address is required")
	}
	_, err := idleOf(spec)
	return err
}

// idleOf returns the instance's idle= with conf's rules.
func idleOf(spec sdk.InstanceSpec) (time.Duration, error) {
	p, err := conf.ParseParams(conf.SchemeUDP, spec.Params)
	if err != nil {
		return 0, fmt.Errorf("udp: %w", err)
	}
	return p.Idle, nil
}

// Start implements sdk.Handler.
func (h *Handler) Start(ctx context.Context, spec sdk.InstanceSpec, host sdk.Host) error {
	idle, err := idleOf(spec)
	if err != nil {
		return err
	}
	pc, err := host.PacketConn(ctx, spec.ID)
	if err != nil {
		return fmt.Errorf("udp instance %s: %w", spec.ID, err)
	}
	f := &forwarder{h: h, id: spec.ID, pc: pc, host: host, idle: idle, log: host.Logger(spec.ID), sessions: make(map[string]*session)}
	return h.runs.Go(spec.ID, f.run)
}

// Stop implements sdk.Handler.
func (h *Handler) Stop(ctx context.Context, id string) error { return h.runs.Stop(ctx, id) }

// forwarder serves one instance's socket.
type forwarder struct {
	h    *Handler
	id   string
	pc   net.PacketConn
	host sdk.Host
	idle time.Duration
	log  *slog.Logger

	mu       sync.Mutex
	sessions map[string]*session
	wg       sync.WaitGroup
}

// session is one sender's datagrams.
type session struct {
	peer   net.Addr
	queue  chan *[]byte // buffers holding one datagram each, length set
	active atomic.Bool
	cancel context.CancelFunc
}

func (f *forwarder) run(ctx context.Context) {
	stop := context.AfterFunc(ctx, func() { _ = f.pc.Close() })
	defer stop()
	ctx, cancel := context.WithCancel(ctx)
	defer f.wg.Wait()
	defer cancel()
	f.wg.Add(1)
	go f.reapIdle(ctx)
	for {
		bp := f.h.bufs.Get().(*[]byte)
		n, peer, err := f.pc.ReadFrom((*bp)[:maxDatagram])
		if err != nil {
			f.h.bufs.Put(bp)
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			f.log.Warn("udp read failed", "err", err)
			continue
		}
		*bp = (*bp)[:n]
		s := f.session(ctx, peer)
		s.active.Store(true)
		select {
		case s.queue <- bp:
		default:
			f.h.bufs.Put(bp)
			f.log.Debug("udp datagram dropped: session queue full", "peer", peer.String())
		}
	}
}

// session returns the sender's session, starting it if needed.
func (f *forwarder) session(ctx context.Context, peer net.Addr) *session {
	key := peer.String()
	f.mu.Lock()
	defer f.mu.Unlock()
	if s := f.sessions[key]; s != nil {
		return s
	}
	sctx, cancel := context.WithCancel(ctx)
	s := &session{peer: peer, queue: make(chan *[]byte, queueLen), cancel: cancel}
	f.sessions[key] = s
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		defer f.forget(key, s)
		f.serve(sctx, s)
	}()
	return s
}

func (f *forwarder) forget(key string, s *session) {
	f.mu.Lock()
	if f.sessions[key] == s {
		delete(f.sessions, key)
	}
	f.mu.Unlock()
	s.cancel()
	for {
		select {
		case bp := <-s.queue:
			f.h.bufs.Put(bp)
		default:
			return
		}
	}
}

// serve opens the session's link and pumps datagrams both ways until the
// session is idle, the link fails, or the instance stops.
func (f *forwarder) serve(ctx context.Context, s *session) {
	link, err := f.host.Dial(ctx, sdk.LinkRequest{Instance: f.id, Network: "udp",
		Meta: map[string]string{sdk.MetaClientAddr: s.peer.String()}})
	if err != nil {
		f.log.Debug("udp session not opened", "peer", s.peer.String(), "err", err)
		return
	}
	stop := context.AfterFunc(ctx, func() { _ = link.Close() })
	defer stop()
	replies := make(chan struct{})
	defer func() {
		_ = link.Close() // ends the reply pump
		<-replies
	}()
	go func() {
		defer close(replies)
		buf := make([]byte, maxDatagram)
		for {
			n, err := link.Read(buf)
			if err != nil {
				s.cancel()
				return
			}
			s.active.Store(true)
			if _, err := f.pc.WriteTo(buf[:n], s.peer); err != nil && ctx.Err() == nil {
				f.log.Debug("udp reply failed", "peer", s.peer.String(), "err", err)
			}
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case bp := <-s.queue:
			_, err := link.Write(*bp)
			f.h.bufs.Put(bp)
			if err != nil {
				f.log.Debug("udp link write failed", "peer", s.peer.String(), "err", err)
				return
			}
		}
	}
}

// reapIdle ends sessions that saw no datagram for a whole idle period.
func (f *forwarder) reapIdle(ctx context.Context) {
	defer f.wg.Done()
	t := time.NewTicker(f.idle)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		f.mu.Lock()
		for _, s := range f.sessions {
			if !s.active.Swap(false) {
				s.cancel()
			}
		}
		f.mu.Unlock()
	}
}

var _ sdk.Handler = (*Handler)(nil)
