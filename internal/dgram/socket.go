package dgram

import "net"

// ReadBuffer is the receive buffer asked of a UDP socket that carries
// sessions' datagrams, so that what arrives while its reader is not
// scheduled (some milliseconds on a loaded machine: 10,000 datagrams/s
// overflow Linux's default 208 KiB in about 20 ms) waits in the kernel
// rather than being lost. The kernel caps it at net.core.rmem_max; it is a
// bound, not memory held: an idle socket queues nothing.
const ReadBuffer = 4 << 20

// EnlargeReadBuffer asks c, when it is a UDP socket, for ReadBuffer; an
// error is the kernel's refusal, and c works on with the buffer it had.
func EnlargeReadBuffer(c net.Conn) error {
	u, ok := c.(*net.UDPConn)
	if !ok {
		return nil
	}
	return u.SetReadBuffer(ReadBuffer)
}
