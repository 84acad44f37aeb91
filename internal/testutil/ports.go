package testutil

import (
	"net"
	"testing"
)

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago: it
// listens on port 0, reads the port the kernel chose and closes the
// listener. Another process may take the port before the caller binds it;
// tests that start external processes should prefer the e2e framework's
// allocator, which hands out ports outside the kernel's ephemeral range.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testutil: free tcp port: %v", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		t.Fatalf("testutil: close probe listener: %v", err)
	}
	return port
}

// FreeUDPPort is FreePort for UDP.
func FreeUDPPort(t testing.TB) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testutil: free udp port: %v", err)
	}
	port := c.LocalAddr().(*net.UDPAddr).Port
	if err := c.Close(); err != nil {
		t.Fatalf("testutil: close probe socket: %v", err)
	}
	return port
}
