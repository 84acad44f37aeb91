package framework

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"syscall"
	"time"
)

// Expectation defaults.
const (
	defaultTimeout  = 5 * time.Second
	defaultClose    = 2 * time.Second
	retryInterval   = 100 * time.Millisecond
	udpResendPeriod = 300 * time.Millisecond
)

// RandomBytes returns n pseudo-random bytes.
func RandomBytes(n int) []byte {
	b := make([]byte, n)
	r := mrand.NewChaCha8(seed())
	_, _ = r.Read(b)
	return b
}

func seed() [32]byte {
	var s [32]byte
	for i := 0; i < len(s); i += 8 {
		v := mrand.Uint64()
		for j := range 8 {
			s[i+j] = byte(v >> (8 * j))
		}
	}
	return s
}

// retry runs do until it succeeds or within has passed; it runs do once
// when within is zero. Bounded in time and in attempts.
func retry(within time.Duration, do func() error) error {
	err := do()
	if err == nil || within <= 0 {
		return err
	}
	deadline := time.Now().Add(within)
	for attempt := 1; attempt <= int(within/retryInterval)+1 && time.Now().Before(deadline); attempt++ {
		time.Sleep(retryInterval)
		if err = do(); err == nil {
			return nil
		}
	}
	return fmt.Errorf("still failing after %v: %w", within, err)
}

// ---- TCP echo ----

// TCPEchoExpect checks that what is written to a TCP address comes back
// unchanged, as it does through a tunnel to TCPEcho.
type TCPEchoExpect struct {
	f        *Framework
	addr     string
	payload  []byte
	stream   int64
	timeout  time.Duration
	within   time.Duration
	lastSent string
}

// ExpectTCPEcho starts an expectation against addr. By default it sends 64
// random bytes and allows 5s.
func (f *Framework) ExpectTCPEcho(addr string) *TCPEchoExpect {
	return &TCPEchoExpect{f: f, addr: addr, payload: RandomBytes(64), timeout: defaultTimeout}
}

// Payload sets the bytes to send.
func (e *TCPEchoExpect) Payload(b []byte) *TCPEchoExpect { e.payload, e.stream = b, 0; return e }

// Stream sends n pseudo-random bytes generated on the fly (no n-byte
// buffers) and compares SHA-256 of what was sent and what came back.
func (e *TCPEchoExpect) Stream(n int64) *TCPEchoExpect { e.stream, e.payload = n, nil; return e }

// Timeout bounds one attempt, from dial to the last byte back.
func (e *TCPEchoExpect) Timeout(d time.Duration) *TCPEchoExpect { e.timeout = d; return e }

// Eventually retries failed attempts for up to d (for example while an
// agent reconnects).
func (e *TCPEchoExpect) Eventually(d time.Duration) *TCPEchoExpect { e.within = d; return e }

// Do runs the expectation and returns what went wrong.
func (e *TCPEchoExpect) Do() error {
	return retry(e.within, e.once)
}

// Ensure fails the test unless the echo works.
func (e *TCPEchoExpect) Ensure() {
	e.f.t.Helper()
	if err := e.Do(); err != nil {
		e.f.t.Fatalf("e2e: tcp echo via %s: %v", e.addr, err)
	}
}

// EnsureFails fails the test if the echo works.
func (e *TCPEchoExpect) EnsureFails() {
	e.f.t.Helper()
	e.within = 0
	if err := e.Do(); err == nil {
		e.f.t.Fatalf("e2e: tcp echo via %s worked, want it to fail", e.addr)
	}
}

// SentSHA256 is the hex SHA-256 of what the last attempt sent.
func (e *TCPEchoExpect) SentSHA256() string { return e.lastSent }

