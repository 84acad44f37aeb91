package testutil

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// Relay forwards a loopback port to a target, TCP (a connection per
// connection) or UDP (an upstream socket per client address), and can be
// stopped and started again on the same port: what sits between an agent
// and its bridge, restarted. Stop ends every connection and socket.
type Relay struct {
	t       testing.TB
	network string
	addr    string // its own, fixed across restarts
	target  string

	mu      sync.Mutex
	closers []io.Closer
	wg      sync.WaitGroup
	running bool
}

// StartRelay starts a relay of network ("tcp" or "udp") to target on a
// free loopback port; it is stopped when the test ends.
func StartRelay(t testing.TB, network, target string) *Relay {
	t.Helper()
	r := &Relay{t: t, network: network, target: target}
	r.Start()
	t.Cleanup(r.Stop)
	return r
}

// Addr is the relay's address.
func (r *Relay) Addr() string { return r.addr }

// Start starts the relay (again) on its address.
func (r *Relay) Start() {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.running {
		return
	}
	listen := r.addr
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	var err error
	for range 50 { // bounded: the old socket's port is free again at once, but be patient with the kernel
		if r.network == "udp" {
			err = r.startUDP(listen)
		} else {
			err = r.startTCP(listen)
		}
		if err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		r.t.Fatalf("relay %s on %s: %v", r.network, listen, err)
	}
	r.running = true
}

// Stop closes the relay's listener and every connection through it.
func (r *Relay) Stop() {
	r.mu.Lock()
	for _, c := range r.closers {
		_ = c.Close()
	}
	r.closers, r.running = nil, false
	r.mu.Unlock()
	r.wg.Wait()
}

// track records c to close at Stop, or closes it when the relay has
// stopped meanwhile.
func (r *Relay) track(c io.Closer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.running {
		_ = c.Close()
		return
	}
	r.closers = append(r.closers, c)
}

func (r *Relay) startTCP(listen string) error {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	r.addr = ln.Addr().String()
	r.closers = append(r.closers, ln)
	r.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", r.target)
			if err != nil {
				_ = c.Close()
				continue
			}
			r.track(c)
			r.track(up)
			r.wg.Go(func() { _, _ = io.Copy(up, c); _ = up.Close() })
			r.wg.Go(func() { _, _ = io.Copy(c, up); _ = c.Close() })
		}
	})
	return nil
}

func (r *Relay) startUDP(listen string) error {
	pc, err := net.ListenPacket("udp", listen)
	if err != nil {
		return err
	}
	r.addr = pc.LocalAddr().String()
	r.closers = append(r.closers, pc)
	r.wg.Go(func() {
		ups := map[string]net.Conn{}
		buf := make([]byte, 64<<10)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			up := ups[from.String()]
			if up == nil {
				if up, err = net.Dial("udp", r.target); err != nil {
					continue
				}
				ups[from.String()] = up
				r.track(up)
				r.wg.Go(func() {
					b := make([]byte, 64<<10)
					for {
						n, err := up.Read(b)
						if err != nil {
							return
						}
						_, _ = pc.WriteTo(b[:n], from)
					}
				})
			}
			_, _ = up.Write(buf[:n])
		}
	})
	return nil
}
