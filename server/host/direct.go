package host

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/burrowproject/burrow/bridge"
	"github.com/burrowproject/burrow/internal/egress"
	"github.com/burrowproject/burrow/internal/netx"
)

// Direct reaches an instance's targets itself, with no agent in between:
// a client in single-end mode forwards every connection and datagram
// session it accepts straight to its target group. The links it opens are
// plain sockets, handed to the same copy loops, counters and limits
// (slot=, rate=, read=, proxy=) as links through an agent.
type Direct struct {
	Group  *egress.Group
	Dialer *net.Dialer // timeout and source address; nil = 10 s, any
}

// NewDirect returns a Host whose instances link through d.
func NewDirect(d *Direct, log *slog.Logger) *Host {
	if d.Dialer == nil {
		d.Dialer = &net.Dialer{Timeout: defaultDialTimeout}
	}
	return newHost(d.open, log)
}

const defaultDialTimeout = 10 * time.Second // as an agent's

// open dials the link's target (or the group) and writes the preamble.
func (d *Direct) open(ctx context.Context, _ string, h bridge.LinkHeader, preamble []byte) (Link, error) {
	network := h.Network.String()
	dial := egress.NetDialer(d.Dialer, h.Flags&bridge.FlagProxyProtocol != 0, h.Source)
	var c net.Conn
	var err error
	if h.Target != "" {
		c, err = d.Group.Resolver().Dial(ctx, network, h.Target, dial)
	} else {
		_, c, err = d.Group.Dial(ctx, network, dial)
	}
	if err != nil {
		return nil, err
	}
	if len(preamble) > 0 {
		if _, err := c.Write(preamble); err != nil {
			_ = c.Close()
			return nil, fmt.Errorf("write to target: %w", err)
		}
	}
	switch c := c.(type) {
	case *net.TCPConn:
		return tcpLink{c}, nil
	case *net.UDPConn:
		return udpLink{c}, nil
	}
	_ = c.Close()
	return nil, fmt.Errorf("direct link of network %s: unexpected %T", network, c)
}

// tcpLink and udpLink are direct links: the target answered the dial, so
// there is no verdict to wait for. They embed the concrete sockets so the
// copy loop keeps half-close and the kernel's fast paths.
type tcpLink struct{ *net.TCPConn }

func (tcpLink) AwaitVerdict(context.Context) error { return nil }

// WriteTo hides TCPConn's, which allocates a buffer of its own: the copy
// loop's pooled buffers are better.
func (l tcpLink) WriteTo(w io.Writer) (int64, error) { return netx.Copy(w, l.TCPConn, netx.Flow{}) }

type udpLink struct{ *net.UDPConn }

func (udpLink) AwaitVerdict(context.Context) error { return nil }
