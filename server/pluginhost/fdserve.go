package pluginhost

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/burrowproject/burrow/internal/dgram"
	"github.com/burrowproject/burrow/internal/netx"
	"github.com/burrowproject/burrow/plugins/sdk"
	"github.com/burrowproject/burrow/plugins/sdk/fdlink"
	pluginpb "github.com/burrowproject/burrow/plugins/sdk/proto"
)

// serveLink serves the plugin's requests on l's fd link until it ends.
func (p *proc) serveLink(l *launch) {
	for {
		msg, err := l.link.Recv()
		var bad *fdlink.MalformedError
		switch {
		case errors.As(err, &bad):
			p.log.Warn("fd link message refused", "err", err)
			continue
		case errors.Is(err, io.EOF):
			return
		case err != nil:
			if l.ctx.Err() == nil {
				p.log.Warn("fd link failed", "err", err)
			}
			return
		}
		switch msg.Op {
		case fdlink.OpHandoff:
			p.serveHandoff(msg)
		case fdlink.OpDial:
			p.serveDial(msg)
		case fdlink.OpForward:
			p.serveForward(l, msg)
		default:
			_ = msg.File.Close()
			p.log.Warn("fd link: op not allowed from a plugin", "op", string(msg.Op))
		}
	}
}

// request decodes a link request and finds its instance, which must be one
// this plugin runs.
func (p *proc) request(msg fdlink.Message) (*inst, *pluginpb.FdLink, error) {
	var r pluginpb.FdLink
	if err := proto.Unmarshal(msg.Body, &r); err != nil {
		return nil, nil, fmt.Errorf("malformed link request: %w", err)
	}
	if r.GetNetwork() != "tcp" && r.GetNetwork() != "udp" {
		return nil, nil, fmt.Errorf("link request for network %q", r.GetNetwork())
	}
	p.mu.Lock()
	in := p.insts[r.GetInstance()]
	p.mu.Unlock()
	if in == nil {
		return nil, nil, fmt.Errorf("instance %q: %w", r.GetInstance(), sdk.ErrUnknownInstance)
	}
	return in, &r, nil
}

func linkRequest(r *pluginpb.FdLink) sdk.LinkRequest {
	return sdk.LinkRequest{Instance: r.GetInstance(), Network: r.GetNetwork(), Target: r.GetTarget(), Meta: r.GetMeta()}
}

// serveHandoff adopts a connection the plugin handed back and gives it to
// the instance's host, which links, copies and counts it. The connection
// outlives the plugin process.
func (p *proc) serveHandoff(msg fdlink.Message) {
	in, r, err := p.request(msg)
	if err == nil && r.GetNetwork() != "tcp" {
		err = errors.New("handoff of a non-tcp connection")
	}
	if err != nil {
		_ = msg.File.Close()
		p.log.Warn("handoff refused", "err", err)
		return
	}
	c, err := adopt(msg.File, syscall.SOCK_STREAM)
	if err != nil {
		p.log.Warn("handoff refused", "instance", in.spec.ID, "err", err)
		return
	}
	// Handoff only checks the request and starts the host's own copy, so it
	// runs inline: no goroutine hop on the connection-setup path.
	opts := sdk.HandoffOptions{FailReply: r.GetFailReply(), Upgrade: r.GetUpgrade(), Pending: r.GetPending(),
		HeadTimeout: time.Duration(r.GetHeadTimeoutMs()) * time.Millisecond}
	if err := in.host.Handoff(p.ctx, c, linkRequest(r), r.GetPreamble(), opts); err != nil {
		p.log.Debug("handoff failed", "instance", in.spec.ID, "err", err)
	}
}

// serveDial opens a link for the plugin, answers with the verdict on the
// socket it sent, and joins that socket to the link. The host's link is
// counted and limited by the instance's host.
func (p *proc) serveDial(msg fdlink.Message) {
	in, r, reqErr := p.request(msg)
	want := syscall.SOCK_STREAM
	if r != nil && r.GetNetwork() == "udp" {
		want = syscall.SOCK_SEQPACKET
	}
	c, err := adopt(msg.File, want)
	if err != nil {
		p.log.Warn("link request refused", "err", err)
		return
	}
	if reqErr != nil {
		p.log.Warn("link request refused", "err", reqErr)
		_ = fdlink.WriteVerdict(c, reqErr.Error())
		_ = c.Close()
		return
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		link, err := in.host.Dial(p.ctx, linkRequest(r))
		if err != nil {
			_ = fdlink.WriteVerdict(c, refusal(err))
			_ = c.Close()
			return
		}
		if err := fdlink.WriteVerdict(c, ""); err != nil {
			_ = c.Close()
			_ = link.Close()
			return
		}
		if want == syscall.SOCK_SEQPACKET {
			_ = dgram.Join(c, link, dgram.Shared, dgram.JoinOptions{})
			return
		}
		_, _, _ = netx.Join(c, link, netx.JoinOptions{})
	}()
}

// forwarder is the host that can tie a forward to a plugin process's life
// (*host.Host).
type forwarder interface {
	ForwardWhile(life context.Context, req sdk.LinkRequest, opts sdk.HandoffOptions) error
}

// serveForward lets the instance's host accept on the instance's listener
// for as long as this launch of the plugin lives, and answers with the
// verdict on the socket the plugin sent.
func (p *proc) serveForward(l *launch, msg fdlink.Message) {
	in, r, err := p.request(msg)
	c, aerr := adopt(msg.File, syscall.SOCK_STREAM)
	if aerr != nil {
		p.log.Warn("forward request refused", "err", aerr)
		return
	}
	defer c.Close()
	if err == nil {
		opts := sdk.HandoffOptions{FailReply: r.GetFailReply()}
		switch fw := in.host.(type) {
		case forwarder:
			err = fw.ForwardWhile(l.ctx, linkRequest(r), opts)
		case sdk.Forwarder:
			err = fw.Forward(l.ctx, linkRequest(r), opts)
		default:
			err = errors.New("this host cannot forward listeners")
		}
	}
	if err != nil {
		p.log.Warn("forward request refused", "err", err)
	}
	_ = fdlink.WriteVerdict(c, refusal(err))
}

// refusal is the verdict text for err: "" for none, the agent's or host's
// reason for a LinkError, else the error's text.
func refusal(err error) string {
	if err == nil {
		return ""
	}
	var le *sdk.LinkError
	if errors.As(err, &le) {
		return le.Reason
	}
	return err.Error()
}

// adopt turns a received descriptor into a connection, checking that it is
// a socket of the expected type; f is closed.
func adopt(f *os.File, sotype int) (net.Conn, error) {
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	var got int
	var gerr error
	if err := rc.Control(func(fd uintptr) {
		got, gerr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_TYPE)
	}); err != nil {
		return nil, err
	}
	if gerr != nil {
		return nil, fmt.Errorf("received descriptor is not a socket: %w", gerr)
	}
	if got != sotype {
		return nil, fmt.Errorf("received socket of type %d, want %d", got, sotype)
	}
	return net.FileConn(f)
}
