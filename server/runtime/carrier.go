package runtime

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"

	"github.com/burrowproject/burrow/bridge"
	"github.com/burrowproject/burrow/conf"
)

// BridgeListener is where a bridge takes agents on its carrier: a TCP
// listener for TCP, WebSocket and HTTP/2; for QUIC a UDP socket and, on
// the same port, a TCP listener that tells TCP agents to use QUIC.
type BridgeListener struct {
	srv    *bridge.Server
	ln     net.Listener
	pc     net.PacketConn // QUIC only
	cancel context.CancelFunc
	served []chan struct{}
}

// ListenBridge binds the sockets of srv, a bridge whose carrier is
// carrier, on addr; Start serves them.
func ListenBridge(srv *bridge.Server, carrier bridge.CarrierType, addr string) (*BridgeListener, error) {
	l := &BridgeListener{srv: srv}
	if carrier != bridge.CarrierQUIC {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("listen for agents on %s: %w", addr, err)
		}
		l.ln = ln
		return l, nil
	}
	pc, ln, err := listenQUIC(addr)
	if err != nil {
		return nil, err
	}
	l.pc, l.ln = pc, ln
	return l, nil
}

// Addr is the address agents dial.
func (l *BridgeListener) Addr() string { return l.ln.Addr().String() }

// Start serves the bridge's sockets until Stop.
func (l *BridgeListener) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	serve := func(fn func()) {
		done := make(chan struct{})
		l.served = append(l.served, done)
		go func() {
			defer close(done)
			fn()
		}()
	}
	if l.pc != nil {
		serve(func() { _ = l.srv.ServeQUIC(ctx, l.pc) })
	}
	serve(func() { _ = l.srv.Serve(ctx, l.ln) })
}

// Stop stops serving and closes the sockets (started or not); call
// srv.Close after it.
func (l *BridgeListener) Stop() {
	if l.cancel != nil {
		l.cancel()
	}
	for _, d := range l.served {
		<-d
	}
	_ = l.ln.Close()
	if l.pc != nil {
		_ = l.pc.Close()
	}
}

// serveBridgeOn binds and serves srv on addr; the function stops it and
// closes srv.
func serveBridgeOn(srv *bridge.Server, carrier bridge.CarrierType, addr string) (string, func(), error) {
	l, err := ListenBridge(srv, carrier, addr)
	if err != nil {
		return "", nil, err
	}
	l.Start()
	return l.Addr(), func() { l.Stop(); _ = srv.Close() }, nil
}

// listenQUIC opens the UDP socket of a QUIC bridge on addr and the TCP
// listener on the same port. With port 0 it tries a few ports until both
// are free.
func listenQUIC(addr string) (net.PacketConn, net.Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, fmt.Errorf("bridge address %s: %w", addr, err)
	}
	tries := 1
	if port == "0" {
		tries = 10
	}
	for i := 0; ; i++ {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("listen for QUIC agents on %s: %w", addr, err)
		}
		tcpAddr := net.JoinHostPort(host, strconv.Itoa(pc.LocalAddr().(*net.UDPAddr).Port))
		ln, err := net.Listen("tcp", tcpAddr)
		if err == nil {
			return pc, ln, nil
		}
		_ = pc.Close()
		if i+1 >= tries {
			return nil, nil, fmt.Errorf("listen for agents on %s (beside QUIC): %w", tcpAddr, err)
		}
	}
}

// carrierConfig sets cfg's carrier from type= (server) or bridgetype=
// (master) and wspath=, and warns when a WebSocket bridge takes plain ws://.
func carrierConfig(cfg *bridge.Config, typ int, p conf.Params, log *slog.Logger) {
	cfg.Carrier, cfg.Path = bridge.CarrierType(typ), p.WSPath
	if cfg.Carrier == bridge.CarrierWebSocket && cfg.AllowPlain {
		log.Warn("the WebSocket bridge also takes plain ws://, whose agent key travels in clear text: use this only behind a TLS-terminating proxy you trust")
	}
}
