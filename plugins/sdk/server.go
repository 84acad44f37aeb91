package sdk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/burrowproject/burrow/internal/netx"
	"github.com/burrowproject/burrow/internal/upgrade"
	"github.com/burrowproject/burrow/plugins/sdk/fdlink"
	pluginpb "github.com/burrowproject/burrow/plugins/sdk/proto"
)

// socketWait bounds how long a handler's Listener or PacketConn call waits
// for its socket to arrive on the fd link after Start.
const socketWait = 10 * time.Second

// PluginServer runs a Handler in a plugin process. It serves the handler's
// control service (through GRPCPlugin) and the plugin's end of the fd link,
// and it is the Host the handler is started with: Listener and PacketConn
// return the sockets the host sent, Handoff sends connections back to the
// host, and Dial asks the host for a link.
//
// Serve builds one; tests build one with NewPluginServer to run a handler
// through the real gRPC shim and fd link inside one process.
type PluginServer struct {
	h    Handler
	link *fdlink.Conn
	log  *slog.Logger
	done chan struct{} // closed when the fd link ends

	mu      sync.Mutex
	files   map[uint64]*os.File  // sockets received (op L), by ticket
	arrived chan struct{}        // closed and replaced when a socket arrives
	tickets map[string][2]uint64 // instance -> listener, packet tickets
	running map[string]struct{}  // instances started and not stopped
	events  chan *pluginpb.Event // warnings for the Events stream
	records *recordQueue         // exchanges for the Events stream (Recorder)
	counts  *countQueue          // counts for the Events stream (Counter)
	copies  sync.WaitGroup       // fallback copies (handoff by dial)
	closed  bool
}

// NewPluginServer returns a PluginServer for h on link (the plugin's end of
// an fd link; nil = no fd link, so no sockets, Handoff or Dial). log gets
// the plugin's logs; nil discards them.
func NewPluginServer(h Handler, link *fdlink.Conn, log *slog.Logger) *PluginServer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &PluginServer{
		h: h, link: link, log: log, done: make(chan struct{}),
		files: make(map[uint64]*os.File), arrived: make(chan struct{}),
		tickets: make(map[string][2]uint64), running: make(map[string]struct{}),
		events: make(chan *pluginpb.Event, 64), records: newRecordQueue(), counts: newCountQueue(),
	}
}

// Plugins is the go-plugin plugin set serving this handler.
func (s *PluginServer) Plugins() plugin.PluginSet {
	return plugin.PluginSet{PluginName: &GRPCPlugin{srv: s}}
}

// Done is closed when the fd link has ended (the host is gone).
func (s *PluginServer) Done() <-chan struct{} { return s.done }

// Run reads the fd link until the host closes it; it returns nil then, or
// the error that broke the link. Malformed messages are logged and skipped.
func (s *PluginServer) Run() error {
	defer close(s.done)
	if s.link == nil {
		return errors.New("no fd link")
	}
	for {
		msg, err := s.link.Recv()
		var bad *fdlink.MalformedError
		switch {
		case errors.As(err, &bad):
			s.log.Warn("fd link message refused", "err", err)
			s.warn("", err.Error())
			continue
		case errors.Is(err, io.EOF):
			return nil
		case err != nil:
			return fmt.Errorf("fd link: %w", err)
		}
		if msg.Op != fdlink.OpListen {
			_ = msg.File.Close()
			s.log.Warn("fd link: unexpected op from host", "op", string(msg.Op))
			continue
		}
		var l pluginpb.FdListen
		if err := proto.Unmarshal(msg.Body, &l); err != nil || l.GetTicket() == 0 {
			_ = msg.File.Close()
			s.log.Warn("fd link: malformed listen message", "err", err)
			continue
		}
		s.mu.Lock()
		if old := s.files[l.GetTicket()]; old != nil {
			_ = old.Close()
		}
		s.files[l.GetTicket()] = msg.File
		close(s.arrived)
		s.arrived = make(chan struct{})
		s.mu.Unlock()
	}
}

// Shutdown stops every instance still running, waits for fallback copies,
// and closes sockets nobody claimed. The fd link is left to its owner.
func (s *PluginServer) Shutdown(ctx context.Context) {
	s.mu.Lock()
	s.closed = true
	ids := make([]string, 0, len(s.running))
	for id := range s.running {
		ids = append(ids, id)
	}
	s.mu.Unlock()
	for _, id := range ids {
		if err := s.h.Stop(ctx, id); err != nil {
			s.log.Warn("stop instance at shutdown", "instance", id, "err", err)
		}
		s.forget(id)
	}
	s.copies.Wait()
	s.mu.Lock()
	for t, f := range s.files {
		_ = f.Close()
		delete(s.files, t)
	}
	s.mu.Unlock()
}

