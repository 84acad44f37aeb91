// Package testutil holds small helpers shared by Burrow's unit tests: free
// loopback ports, the goleak wrapper every package's TestMain uses, bounded
// polling, loopback servers and connections that clean up after themselves
// (ServeTCP, ServeUDPEcho, TCPPair, ClosedAddr), echo checks (RoundTrip,
// EchoOnce, EchoStream) and goroutine helpers (Go, Concurrently).
//
// It imports only the standard library and goleak, so that the internal
// tests of every package, bridge and client included, can use it. Helpers
// that need a bridge or an agent live in testutil/tunneltest.
//
// It is test support only: nothing outside _test.go files and test/ may
// import it.
package testutil
