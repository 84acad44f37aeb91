//go:build !unix

package dgram

import "net"

// TryWriter is unix-only (see trywrite_unix.go); elsewhere every datagram
// is queued.
type TryWriter struct{}

// NewTryWriter returns nil here: no socket is written without waiting.
func NewTryWriter(net.Conn) *TryWriter { return nil }

// TryWrite is never called on a nil TryWriter.
func (*TryWriter) TryWrite([]byte) (bool, error) { return false, nil }
