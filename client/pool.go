package client

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/burrowproject/burrow/bridge"
	"github.com/burrowproject/burrow/internal/netx"
)

// The agent's pool of work connections (bridge/workwire.go): it keeps
// min(min=, the bridge's max=) idle ones open, refills one as soon as a
// link takes one, and ends them all with the session.

// DefaultPoolMin is the idle work connections an agent keeps when
// Config.PoolMin is 0 (NodePass's min= default).
const DefaultPoolMin = 64

// poolDials bounds the work connections being dialled at once: below the
// bridge's per-source handshake bound (16 by default), so a refill never
// crowds out the agent's own reconnect or another agent behind the same
// address.
const poolDials = 4

// workPool is one session's work connections on the agent.
type workPool struct {
	a    *Agent
	tun  *bridge.Tunnel
	wg   *sync.WaitGroup // the session's goroutines: links' copies join it
	want int

	mu      sync.Mutex
	pending int                   // dialling or idle
	carry   int                   // reusable connections carrying links (see retires)
	fails   int                   // work connections lost in a row before carrying a link
	full    bool                  // the bridge said its pool is full: no dial until a link takes one
	conns   map[net.Conn]struct{} // every open work connection
	closed  bool
	refill  chan struct{} // a connection was used or lost
}

// keepPool keeps the session's pool full until the session ends, then
// resets every work connection (idle or carrying a link). Its goroutines
// join wg.
func (a *Agent) keepPool(ctx context.Context, tun *bridge.Tunnel, wg *sync.WaitGroup) {
	want := min(a.cfg.PoolMin, tun.PoolMax)
	if want <= 0 || tun.Flow == bridge.FlowForward {
		return
	}
	p := &workPool{a: a, tun: tun, wg: wg, want: want, conns: make(map[net.Conn]struct{}), refill: make(chan struct{}, 1)}
	a.pool.Store(p)
	defer a.pool.CompareAndSwap(p, nil)
	defer p.close()
	dials := make(chan struct{}, poolDials)
	for {
		p.mu.Lock()
		short, fails := p.want-p.pending, p.fails
		if p.full {
			short = 0
		}
		p.mu.Unlock()
		if fails > 0 && short > 0 && !p.pause(ctx, fails) {
			return
		}
		for ; short > 0; short-- {
			select {
			case dials <- struct{}{}:
			default:
				short = 0 // as many dials in flight as allowed
				continue
			}
			p.mu.Lock()
			p.pending++
			p.mu.Unlock()
			wg.Go(func() {
				ok := p.work(ctx, func() { <-dials; p.wake() })
				p.mu.Lock()
				if ok {
					p.fails = 0
				} else {
					p.fails++ // the bridge refused or is gone: slow down
				}
				p.mu.Unlock()
			})
		}
		select {
		case <-tun.CloseChan():
			return
		case <-ctx.Done():
			return
		case <-p.refill:
		}
	}
}

// pause waits before refilling after fails lost connections in a row,
// unless the session or ctx ends first (then false).
func (p *workPool) pause(ctx context.Context, fails int) bool {
	d := min(p.a.cfg.MinBackoff<<min(fails-1, 10), p.a.cfg.MaxBackoff)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-p.tun.CloseChan():
	case <-ctx.Done():
	}
	return false
}

// idle is how many work connections the pool holds or is dialling.
func (p *workPool) idle() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pending
}

// work dials one work connection, waits (idle) for the bridge's link on
// it and serves the link. dialled is called once the dial is over (in a
// session of bridge.HelloVersionAck, once the bridge acked it). It
// reports false when the connection failed before it carried a link; a
// bridge whose pool is full is no failure, but the pool dials no more
// until a link takes one of its connections.
func (p *workPool) work(ctx context.Context, dialled func()) bool {
	c, err := p.tun.DialWork(ctx)
	dialled()
	if errors.Is(err, bridge.ErrPoolFull) {
		p.mu.Lock()
		p.full = true
		p.mu.Unlock()
		p.used()
		return true
	}
	if err == nil && !p.track(c) {
		_ = c.Close()
		err = net.ErrClosed
	}
	if err != nil {
		p.used()
		if ctx.Err() == nil && p.tun.Alive() {
			p.a.log.Debug("work connection failed", "err", err)
		}
		return false
	}
	return p.serve(ctx, c, false)
}

