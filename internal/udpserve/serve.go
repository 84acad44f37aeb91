// Package udpserve serves a UDP socket's senders: datagrams are grouped by
// sender into sessions, each with a datagram link through the instance's
// agent, and replies on the link go back to that sender. A session idle for
// the instance's idle period ends and frees everything it held. The udp
// handler serves with it where its host cannot (a plugin on an older host),
// and Burrow's host serves a udp instance's socket with it itself when the
// handler forwards the socket (sdk.Forwarder), so out of process no
// datagram crosses the plugin process.
//
// A stranger picks the source addresses, so sessions are bounded: at most
// persource= per source IP and sessions= per instance; datagrams from a
// sender beyond them are dropped and counted. The socket's read loop never
// waits: a new session's link opens in the session's own goroutine while
// up to QueueLen datagrams wait for it, each in a pooled buffer of its own
// size class (see internal/dgram), and up to OpenQueueLen wait for an open
// link; an idle session holds no buffer.
package udpserve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/burrowproject/burrow/conf"
	"github.com/burrowproject/burrow/internal/dgram"
	"github.com/burrowproject/burrow/plugins/sdk"
)

// Queue bounds: beyond them datagrams are dropped and counted, as a
// congested UDP path would drop them. QueueLen datagrams may wait for a
// session's link while it opens (it may never open); once it is open,
// OpenQueueLen may wait for it, so a link held up for a moment (the host or
// the agent not scheduled for some milliseconds on a loaded machine: 10,000
// datagrams/s fill 16 places in 1.6 ms) loses nothing. A queue grows with
// what waits, not with the session, and all the queues of an instance hold
// at most QueueBytes of buffers.
const (
	QueueLen     = 16
	OpenQueueLen = 1024
	QueueBytes   = 16 << 20
)

// DroppedCounter prefixes the reason of a dropped datagram in the name it
// is counted under on the host (sdk.Counter): "udp_dropped:queue_full".
const DroppedCounter = "udp_dropped:"

// Drop reasons.
const (
	DropSourceLimit  = "source_limit"  // the sender's IP has persource= sessions
	DropSessionLimit = "session_limit" // the instance has sessions= sessions
	DropQueueFull    = "queue_full"    // the session's queue was full
	DropNoLink       = "no_link"       // queued for a link that could not be opened
)

// Limits are a udp instance's parameters.
type Limits struct {
	Idle      time.Duration // idle=: a session without a datagram this long ends
	Sessions  int           // sessions=: sessions of the instance at once
	PerSource int           // persource=: sessions from one source IP at once
}

// LimitsOf returns the idle=, sessions= and persource= of a udp instance's
// parameters, checked by conf's rules for the udp scheme.
func LimitsOf(params map[string]string) (Limits, error) {
	p, err := conf.ParseParams(conf.SchemeUDP, params)
	if err != nil {
		return Limits{}, fmt.Errorf("udp: %w", err)
	}
	return Limits{Idle: p.Idle, Sessions: p.Sessions, PerSource: p.PerSource}, nil
}

// Server serves one instance's socket: Serve reads its datagrams, and each
// sender's session opens its link with host.Dial. Sessions outlive a Serve:
// when the read loop stops (a plugin that forwarded the socket died) they
// keep their links and deliver replies, datagrams wait in the socket, and
// the next Serve (the relaunched plugin's forward) goes on with the same
// sessions, so a sender keeps its link and the backend sees the same peer.
// Sessions end when idle for the idle period, and all of them at Close.
type Server struct {
	id   string
	pc   net.PacketConn
	udp  *net.UDPConn // pc, when it is one: reads without allocating
	host sdk.Host
	lim  Limits
	pool *dgram.Pool
	log  *slog.Logger
	// counter counts dropped datagrams on the host (for the master's
	// metrics); nil on a host that cannot.
	counter sdk.Counter

	life    context.Context // the sessions'; ends at Close
	end     context.CancelFunc
	serving sync.Mutex // held by the one Serve running

	mu       sync.Mutex
	closed   bool // Close was called: no session starts
	sessions map[netip.AddrPort]*session
	bySource map[netip.Addr]int // sessions per source IP
	queued   atomic.Int64       // bytes of buffers in the sessions' queues
	wg       sync.WaitGroup     // the sessions and the idle reaper

	dropMu  sync.Mutex
	drops   map[string]int // by reason, since the last log line
	dropLog time.Time      // when that line was written
}

// dropLogEvery bounds the lines about dropped datagrams to one per
// instance per interval, whatever a flood sends.
const dropLogEvery = 10 * time.Second