func (s *PluginServer) warn(instance, msg string) {
	select {
	case s.events <- &pluginpb.Event{Kind: pluginpb.Event_KIND_WARNING, Instance: instance, Message: msg}:
	default:
	}
}

// forget drops an instance's tickets and closes its unclaimed sockets.
func (s *PluginServer) forget(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.tickets[id] {
		if f := s.files[t]; f != nil {
			_ = f.Close()
			delete(s.files, t)
		}
	}
	delete(s.tickets, id)
	delete(s.running, id)
}

// take waits for the socket an instance was started with.
func (s *PluginServer) take(ctx context.Context, id string, which int, what string) (*os.File, error) {
	s.mu.Lock()
	t, ok := s.tickets[id]
	s.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("instance %q: %w", id, ErrUnknownInstance)
	}
	ticket := t[which]
	if ticket == 0 {
		return nil, fmt.Errorf("instance %s has no %s", id, what)
	}
	timer := time.NewTimer(socketWait)
	defer timer.Stop()
	for {
		s.mu.Lock()
		f := s.files[ticket]
		delete(s.files, ticket)
		arrived := s.arrived
		s.mu.Unlock()
		if f != nil {
			return f, nil
		}
		select {
		case <-arrived:
		case <-ctx.Done():
			return nil, fmt.Errorf("instance %s: waiting for its %s: %w", id, what, ctx.Err())
		case <-s.done:
			return nil, fmt.Errorf("instance %s: fd link closed before its %s arrived", id, what)
		case <-timer.C:
			return nil, fmt.Errorf("instance %s: its %s did not arrive within %s", id, what, socketWait)
		}
	}
}

// Listener implements Host.
func (s *PluginServer) Listener(ctx context.Context, id string) (net.Listener, error) {
	f, err := s.take(ctx, id, 0, "tcp listener")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return net.FileListener(f)
}

// PacketConn implements Host.
func (s *PluginServer) PacketConn(ctx context.Context, id string) (net.PacketConn, error) {
	f, err := s.take(ctx, id, 1, "udp socket")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return net.FilePacketConn(f)
}

// Logger implements Host.
func (s *PluginServer) Logger(id string) *slog.Logger { return s.log.With("instance", id) }

func linkBody(req LinkRequest, preamble []byte, opts HandoffOptions) ([]byte, error) {
	return proto.Marshal(&pluginpb.FdLink{Instance: req.Instance, Network: req.Network, Target: req.Target,
		Meta: req.Meta, Preamble: preamble, FailReply: opts.FailReply,
		Upgrade: opts.Upgrade, Pending: opts.Pending, HeadTimeoutMs: opts.HeadTimeout.Milliseconds()})
}

// Handoff implements Host: it sends c's descriptor to the host (op H) and
// closes the plugin's copy, which does not end the connection. The host
// opens the link and copies; its failures are logged by the host, so a nil
// error means the host has the connection. A connection that is not a
// plain socket, or a preamble too large for one message, is served through
// Dial and copied by the plugin instead.
func (s *PluginServer) Handoff(ctx context.Context, c net.Conn, req LinkRequest, preamble []byte, opts HandoffOptions) error {
	if req.Meta == nil {
		req.Meta = map[string]string{MetaClientAddr: c.RemoteAddr().String()}
	}
	sc, isSocket := c.(syscall.Conn)
	body, err := linkBody(req, preamble, opts)
	if err != nil || !isSocket || len(body) > fdlink.MaxBody || s.link == nil {
		return s.handoffByDial(ctx, c, req, preamble, opts)
	}
	err = s.link.SendConn(fdlink.OpHandoff, body, sc)
	if err != nil && len(opts.FailReply) > 0 {
		_ = c.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = c.Write(opts.FailReply)
	}
	_ = c.Close()
	if err != nil {
		return &LinkError{Instance: req.Instance, Target: req.Target, Reason: "hand off to host: " + err.Error(), Err: err}
	}
	return nil
}

