package framework

import (
	"errors"
	"io"
	"net"
	"syscall"
	"time"
)

// TCPDownload starts a TCP server that sends every connection size bytes
// and then ends it: with a reset (SO_LINGER 0, an RST) when reset is set,
// else with an orderly close (FIN). It returns its address.
func (f *Framework) TCPDownload(size int64, reset bool) string {
	f.t.Helper()
	s := f.startStream("tcp download", func(c net.Conn) {
		_ = c.SetWriteDeadline(time.Now().Add(time.Minute))
		chunk := make([]byte, 64<<10)
		for sent := int64(0); sent < size; {
			n := int(min(int64(len(chunk)), size-sent))
			if _, err := c.Write(chunk[:n]); err != nil {
				return
			}
			sent += int64(n)
		}
		if reset {
			_ = c.(*net.TCPConn).SetLinger(0)
		}
		_ = c.Close()
	})
	return s.l.Addr().String()
}

// ReadToEnd reads c until it fails, each read within timeout, and returns
// how many bytes came and how the connection ended: "eof" (an orderly
// FIN), "reset" (ECONNRESET), "timeout", or the error text.
func ReadToEnd(c net.Conn, timeout time.Duration) (int64, string) {
	buf := make([]byte, 256<<10)
	var total int64
	for range 1 << 20 { // bounded: 256 GiB at most
		_ = c.SetReadDeadline(time.Now().Add(timeout))
		n, err := c.Read(buf)
		total += int64(n)
		if err != nil {
			return total, HowEnded(err)
		}
	}
	return total, "still open"
}

// HowEnded names the way a read error ended a connection: "eof", "reset",
// "timeout", or the error text.
func HowEnded(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF):
		return "eof"
	case errors.Is(err, syscall.ECONNRESET):
		return "reset"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	}
	return err.Error()
}
