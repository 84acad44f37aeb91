//go:build !unix

package netx

import "net"

// awaitReadable cannot wait without reading here: the read holds its
// buffer while it waits.
func awaitReadable(*net.TCPConn) error { return nil }
