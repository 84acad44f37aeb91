package egress

import (
	"context"
	"fmt"
	"net"
	"net/netip"

	"github.com/burrowproject/burrow/internal/dgram"
)

// ProxyHeader is a PROXY protocol v1 line telling the target who the user
// is. When the source is unknown it says so ("PROXY UNKNOWN").
func ProxyHeader(source string, local net.Addr) []byte {
	src, err := netip.ParseAddrPort(source)
	dst, ok := local.(*net.TCPAddr)
	if err != nil || !ok {
		return []byte("PROXY UNKNOWN\r\n")
	}
	dstAP := dst.AddrPort()
	family := "TCP4"
	if src.Addr().Unmap().Is6() {
		family = "TCP6"
	}
	srcIP, dstIP := src.Addr().Unmap(), dstAP.Addr().Unmap()
	if srcIP.Is4() != dstIP.Is4() {
		return []byte("PROXY UNKNOWN\r\n")
	}
	return fmt.Appendf(nil, "PROXY %s %s %s %d %d\r\n", family, srcIP, dstIP, src.Port(), dstAP.Port())
}

// SendProxyHeader writes the PROXY line for a user at source to c, a
// fresh TCP connection to the target.
func SendProxyHeader(c net.Conn, source, target string) error {
	if _, err := c.Write(ProxyHeader(source, c.LocalAddr())); err != nil {
		return fmt.Errorf("send PROXY header to %s: %w", target, err)
	}
	return nil
}

// NetDialer returns a DialFunc that dials with d and, when proxy is set,
// sends a TCP target the PROXY line for the user at source first.
func NetDialer(d *net.Dialer, proxy bool, source string) DialFunc {
	return func(ctx context.Context, network, target string, addr netip.AddrPort) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr.String())
		if err != nil {
			return nil, err
		}
		// A refusal leaves the kernel's default buffer: the socket works.
		_ = dgram.EnlargeReadBuffer(c)
		if proxy && network == "tcp" {
			if err := SendProxyHeader(c, source, target); err != nil {
				_ = c.Close()
				return nil, err
			}
		}
		return c, nil
	}
}
