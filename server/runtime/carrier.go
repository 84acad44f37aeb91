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
	tcpAddr := addr
	if carrier == bridge.CarrierQUIC {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			cancel()
			return "", nil, fmt.Errorf("listen for QUIC agents on %s: %w", addr, err)
		}
		host, _, _ := net.SplitHostPort(addr)
		tcpAddr = net.JoinHostPort(host, strconv.Itoa(pc.LocalAddr().(*net.UDPAddr).Port))
		serve(func() { _ = srv.ServeQUIC(ctx, pc) })
	}
	ln, err := net.Listen("tcp", tcpAddr)
	if err != nil {
		stop()
		return "", nil, fmt.Errorf("listen for agents on %s: %w", tcpAddr, err)
	}
	serve(func() { _ = srv.Serve(ctx, ln) })
	return ln.Addr().String(), stop, nil
}

// carrierConfig sets cfg's carrier from type= (server) or bridgetype=
// (master) and wspath=, and warns when a WebSocket bridge takes plain ws://.
func carrierConfig(cfg *bridge.Config, typ int, p conf.Params, log *slog.Logger) {
	cfg.Carrier, cfg.Path = bridge.CarrierType(typ), p.WSPath
	if cfg.Carrier == bridge.CarrierWebSocket && cfg.AllowPlain {
		log.Warn("the WebSocket bridge also takes plain ws://, whose agent key travels in clear text: use this only behind a TLS-terminating proxy you trust")
	}
}