func (e *TCPEchoExpect) once() error {
	var src io.Reader
	var n int64
	if e.stream > 0 {
		src, n = io.LimitReader(mrand.NewChaCha8(seed()), e.stream), e.stream
	} else {
		src, n = bytes.NewReader(e.payload), int64(len(e.payload))
	}
	start := time.Now()
	c, err := net.DialTimeout("tcp", e.addr, e.timeout)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(start.Add(e.timeout))

	sent := sha256.New()
	wrote := make(chan error, 1)
	go func() {
		_, err := io.Copy(c, io.TeeReader(src, sent))
		wrote <- err
	}()
	got := sha256.New()
	read, rerr := io.CopyN(got, c, n)
	if rerr != nil {
		_ = c.Close() // unblock the writer
	}
	werr := <-wrote
	e.lastSent = hex.EncodeToString(sent.Sum(nil))
	switch {
	case rerr != nil:
		return fmt.Errorf("read %d of %d bytes after %v: %w (write: %v)", read, n, time.Since(start).Round(time.Millisecond), rerr, werr)
	case werr != nil:
		return fmt.Errorf("write: %w", werr)
	}
	if gotSum := hex.EncodeToString(got.Sum(nil)); gotSum != e.lastSent {
		return fmt.Errorf("%d bytes came back but differ: sent sha256 %s, got %s", n, e.lastSent, gotSum)
	}
	return nil
}

// ---- TCP close ----

// TCPCloseExpect checks that a connection to an address is closed by the
// other side promptly, without any bytes coming back: what a user sees when
// the tunnel cannot reach the target.
type TCPCloseExpect struct {
	f       *Framework
	addr    string
	payload []byte
	within  time.Duration
}

// CloseResult says how the connection ended.
type CloseResult struct {
	How     string        // "refused" (dial failed), "eof" or "reset"
	Elapsed time.Duration // from dial to the end
}

// ExpectTCPClose starts an expectation that addr closes a connection
// within 2s. It writes a small payload first.
func (f *Framework) ExpectTCPClose(addr string) *TCPCloseExpect {
	return &TCPCloseExpect{f: f, addr: addr, payload: []byte("hello?\n"), within: defaultClose}
}

// Payload sets what is written after connecting (nil: nothing).
func (e *TCPCloseExpect) Payload(b []byte) *TCPCloseExpect { e.payload = b; return e }

// Within sets how soon the close must come.
func (e *TCPCloseExpect) Within(d time.Duration) *TCPCloseExpect { e.within = d; return e }

// Do runs the expectation.
func (e *TCPCloseExpect) Do() (CloseResult, error) {
	start := time.Now()
	c, err := net.DialTimeout("tcp", e.addr, e.within)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			return CloseResult{How: "refused", Elapsed: time.Since(start)}, nil
		}
		if errors.Is(err, syscall.ECONNRESET) { // accepted, then reset before the connect returned
			return CloseResult{How: "reset", Elapsed: time.Since(start)}, nil
		}
		return CloseResult{}, err
	}
	defer c.Close()
	_ = c.SetDeadline(start.Add(e.within))
	if len(e.payload) > 0 {
		_, _ = c.Write(e.payload) // may fail if the close already came
	}
	var buf [4096]byte
	var got int
	for range 1 << 16 { // bounded; each iteration consumes bytes or ends
		n, err := c.Read(buf[:])
		got += n
		if err == nil {
			continue
		}
		res := CloseResult{Elapsed: time.Since(start)}
		var ne net.Error
		switch {
		case errors.As(err, &ne) && ne.Timeout():
			return res, fmt.Errorf("still open after %v (%d bytes came back)", e.within, got)
		case errors.Is(err, io.EOF):
			res.How = "eof"
		case errors.Is(err, syscall.ECONNRESET):
			res.How = "reset"
		default:
			return res, fmt.Errorf("read: %w", err)
		}
		if got > 0 {
			return res, fmt.Errorf("closed (%s) after %d bytes came back, want none", res.How, got)
		}
		return res, nil
	}
	return CloseResult{}, errors.New("read loop bound exceeded")
}

// Ensure fails the test unless the connection is closed in time.
func (e *TCPCloseExpect) Ensure() CloseResult {
	e.f.t.Helper()
	res, err := e.Do()
	if err != nil {
		e.f.t.Fatalf("e2e: expected %s to close the connection within %v: %v", e.addr, e.within, err)
	}
	return res
}

// ---- UDP echo ----