// handoffByDial serves a handoff the fd link cannot carry (a TLS
// connection, say): it dials a link and copies in the plugin, gating an
// upgrade on the backend's answer exactly as the host does.
func (s *PluginServer) handoffByDial(ctx context.Context, c net.Conn, req LinkRequest, preamble []byte, opts HandoffOptions) error {
	link, err := s.Dial(ctx, req)
	if err == nil && len(preamble) > 0 {
		if _, err = link.Write(preamble); err != nil {
			_ = link.Close()
		}
	}
	if err != nil {
		if len(opts.FailReply) > 0 {
			_ = c.SetWriteDeadline(time.Now().Add(time.Second))
			_, _ = c.Write(opts.FailReply)
		}
		upgrade.Linger(c)
		return err
	}
	s.copies.Add(1)
	go func() {
		defer s.copies.Done()
		if opts.Upgrade != "" {
			switched, err := upgrade.Gate(c, link, preamble, upgrade.Options{Protocol: opts.Upgrade, Pending: opts.Pending,
				Timeout: opts.HeadTimeout, RequestID: req.Meta[MetaRequestID]})
			if !switched {
				_ = link.Close()
				if err != nil {
					s.log.Warn("upgrade not switched", "instance", req.Instance, "request_id", req.Meta[MetaRequestID], "err", err)
				}
				return
			}
		}
		_, _, _ = netx.Join(c, link, netx.JoinOptions{})
	}()
	return nil
}

// Dial implements Host: it sends one end of a new socketpair to the host
// (op D) and returns the other once the host's verdict says the agent
// reached the target. The link is a *net.UnixConn: a stream for "tcp", a
// SOCK_SEQPACKET socket (one datagram per Read and Write) for "udp".
func (s *PluginServer) Dial(ctx context.Context, req LinkRequest) (net.Conn, error) {
	return s.ask(ctx, fdlink.OpDial, req, nil)
}

// Forward implements Forwarder: it sends the request with one end of a new
// socketpair (op F) and returns the host's verdict; the host then accepts
// on the instance's listener itself.
//
// The plugin's copy of the listener is closed then: a copy nobody accepts
// on would still sit in this process's poller and wake it for every
// connection the host accepts.
func (s *PluginServer) Forward(ctx context.Context, req LinkRequest, opts HandoffOptions) error {
	c, err := s.ask(ctx, fdlink.OpForward, req, opts.FailReply)
	if err != nil {
		return err
	}
	_ = c.Close()
	if f, err := s.take(ctx, req.Instance, 0, "tcp listener"); err == nil {
		_ = f.Close()
	}
	return nil
}

// ask sends a request with one end of a new socketpair on the fd link and
// returns the other end once the host's verdict on it is "ok".
func (s *PluginServer) ask(ctx context.Context, op byte, req LinkRequest, failReply []byte) (net.Conn, error) {
	fail := func(reason string, err error) (net.Conn, error) {
		return nil, &LinkError{Instance: req.Instance, Target: req.Target, Reason: reason, Err: err}
	}
	if s.link == nil {
		return fail("no fd link to the host", nil)
	}
	typ, packet := syscall.SOCK_STREAM, false
	if op == fdlink.OpDial && req.Network == "udp" {
		typ, packet = syscall.SOCK_SEQPACKET, true
	}
	body, err := linkBody(req, nil, HandoffOptions{FailReply: failReply})
	if err != nil || len(body) > fdlink.MaxBody {
		return fail("link request too large", err)
	}
	mine, theirs, err := fdlink.Socketpair(typ)
	if err != nil {
		return fail(err.Error(), err)
	}
	if op == fdlink.OpDial && !packet {
		sizeBuffers(mine, theirs)
	}
	err = s.link.SendFile(op, body, theirs)
	_ = theirs.Close()
	if err != nil {
		_ = mine.Close()
		return fail("ask host: "+err.Error(), err)
	}
	stop := context.AfterFunc(ctx, func() { _ = mine.SetReadDeadline(time.Now()) })
	reason, err := fdlink.ReadVerdict(mine, packet)
	if !stop() {
		_ = mine.Close()
		return fail(ctx.Err().Error(), ctx.Err())
	}
	if errors.Is(err, io.EOF) && op == fdlink.OpForward {
		err = errors.New("the host closed the request unanswered (hosts older than sdk 1.1.0 cannot forward)")
	}
	if err != nil {
		_ = mine.Close()
		return fail(err.Error(), err)
	}
	if reason != "" {
		_ = mine.Close()
		return fail(reason, sentinel(reason))
	}
	return mine, nil
}

// streamBuffer is the send buffer of each end of a stream link's
// socketpair (the kernel's default is some 208 KiB). The host writes what
// it copies from the tunnel in pieces of up to 64 KiB; a buffer that holds
// a megabyte of them lets the host write on without waiting for this
// process, and lets this process take more per read, which halves the
// wakeups per megabyte on both sides. It bounds what the socket holds, it
// is not allocated: an idle link costs nothing more. The kernel caps it at
// net.core.wmem_max.
const streamBuffer = 1 << 20

