package framework

import (
	"io"
	"net"

	"github.com/burrowproject/burrow/internal/testutil"
)

// TCPUDPEcho starts an echo server for TCP and UDP on the same loopback
// port (a tunnel whose agent has one default target carries both), and
// returns its address.
func (f *Framework) TCPUDPEcho() string {
	f.t.Helper()
	addr := Addr(f.Port())
	l, err := net.Listen("tcp", addr)
	if err != nil {
		f.t.Fatalf("e2e: tcp+udp echo listen: %v", err)
	}
	s := &streamServer{l: l, conns: make(map[net.Conn]struct{}), handle: func(c net.Conn) {
		buf := make([]byte, 64<<10)
		_, _ = io.CopyBuffer(c, c, buf)
	}}
	s.wg.Go(s.acceptLoop)
	f.addCloser(func() error { return s.close("tcp+udp echo (tcp)") })
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		f.t.Fatalf("e2e: tcp+udp echo listen: %v", err)
	}
	testutil.EchoPackets(f.t, pc)
	return addr
}