// session is one sender's datagrams.
type session struct {
	peer   netip.AddrPort
	queue  *queue // pooled buffers, one datagram each
	active atomic.Bool
	cancel context.CancelFunc
}

// counterOf is host's Counter, for the master's metrics, or nil on a host
// that counts nothing (before sdk 1.4.0).
func counterOf(host sdk.Host) sdk.Counter {
	c, _ := host.(sdk.Counter)
	return c
}

// New returns the Server of instance id's socket pc, its idle reaper
// running. The caller owns pc (no Serve or Close closes it) and must call
// Close.
func New(id string, pc net.PacketConn, host sdk.Host, lim Limits) *Server {
	f := &Server{
		id: id, pc: pc, host: host, lim: lim, pool: dgram.Shared, log: host.Logger(id),
		counter:  counterOf(host),
		sessions: make(map[netip.AddrPort]*session), bySource: make(map[netip.Addr]int),
		drops: make(map[string]int),
	}
	if u, ok := pc.(*net.UDPConn); ok {
		f.udp = u
		if err := dgram.EnlargeReadBuffer(u); err != nil {
			f.log.Debug("udp receive buffer not enlarged", "err", err)
		}
	}
	f.life, f.end = context.WithCancel(context.Background())
	f.wg.Add(1)
	go f.reapIdle()
	return f
}

// Close ends every session and returns once they have. A Serve running
// returns too.
func (f *Server) Close() {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	f.end()
	f.wg.Wait()
}

// Serve reads the socket's datagrams into their sessions until ctx ends,
// Close is called or the socket is closed. One Serve runs at a time: a
// second waits for the first to return.
func (f *Server) Serve(ctx context.Context) {
	f.serving.Lock()
	defer f.serving.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(f.life, cancel)()
	// The read loop ends by a read deadline, not by closing pc: the socket
	// is the caller's (the host serves the instance again after a plugin
	// restart). The deadline is set once ctx ends, and only then.
	_ = f.pc.SetReadDeadline(time.Time{})
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(fired)
		_ = f.pc.SetReadDeadline(time.Now())
	})
	defer func() {
		if !stop() {
			<-fired // a deadline set late would end the next Serve's reads
		}
	}()
	buf := make([]byte, dgram.Max) // the only full-size buffer: datagrams are copied out of it
	for {
		n, peer, err := f.read(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			f.log.Warn("udp read failed", "err", err)
			continue
		}
		s, reason := f.session(peer)
		if s == nil {
			if reason != "" {
				f.drop(reason)
			}
			continue
		}
		s.active.Store(true)
		if w := s.queue.direct(); w != nil {
			if sent, err := w.TryWrite(buf[:n]); sent {
				continue
			} else if err != nil { // the session's own write fails too, and ends it
				f.log.Debug("udp link write failed", "peer", s.peer.String(), "err", err)
			}
		}
		if b := f.pool.Copy(buf[:n]); !s.queue.push(b) {
			f.pool.Put(b)
			f.drop(DropQueueFull)
		}
	}
}

// drop counts a dropped datagram and logs, at most once per dropLogEvery,
// how many were dropped and why.
func (f *Server) drop(reason string) {
	if f.counter != nil {
		f.counter.Count(f.id, DroppedCounter+reason, 1)
	}
	f.dropMu.Lock()
	defer f.dropMu.Unlock()
	f.drops[reason]++
	if now := time.Now(); now.Sub(f.dropLog) >= dropLogEvery {
		f.log.Warn("udp datagrams dropped", "by_reason", fmt.Sprint(f.drops), "sessions_limit", f.lim.Sessions, "persource_limit", f.lim.PerSource)
		clear(f.drops)
		f.dropLog = now
	}
}

// write sends a reply to its sender (to is peer as a net.Addr, for a
// socket that is no *net.UDPConn), without allocating on a UDP socket.
func (f *Server) write(p []byte, peer netip.AddrPort, to net.Addr) error {
	var err error
	if f.udp != nil {
		_, err = f.udp.WriteToUDPAddrPort(p, peer)
	} else {
		_, err = f.pc.WriteTo(p, to)
	}
	return err
}

// read reads one datagram and its sender.
func (f *Server) read(buf []byte) (int, netip.AddrPort, error) {
	if f.udp != nil {
		n, ap, err := f.udp.ReadFromUDPAddrPort(buf)
		return n, netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), err
	}
	n, addr, err := f.pc.ReadFrom(buf)
	if err != nil {
		return 0, netip.AddrPort{}, err
	}
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return 0, netip.AddrPort{}, errors.New("udp read: sender is not a UDP address")
	}
	ap := ua.AddrPort()
	return n, netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
}