// UDPEchoExpect checks that datagrams sent to an address come back
// unchanged, one peer (socket) per expectation.
type UDPEchoExpect struct {
	f        *Framework
	addr     string
	payloads [][]byte
	timeout  time.Duration
	within   time.Duration
}

// ExpectUDPEcho starts an expectation against addr. Without Payload it
// sends one 64-byte datagram; it allows 5s.
func (f *Framework) ExpectUDPEcho(addr string) *UDPEchoExpect {
	return &UDPEchoExpect{f: f, addr: addr, timeout: defaultTimeout}
}

// Payload adds a datagram; datagrams are sent and awaited in order.
func (e *UDPEchoExpect) Payload(b []byte) *UDPEchoExpect {
	e.payloads = append(e.payloads, b)
	return e
}

// Sizes adds one random datagram of each size.
func (e *UDPEchoExpect) Sizes(sizes ...int) *UDPEchoExpect {
	for _, n := range sizes {
		e.payloads = append(e.payloads, RandomBytes(n))
	}
	return e
}

// Timeout bounds one attempt over all datagrams.
func (e *UDPEchoExpect) Timeout(d time.Duration) *UDPEchoExpect { e.timeout = d; return e }

// Eventually retries failed attempts for up to d.
func (e *UDPEchoExpect) Eventually(d time.Duration) *UDPEchoExpect { e.within = d; return e }

// Do runs the expectation.
func (e *UDPEchoExpect) Do() error { return retry(e.within, e.once) }

// Ensure fails the test unless every datagram comes back.
func (e *UDPEchoExpect) Ensure() {
	e.f.t.Helper()
	if err := e.Do(); err != nil {
		e.f.t.Fatalf("e2e: udp echo via %s: %v", e.addr, err)
	}
}

// EnsureFails fails the test if the echo works.
func (e *UDPEchoExpect) EnsureFails() {
	e.f.t.Helper()
	e.within = 0
	if err := e.Do(); err == nil {
		e.f.t.Fatalf("e2e: udp echo via %s worked, want it to fail", e.addr)
	}
}

func (e *UDPEchoExpect) once() error {
	payloads := e.payloads
	if len(payloads) == 0 {
		payloads = [][]byte{RandomBytes(64)}
	}
	raddr, err := net.ResolveUDPAddr("udp", e.addr)
	if err != nil {
		return err
	}
	c, err := net.DialUDP("udp", nil, raddr)
	if err != nil {
		return err
	}
	defer c.Close()
	deadline := time.Now().Add(e.timeout)
	buf := make([]byte, 64<<10)
	for i, p := range payloads {
		if err := udpRoundTrip(c, p, payloads[:i], buf, deadline); err != nil {
			return fmt.Errorf("datagram %d (%d bytes): %w", i, len(p), err)
		}
	}
	return nil
}

// udpRoundTrip sends p, resending every udpResendPeriod, until it comes
// back. Late copies of earlier datagrams (earlier) are skipped.
func udpRoundTrip(c *net.UDPConn, p []byte, earlier [][]byte, buf []byte, deadline time.Time) error {
	for sends := 0; time.Now().Before(deadline) && sends < 100; sends++ {
		if _, err := c.Write(p); err != nil {
			return fmt.Errorf("send: %w", err)
		}
		_ = c.SetReadDeadline(minTime(deadline, time.Now().Add(udpResendPeriod)))
		for range 100 { // bounded: reads until a match, a timeout or an error
			n, err := c.Read(buf)
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					break // resend
				}
				if errors.Is(err, syscall.ECONNREFUSED) {
					time.Sleep(min(retryInterval, time.Until(deadline)))
					break // nothing listens (yet); resend until the deadline
				}
				return fmt.Errorf("receive: %w", err)
			}
			if bytes.Equal(buf[:n], p) {
				return nil
			}
			if !isOneOf(buf[:n], earlier) {
				return fmt.Errorf("got %d bytes that match no datagram sent", n)
			}
		}
	}
	return errors.New("no echo before the deadline")
}

func isOneOf(b []byte, set [][]byte) bool {
	for _, s := range set {
		if bytes.Equal(b, s) {
			return true
		}
	}
	return false
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
