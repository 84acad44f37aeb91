// Package flow is the host's byte accounting and limits for one instance:
// live counters (tcprx/tcptx/udprx/udptx: rx is what users sent, tx what
// they received), gauges of open connections and UDP sessions, the slot
// limit (slot=) and the bandwidth limit (rate=, per direction). Handlers
// never see these; the host applies them in its own copy loops and link
// wrappers, so a handler cannot under-report or exceed them.
package flow

import (
	"net"
	"sync/atomic"

	"golang.org/x/time/rate"

	"github.com/burrowproject/burrow/internal/dgram"
	"github.com/burrowproject/burrow/internal/netx"
)

// Meter accounts for one instance. It is safe for concurrent use.
type Meter struct {
	TCPRx, TCPTx, UDPRx, UDPTx atomic.Int64
	tcps, udps                 atomic.Int64
	used                       atomic.Int64 // tcps + udps, the figure slots bound
	slots                      int64
	up, down                   *rate.Limiter
}

// Stats is a snapshot of a Meter.
type Stats struct {
	TCPs, UDPs                 int64
	TCPRx, TCPTx, UDPRx, UDPTx int64
}

// NewMeter returns a Meter allowing slots concurrent connections (0 means
// unlimited) at rateMbps megabits per second each way (0 means unlimited).
func NewMeter(slots, rateMbps int) *Meter {
	m := &Meter{slots: int64(slots)}
	m.up, m.down = netx.RateLimiters(rateMbps)
	return m
}

// Snapshot returns the current figures.
func (m *Meter) Snapshot() Stats {
	return Stats{
		TCPs: m.tcps.Load(), UDPs: m.udps.Load(),
		TCPRx: m.TCPRx.Load(), TCPTx: m.TCPTx.Load(), UDPRx: m.UDPRx.Load(), UDPTx: m.UDPTx.Load(),
	}
}

// Acquire takes a slot for a connection or UDP session of network ("tcp" or
// "udp"). It returns false when every slot is taken; otherwise release must
// be called exactly once when the connection ends.
func (m *Meter) Acquire(network string) (release func(), ok bool) {
	g := &m.tcps
	if network == "udp" {
		g = &m.udps
	}
	for {
		n := m.used.Load()
		if m.slots > 0 && n >= m.slots {
			return nil, false
		}
		if m.used.CompareAndSwap(n, n+1) {
			break
		}
	}
	g.Add(1)
	var once atomic.Bool
	return func() {
		if once.CompareAndSwap(false, true) {
			g.Add(-1)
			m.used.Add(-1)
		}
	}, true
}

// Flows returns the Join flows for a user connection of network: from the
// user (rx) and to the user (tx).
func (m *Meter) Flows(network string) (fromUser, toUser netx.Flow) {
	rx, tx := &m.TCPRx, &m.TCPTx
	if network == "udp" {
		rx, tx = &m.UDPRx, &m.UDPTx
	}
	return netx.Flow{Count: rx, Limit: m.up}, netx.Flow{Count: tx, Limit: m.down}
}

// Conn counts and limits a link a handler holds (Dial): what the handler
// writes goes to the agent (rx, from users), what it reads came back (tx).
// Close releases the link's slot.
type Conn struct {
	net.Conn
	in, out netx.Flow
	release func()
}

// WrapLink returns c counted and limited for network, releasing a slot on
// Close.
func (m *Meter) WrapLink(c net.Conn, network string, release func()) *Conn {
	fromUser, toUser := m.Flows(network)
	return &Conn{Conn: c, in: fromUser, out: toUser, release: release}
}

func (c *Conn) Write(p []byte) (int, error) {
	if err := netx.Wait(c.in.Limit, len(p)); err != nil {
		return 0, err
	}
	n, err := c.Conn.Write(p)
	c.in.Count.Add(int64(n))
	return n, err
}

// WriteBatch implements dgram.BatchWriter, counted and limited as Write
// is: in one write when the link takes batches, else one Write each.
func (c *Conn) WriteBatch(ds []*[]byte) error {
	bw, ok := c.Conn.(dgram.BatchWriter)
	if !ok {
		for _, p := range ds {
			if _, err := c.Write(*p); err != nil {
				return err
			}
		}
		return nil
	}
	n := 0
	for _, p := range ds {
		n += len(*p)
	}
	if err := netx.Wait(c.in.Limit, n); err != nil {
		return err
	}
	if err := bw.WriteBatch(ds); err != nil {
		return err
	}
	c.in.Count.Add(int64(n))
	return nil
}

func (c *Conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.out.Count.Add(int64(n))
		if werr := netx.Wait(c.out.Limit, n); werr != nil && err == nil {
			err = werr
		}
	}
	return n, err
}

// ReadPacket implements dgram.PacketReader over a datagram link: one
// datagram in a pooled buffer, counted and limited as Read is.
func (c *Conn) ReadPacket(pool *dgram.Pool) (*[]byte, error) {
	b, err := dgram.ReadPacket(c.Conn, pool)
	if err != nil {
		return nil, err
	}
	c.out.Count.Add(int64(len(*b)))
	if err := netx.Wait(c.out.Limit, len(*b)); err != nil {
		pool.Put(b)
		return nil, err
	}
	return b, nil
}

// Close closes the link and releases its slot.
func (c *Conn) Close() error {
	err := c.Conn.Close()
	if c.release != nil {
		c.release()
	}
	return err
}

// CloseWrite half-closes the link when it supports it.
func (c *Conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Close()
}