// session returns the sender's session, starting it if the limits allow;
// else nil and the reason ("" once the Server is closed). It never waits:
// the link opens in the session's goroutine.
func (f *Server) session(peer netip.AddrPort) (*session, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil, ""
	}
	if s := f.sessions[peer]; s != nil {
		return s, ""
	}
	switch {
	case len(f.sessions) >= f.lim.Sessions:
		return nil, DropSessionLimit
	case f.bySource[peer.Addr()] >= f.lim.PerSource:
		return nil, DropSourceLimit
	}
	sctx, cancel := context.WithCancel(f.life)
	s := &session{peer: peer, queue: newQueue(&f.queued), cancel: cancel}
	f.sessions[peer] = s
	f.bySource[peer.Addr()]++
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		defer f.forget(s)
		f.serve(sctx, s)
	}()
	return s, ""
}

// forget removes an ended session and frees what it queued.
func (f *Server) forget(s *session) {
	f.mu.Lock()
	if f.sessions[s.peer] == s {
		delete(f.sessions, s.peer)
		if f.bySource[s.peer.Addr()]--; f.bySource[s.peer.Addr()] <= 0 {
			delete(f.bySource, s.peer.Addr())
		}
	}
	f.mu.Unlock()
	s.cancel()
	f.release(s.queue, s.queue.close(), "")
}

// release frees datagrams taken from q that will not be written, counted
// as dropped for reason unless it is "" (the session ended).
func (f *Server) release(q *queue, batch []*[]byte, reason string) {
	for _, b := range batch {
		q.done(b)
		f.pool.Put(b)
		if reason != "" {
			f.drop(reason)
		}
	}
}

// serve opens the session's link and pumps datagrams both ways until the
// session is idle, the link fails, or the instance stops.
func (f *Server) serve(ctx context.Context, s *session) {
	peer := net.UDPAddrFromAddrPort(s.peer)
	link, err := f.host.Dial(ctx, sdk.LinkRequest{Instance: f.id, Network: "udp",
		Meta: map[string]string{sdk.MetaClientAddr: s.peer.String()}})
	if err != nil {
		f.log.Debug("udp session not opened", "peer", s.peer.String(), "err", err)
		f.release(s.queue, s.queue.take(nil), DropNoLink) // what waited for the link is lost with it
		return
	}
	// A plugin's link is a bare socket (the host counts and limits on its
	// side); an in-process one is the host's counting conn, no socket, so
	// every datagram on it is queued.
	s.queue.opened(dgram.NewTryWriter(link))
	stop := context.AfterFunc(ctx, func() { _ = link.Close() })
	defer stop()
	replies := make(chan struct{})
	defer func() {
		_ = link.Close() // ends the reply pump
		<-replies
	}()
	go func() {
		defer close(replies)
		r := dgram.NewReader(link, f.pool)
		for {
			b, err := r.Read()
			if err != nil {
				s.cancel()
				return
			}
			s.active.Store(true)
			err = f.write(*b, s.peer, peer)
			f.pool.Put(b)
			if err != nil && ctx.Err() == nil {
				f.log.Debug("udp reply failed", "peer", s.peer.String(), "err", err)
			}
		}
	}()
	var free []*[]byte // the last batch's slice, reused
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.queue.ready:
		}
		batch := s.queue.take(free)
		if err := f.send(link, s.queue, batch); err != nil {
			f.log.Debug("udp link write failed", "peer", s.peer.String(), "err", err)
			return
		}
		s.queue.written()
		free = spare(batch)
	}
}

// send writes a batch taken from q on link and releases its buffers: as
// few writes as dgram's batch bounds allow when link takes batches (a
// burst that queued goes through the tunnel in one record), else one
// Write per datagram.
func (f *Server) send(link net.Conn, q *queue, batch []*[]byte) error {
	bw, batches := link.(dgram.BatchWriter)
	for len(batch) > 0 {
		n := 1
		if batches {
			framed := len(*batch[0]) + 2
			for n < len(batch) && n < dgram.BatchLen && framed+len(*batch[n])+2 <= dgram.BatchBytes {
				framed += len(*batch[n]) + 2
				n++
			}
		}
		var err error
		if batches {
			err = bw.WriteBatch(batch[:n])
		} else {
			_, err = link.Write(*batch[0])
		}
		f.release(q, batch[:n], "")
		if err != nil {
			f.release(q, batch[n:], "")
			return err
		}
		batch = batch[n:]
	}
	return nil
}

// reapIdle ends sessions that saw no datagram for a whole idle period.
func (f *Server) reapIdle() {
	defer f.wg.Done()
	t := time.NewTicker(f.lim.Idle)
	defer t.Stop()
	for {
		select {
		case <-f.life.Done():
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
