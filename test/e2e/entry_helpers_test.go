package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// Client and backend helpers shared by the specs of entry handlers (http,
// socks5, tcp): an HTTP client pinned to an entry port, a SOCKS5 CONNECT
// handshake and an echo round trip.

// entryClient is an HTTP client that sends every request to entry, whatever
// the URL's host (which becomes the Host header).
func entryClient(t *testing.T, entry string, timeout time.Duration) *http.Client {
	t.Helper()
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, entry)
		},
		DisableCompression: true,
		MaxConnsPerHost:    16,
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: timeout, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
}

// entryGet sends a GET and returns status and body.
func entryGet(c *http.Client, url string, hdr ...string) (int, http.Header, string, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, "", err
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, resp.Header, string(body), err
}

// socks5Connect negotiates SOCKS5 CONNECT to target (an IPv4 host:port)
// with user/pass auth on c and returns the reply code.
func socks5Connect(c net.Conn, user, pass, target string) (byte, error) {
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	defer func() { _ = c.SetDeadline(time.Time{}) }()
	if _, err := c.Write([]byte{5, 1, 2}); err != nil {
		return 0, err
	}
	var sel [2]byte
	if _, err := io.ReadFull(c, sel[:]); err != nil {
		return 0, fmt.Errorf("method selection: %w", err)
	}
	if sel != [2]byte{5, 2} {
		return 0, fmt.Errorf("method selection %v, want [5 2]", sel)
	}
	auth := append([]byte{1, byte(len(user))}, user...)
	auth = append(append(auth, byte(len(pass))), pass...)
	if _, err := c.Write(auth); err != nil {
		return 0, err
	}
	var st [2]byte
	if _, err := io.ReadFull(c, st[:]); err != nil {
		return 0, fmt.Errorf("auth status: %w", err)
	}
	if st[1] != 0 {
		return 0, fmt.Errorf("auth refused (status %d)", st[1])
	}
	host, port, err := net.SplitHostPort(target)
	if err != nil {
		return 0, err
	}
	ip := net.ParseIP(host).To4()
	var p uint16
	if _, err := fmt.Sscan(port, &p); err != nil || ip == nil {
		return 0, fmt.Errorf("target %q is not IPv4 host:port", target)
	}
	req := append([]byte{5, 1, 0, 1}, ip...)
	req = binary.BigEndian.AppendUint16(req, p)
	if _, err := c.Write(req); err != nil {
		return 0, err
	}
	var rep [10]byte
	if _, err := io.ReadFull(c, rep[:]); err != nil {
		return 0, fmt.Errorf("reply: %w", err)
	}
	return rep[1], nil
}

// connEcho writes payload on c and reads it back.
func connEcho(c net.Conn, payload []byte) error {
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	defer func() { _ = c.SetDeadline(time.Time{}) }()
	errc := make(chan error, 1)
	go func() { _, err := c.Write(payload); errc <- err }()
	got := make([]byte, len(payload))
	_, rerr := io.ReadFull(c, got)
	if werr := <-errc; werr != nil {
		return fmt.Errorf("write: %w", werr)
	}
	if rerr != nil {
		return fmt.Errorf("read: %w", rerr)
	}
	if !bytes.Equal(got, payload) {
		return fmt.Errorf("%d bytes came back different", len(payload))
	}
	return nil
}