// serve waits (idle) for the bridge's link on work connection c and
// serves it; reused says c carried a link before, so the bridge closing
// it while idle (its pool was full) is no failure. On a reusable
// connection (bridge.Framed) the link is framed and, once it ended
// cleanly, c waits for the next link in a goroutine of the session.
func (p *workPool) serve(ctx context.Context, c net.Conn, reused bool) bool {
	h, err := bridge.ReadLinkHeader(c) // no deadline: idle until a link comes
	p.mu.Lock()
	p.full = false // the bridge's pool holds one fewer: room again
	p.mu.Unlock()
	p.used()
	if err != nil || h.Network == bridge.NetworkControl {
		_ = c.Close()
		p.untrack(c)
		return reused && err != nil
	}
	n := p.a.links.Add(1)
	if why := p.a.refusal(h, n); why != "" { // the agent's own limits, as on a stream
		p.a.links.Add(-1)
		p.a.log.Warn("link refused", "instance", h.Instance, "network", h.Network.String(), "reason", why)
		_, _ = c.Write(bridge.AppendVerdict(nil, bridge.Verdict{Reason: why}))
		_ = c.Close()
		p.untrack(c)
		return true
	}
	l := &link{Conn: c, tun: p.tun, abort: make(chan struct{}), reused: reused}
	if bridge.Framed(p.tun.Version, c) {
		fc := bridge.NewFrameConn(c)
		fc.Retire = p.retires
		fc.Reuse = func(c net.Conn) { p.again(ctx, c) }
		l.Conn, l.frames = fc, fc
		p.mu.Lock()
		p.carry++
		p.mu.Unlock()
	}
	// The link's copy may outlive this goroutine (see carry): it joins the
	// session's goroutines until it ends.
	p.wg.Add(1)
	p.a.carry(ctx, l, h, func() {
		p.a.links.Add(-1)
		if l.frames != nil {
			p.mu.Lock()
			p.carry--
			p.mu.Unlock()
		}
		if l.frames == nil || !l.frames.HandedBack() {
			p.untrack(c)
		}
		p.wg.Done()
	})
	return true
}

// retires reports whether a reusable connection whose link is ending
// retires (see bridge.FrameConn.Retire): once the pool holds twice min=
// idle and carrying links, the rest are closed, so a burst's connections
// do not stay idle after it.
func (p *workPool) retires() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pending+p.carry > 2*p.want
}

// again makes a work connection whose link ended cleanly idle again: it
// waits for the next link in a goroutine of the session.
func (p *workPool) again(ctx context.Context, c net.Conn) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		_ = netx.Reset(c)
		return
	}
	p.pending++
	p.mu.Unlock()
	p.wg.Go(func() { p.serve(ctx, c, true) })
}

// used says a pending connection is gone (taken for a link or lost), so
// the pool dials another.
func (p *workPool) used() {
	p.mu.Lock()
	p.pending--
	p.mu.Unlock()
	p.wake()
}

// wake tells the filler to look again: a dial ended, or a connection
// went.
func (p *workPool) wake() {
	select {
	case p.refill <- struct{}{}:
	default:
	}
}

func (p *workPool) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *workPool) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

// close resets every work connection: they die with their session.
func (p *workPool) close() {
	p.mu.Lock()
	p.closed = true
	conns := p.conns
	p.conns = map[net.Conn]struct{}{}
	p.mu.Unlock()
	for c := range conns {
		_ = netx.Reset(c)
	}
}
