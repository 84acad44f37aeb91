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

// ListenBridge serves srv, a bridge whose carrier is cfg.Carrier, on addr:
// a TCP listener for TCP, WebSocket and HTTP/2; for QUIC a UDP socket and,
// on the same port, a TCP listener that tells TCP agents to use QUIC. It
// returns the address agents dial and the function that stops serving
// (call srv.Close after it).
func ListenBridge(srv *bridge.Server, carrier bridge.CarrierType, addr string) (string, func(), error) {
	ctx, cancel := context.WithCancel(context.Background())
	var served []chan struct{}
	serve := func(fn func()) {
		done := make(chan struct{})
		served = append(served, done)
		go func() {
			defer close(done)
			fn()
		}()
	}
	stop := func() {
		cancel()
		for _, d := range served {
			<-d
		}
	}
	if carrier != bridge.CarrierQUIC {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			cancel()
			return "", nil, fmt.Errorf("listen for agents on %s: %w", addr, err)
		}
		serve(func() { _ = srv.Serve(ctx, ln) })
		return ln.Addr().String(), stop, nil
	}
	pc, ln, err := listenQUIC(addr)
	if err != nil {
		cancel()
		return "", nil, err
	}
	serve(func() { _ = srv.ServeQUIC(ctx, pc) })
	serve(func() { _ = srv.Serve(ctx, ln) })
	return ln.Addr().String(), stop, nil
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