// sizeBuffers sets the send buffers of both ends of a stream socketpair;
// a failure leaves the kernel's default.
func sizeBuffers(mine *net.UnixConn, theirs *os.File) {
	_ = mine.SetWriteBuffer(streamBuffer)
	if rc, err := theirs.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) {
			_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF, streamBuffer)
		})
	}
}

// sentinel maps a host's refusal text back to the sdk's sentinel errors.
func sentinel(reason string) error {
	for _, e := range []error{ErrUnknownInstance, ErrTargetNotAllowed, ErrNoAgent, ErrSlotsFull} {
		if reason == e.Error() {
			return e
		}
	}
	return nil
}

var (
	_ Host      = (*PluginServer)(nil)
	_ Forwarder = (*PluginServer)(nil)
	_ Recorder  = (*PluginServer)(nil)
)

// shim serves the control service by calling the handler.
type shim struct {
	pluginpb.UnimplementedHandlerServer
	srv *PluginServer
}

func (x *shim) Describe(ctx context.Context, _ *pluginpb.DescribeRequest) (*pluginpb.Descriptor, error) {
	d, err := x.srv.h.Describe(ctx)
	if err != nil {
		return nil, status.Error(codes.Unknown, err.Error())
	}
	return descToPB(d), nil
}

func (x *shim) Validate(ctx context.Context, spec *pluginpb.InstanceSpec) (*pluginpb.ValidateReply, error) {
	if err := x.srv.h.Validate(ctx, specFromPB(spec)); err != nil {
		return &pluginpb.ValidateReply{Error: err.Error()}, nil
	}
	return &pluginpb.ValidateReply{}, nil
}

func (x *shim) Start(ctx context.Context, req *pluginpb.StartRequest) (*pluginpb.StartReply, error) {
	s := x.srv
	spec := specFromPB(req.GetSpec())
	if spec.ID == "" {
		return nil, status.Error(codes.InvalidArgument, "start: instance id required")
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, status.Error(codes.Unavailable, "plugin is shutting down")
	}
	if _, dup := s.running[spec.ID]; dup {
		s.mu.Unlock()
		return nil, status.Errorf(codes.AlreadyExists, "instance %s is already running", spec.ID)
	}
	s.tickets[spec.ID] = [2]uint64{req.GetListenerTicket(), req.GetPacketTicket()}
	s.running[spec.ID] = struct{}{}
	s.mu.Unlock()
	if err := s.h.Start(ctx, spec, s); err != nil {
		s.forget(spec.ID)
		return nil, status.Error(codes.Unknown, err.Error())
	}
	return &pluginpb.StartReply{}, nil
}

func (x *shim) Stop(ctx context.Context, req *pluginpb.StopRequest) (*pluginpb.StopReply, error) {
	err := x.srv.h.Stop(ctx, req.GetInstance())
	x.srv.forget(req.GetInstance())
	if err != nil {
		return nil, status.Error(codes.Unknown, err.Error())
	}
	return &pluginpb.StopReply{}, nil
}

func (x *shim) Events(_ *pluginpb.EventsRequest, st pluginpb.Handler_EventsServer) error {
	if err := st.Send(&pluginpb.Event{Kind: pluginpb.Event_KIND_READY}); err != nil {
		return err
	}
	q, cq := x.srv.records, x.srv.counts
	var flush <-chan time.Time       // armed by the first queued record
	var flushCounts <-chan time.Time // armed by the first count
	for {
		select {
		case <-st.Context().Done():
			return nil
		case <-x.srv.done:
			return status.Error(codes.Unavailable, "fd link closed")
		case ev := <-x.srv.events:
			if err := st.Send(ev); err != nil {
				return err
			}
			continue
		case <-cq.ready:
			if flushCounts == nil {
				flushCounts = time.After(countFlush)
			}
			continue
		case <-flushCounts:
			flushCounts = nil
			for _, ev := range cq.take() {
				if err := st.Send(ev); err != nil {
					return err
				}
			}
			continue
		case <-q.ready:
			if !q.full() {
				if flush == nil {
					flush = time.After(recordFlush)
				}
				continue
			}
		case <-flush:
		}
		flush = nil
		for _, ev := range q.take() {
			if err := st.Send(ev); err != nil {
				return err
			}
		}
	}
}
