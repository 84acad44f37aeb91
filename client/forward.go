package client

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/burrowproject/burrow/bridge"
	"github.com/burrowproject/burrow/internal/block"
	"github.com/burrowproject/burrow/internal/dgram"
	"github.com/burrowproject/burrow/internal/netx"
)

// Forward mode (the server's mode=2): users reach the agent, which listens
// on its first target address for the session's lifetime and carries each
// TCP connection and UDP session to the server as a link it opens; the
// server dials its own targets.

const (
	// maxForwardSessions bounds the UDP senders served at once.
	maxForwardSessions = 4096
	// forwardUDPIdle ends a UDP session this long without a datagram
	// either way, unless read= sets another bound.
	forwardUDPIdle = 60 * time.Second
)

// serveForward listens for users until the session ends. When the address
// cannot be bound it says why and closes the session, so the agent retries
// with backoff and reports the reason.
func (a *Agent) serveForward(sess *bridge.Tunnel) {
	addr := a.cfg.Targets[0]
	fail := func(err error) {
		a.log.Error("forward mode: cannot listen for users", "err", err)
		_ = sess.Close()
	}
	var (
		ln net.Listener
		pc net.PacketConn
		wg sync.WaitGroup
	)
	defer wg.Wait()
	if !a.cfg.NoTCP {
		var err error
		if ln, err = net.Listen("tcp", addr); err != nil {
			fail(err)
			return
		}
	}
	if !a.cfg.NoUDP {
		var err error
		if pc, err = net.ListenPacket("udp", addr); err != nil {
			if ln != nil {
				_ = ln.Close()
			}
			fail(err)
			return
		}
		wg.Go(func() { a.forwardUDP(sess, pc) })
	}
	a.log.Info("forward mode: listening for users", "addr", addr, "tcp", ln != nil, "udp", pc != nil)
	wg.Go(func() {
		<-sess.CloseChan()
		if ln != nil {
			_ = ln.Close()
		}
		if pc != nil {
			_ = pc.Close()
		}
	})
	if ln == nil {
		return // UDP only: wg waits for the session's end
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				a.log.Warn("forward mode: accept failed", "err", err)
			}
			_ = sess.Close()
			return
		}
		if a.cfg.Slots > 0 && a.links.Load() >= int64(a.cfg.Slots) {
			_ = netx.Reset(c) // slot= reached: refused at once
			continue
		}
		wg.Go(func() { a.forwardTCP(sess, c) })
	}
}

// openLink opens a link to the server for a user at source.
func openLink(sess *bridge.Tunnel, network bridge.Network, source string) (net.Conn, error) {
	hdr, err := bridge.AppendLinkHeader(nil, bridge.LinkHeader{Network: network, Source: source})
	if err != nil {
		return nil, err
	}
	st, err := sess.OpenStream()
	if err != nil {
		return nil, err
	}
	if _, err := st.Write(hdr); err != nil {
		_ = st.Close()
		return nil, err
	}
	return st, nil
}

// forwardTCP carries one user connection to the server.
func (a *Agent) forwardTCP(sess *bridge.Tunnel, c net.Conn) {
	st, err := openLink(sess, bridge.NetworkTCP, c.RemoteAddr().String())
	if err != nil {
		a.log.Warn("forward mode: open link failed", "err", err)
		_ = c.Close()
		return
	}
	a.links.Add(1)
	defer a.links.Add(-1)
	_, _, err = netx.Join(block.Wrap(c, a.cfg.Block), st, netx.JoinOptions{
		AToB: netx.Flow{Count: &a.tcpRx, Limit: a.rxLimit}, BToA: netx.Flow{Count: &a.tcpTx, Limit: a.txLimit}, Idle: a.cfg.Idle,
	})
	if protocol, ok := block.IsBlocked(err); ok {
		a.log.Warn("blocked protocol", "protocol", protocol, "client", c.RemoteAddr().String())
	}
}

// forwardSession is one UDP sender's link.
type forwardSession struct {
	link *bridge.DatagramConn
	last atomic.Int64 // unix nanoseconds of the last datagram either way
}

// forwardUDP groups datagrams by sender into sessions, each a datagram link
// to the server, until pc is closed.
func (a *Agent) forwardUDP(sess *bridge.Tunnel, pc net.PacketConn) {
	idle := forwardUDPIdle
	if a.cfg.Idle > 0 {
		idle = a.cfg.Idle
	}
	var (
		mu       sync.Mutex
		sessions = make(map[string]*forwardSession)
		wg       sync.WaitGroup
	)
	defer func() {
		mu.Lock()
		for _, s := range sessions {
			_ = s.link.Close()
		}
		mu.Unlock()
		wg.Wait()
	}()
	buf := make([]byte, bridge.MaxDatagram)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		key := from.String()
		mu.Lock()
		s := sessions[key]
		if s == nil && len(sessions) < maxForwardSessions && (a.cfg.Slots == 0 || a.links.Load() < int64(a.cfg.Slots)) {
			st, err := openLink(sess, bridge.NetworkUDP, key)
			if err == nil {
				s = &forwardSession{link: bridge.NewDatagramConn(st)}
				sessions[key] = s
				a.links.Add(1)
				wg.Go(func() {
					a.forwardReplies(s, pc, from, idle)
					mu.Lock()
					delete(sessions, key)
					mu.Unlock()
					a.links.Add(-1)
				})
			}
		}
		mu.Unlock()
		if s == nil {
			continue // no link (session full or tunnel gone): dropped, as a congested path would
		}
		s.last.Store(time.Now().UnixNano())
		_ = netx.Wait(a.rxLimit, n)
		if _, err := s.link.Write(buf[:n]); err == nil {
			a.udpRx.Add(int64(n))
		}
	}
}

// forwardReplies sends a session's replies back to its sender until the
// link ends or the session has been idle for idle. A reply holds a pooled
// buffer of its own size only between its read and its write, so an idle
// session holds none (see dgram).
func (a *Agent) forwardReplies(s *forwardSession, pc net.PacketConn, to net.Addr, idle time.Duration) {
	defer s.link.Close()
	for {
		_ = s.link.SetReadDeadline(time.Now().Add(idle))
		b, err := dgram.ReadPacket(s.link, dgram.Shared)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && time.Since(time.Unix(0, s.last.Load())) < idle {
				continue // the user kept sending
			}
			return
		}
		s.last.Store(time.Now().UnixNano())
		n := len(*b)
		_ = netx.Wait(a.txLimit, n)
		_, err = pc.WriteTo(*b, to)
		dgram.Shared.Put(b)
		if err == nil {
			a.udpTx.Add(int64(n))
		}
	}
}
