package socks5

import (
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/burrowproject/burrow/plugins/sdk"
)

// fakeHost is an in-memory sdk.Host: its listener is real, and its
// "tunnel" dials targets directly, with names under .lan mapped to
// 127.0.0.1.
type fakeHost struct {
	ln       net.Listener
	mu       sync.Mutex
	dials    []string
	handoffs int
	wg       sync.WaitGroup
}

func (f *fakeHost) Listener(context.Context, string) (net.Listener, error) { return f.ln, nil }
func (f *fakeHost) PacketConn(context.Context, string) (net.PacketConn, error) {
	return nil, sdk.ErrUnknownInstance
}
func (f *fakeHost) Logger(string) *slog.Logger { return slog.New(slog.DiscardHandler) }

func (f *fakeHost) dial(target string) (net.Conn, error) {
	f.mu.Lock()
	f.dials = append(f.dials, target)
	f.mu.Unlock()
	host, port, _ := net.SplitHostPort(target)
	if strings.HasSuffix(host, ".lan") {
		host = "127.0.0.1"
	}
	c, err := net.Dial("tcp", net.JoinHostPort(host, port))
	if err != nil {
		return nil, &sdk.LinkError{Target: target, Reason: err.Error(), Err: err}
	}
	return c, nil
}

func (f *fakeHost) Dial(_ context.Context, req sdk.LinkRequest) (net.Conn, error) {
	return f.dial(req.Target)
}

func (f *fakeHost) Handoff(_ context.Context, c net.Conn, req sdk.LinkRequest, pre []byte, _ sdk.HandoffOptions) error {
	f.mu.Lock()
	f.handoffs++
	f.mu.Unlock()
	link, err := f.dial(req.Target)
	if err != nil {
		_ = c.Close()
		return err
	}
	_, _ = link.Write(pre)
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		pipe(c, link)
	}()
	return nil
}

func echoServer(t *testing.T) (string, func()) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() { defer wg.Done(); _, _ = io.Copy(c, c); _ = c.Close() }()
		}
	}()
	return ln.Addr().String(), func() { _ = ln.Close(); wg.Wait() }
}

func start(t *testing.T, params map[string]string, targets ...string) (*fakeHost, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fh := &fakeHost{ln: ln}
	h := New()
	spec := sdk.InstanceSpec{ID: "s", Scheme: "socks5", Listen: ln.Addr().String(), Targets: targets, Params: params}
	if err := h.Validate(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	if err := h.Start(context.Background(), spec, fh); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := h.Stop(context.Background(), "s"); err != nil {
			t.Error(err)
		}
		fh.wg.Wait()
	})
	return fh, ln.Addr().String()
}

// connect runs a SOCKS5 CONNECT and returns the reply code.
func connect(t *testing.T, proxy string, auth []string, atyp byte, addr []byte, port uint16, cmd byte) (net.Conn, byte) {
	t.Helper()
	c, err := net.Dial("tcp", proxy)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	method := byte(methodNone)
	if auth != nil {
		method = methodUser
	}
	_, _ = c.Write([]byte{ver5, 1, method})
	var sel [2]byte
	if _, err := io.ReadFull(c, sel[:]); err != nil {
		t.Fatal(err)
	}
	if sel[1] != method {
		return c, 0xff
	}
	if auth != nil {
		b := []byte{authVersion, byte(len(auth[0]))}
		b = append(b, auth[0]...)
		b = append(b, byte(len(auth[1])))
		b = append(b, auth[1]...)
		_, _ = c.Write(b)
		var st [2]byte
		if _, err := io.ReadFull(c, st[:]); err != nil {
			t.Fatal(err)
		}
		if st[1] != authOK {
			return c, 0xfe
		}
	}
	req := []byte{ver5, cmd, 0, atyp}
	if atyp == atypDomain {
		req = append(req, byte(len(addr)))
	}
	req = append(req, addr...)
	req = binary.BigEndian.AppendUint16(req, port)
	_, _ = c.Write(req)
	var rep [10]byte
	if _, err := io.ReadFull(c, rep[:]); err != nil {
		t.Fatalf("reading reply: %v", err)
	}
	return c, rep[1]
}

func echoPort(t *testing.T, addr string) uint16 {
	_, p, _ := net.SplitHostPort(addr)
	var n uint16
	for _, d := range p {
		n = n*10 + uint16(d-'0')
	}
	return n
}

func roundTrip(t *testing.T, c net.Conn) {
	t.Helper()
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("echo through socks: %q %v", buf, err)
	}
}

func TestConnectIPv4AndDomain(t *testing.T) {
	echo, stop := echoServer(t)
	defer stop()
	port := echoPort(t, echo)
	for _, handoff := range []string{"false", "true"} {
		fh, proxy := start(t, map[string]string{"handoff": handoff}, "127.0.0.0/8", "*.lan:*")
		c, rep := connect(t, proxy, nil, atypIPv4, []byte{127, 0, 0, 1}, port, cmdConnect)
		if rep != repOK {
			t.Fatalf("handoff=%s ipv4: reply %d", handoff, rep)
		}
		roundTrip(t, c)
		_ = c.Close()
		c, rep = connect(t, proxy, nil, atypDomain, []byte("echo.lan"), port, cmdConnect)
		if rep != repOK {
			t.Fatalf("domain: reply %d", rep)
		}
		roundTrip(t, c)
		_ = c.Close()
		fh.mu.Lock()
		if fh.dials[1] != "echo.lan:"+echo[strings.LastIndex(echo, ":")+1:] {
			t.Errorf("target %q", fh.dials[1])
		}
		if (handoff == "true") != (fh.handoffs == 2) {
			t.Errorf("handoff=%s: %d handoffs", handoff, fh.handoffs)
		}
		fh.mu.Unlock()
	}
}

func TestTargetNotAllowed(t *testing.T) {
	fh, proxy := start(t, nil, "10.0.0.0/8", "*.lan:22")
	for _, tc := range []struct {
		atyp byte
		addr []byte
		port uint16
	}{
		{atypIPv4, []byte{192, 168, 1, 1}, 80},
		{atypDomain, []byte("nas.lan"), 80},
		{atypDomain, []byte("evil.com"), 22},
		{atypDomain, []byte("lan"), 22},
	} {
		c, rep := connect(t, proxy, nil, tc.atyp, tc.addr, tc.port, cmdConnect)
		_ = c.Close()
		if rep != repNotAllowed {
			t.Errorf("%s:%d reply %d, want not allowed", tc.addr, tc.port, rep)
		}
	}
	if len(fh.dials) != 0 {
		t.Fatalf("dialed %v", fh.dials)
	}
}

func TestAuth(t *testing.T) {
	echo, stop := echoServer(t)
	defer stop()
	_, proxy := start(t, map[string]string{"auth": "alice:s3cret"}, "127.0.0.1")
	c, rep := connect(t, proxy, []string{"alice", "wrong"}, atypIPv4, []byte{127, 0, 0, 1}, echoPort(t, echo), cmdConnect)
	_ = c.Close()
	if rep != 0xfe {
		t.Fatalf("bad password accepted (%d)", rep)
	}
	c, rep = connect(t, proxy, nil, atypIPv4, []byte{127, 0, 0, 1}, echoPort(t, echo), cmdConnect)
	_ = c.Close()
	if rep != 0xff {
		t.Fatalf("no-auth method accepted with auth on (%d)", rep)
	}
	c, rep = connect(t, proxy, []string{"alice", "s3cret"}, atypIPv4, []byte{127, 0, 0, 1}, echoPort(t, echo), cmdConnect)
	defer c.Close()
	if rep != repOK {
		t.Fatalf("good credentials: reply %d", rep)
	}
	roundTrip(t, c)
}

func TestCommandAndRefusal(t *testing.T) {
	_, proxy := start(t, nil, "127.0.0.1")
	c, rep := connect(t, proxy, nil, atypIPv4, []byte{127, 0, 0, 1}, 9, 0x02) // BIND
	_ = c.Close()
	if rep != repCmdNotSupp {
		t.Fatalf("BIND: reply %d", rep)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	port := echoPort(t, ln.Addr().String())
	_ = ln.Close()
	c, rep = connect(t, proxy, nil, atypIPv4, []byte{127, 0, 0, 1}, port, cmdConnect)
	_ = c.Close()
	if rep != repRefused {
		t.Fatalf("closed port: reply %d, want refused", rep)
	}
}

func TestValidate(t *testing.T) {
	h := New()
	for _, tc := range []struct {
		targets []string
		params  map[string]string
		want    string
	}{
		{nil, nil, "at least one target pattern"},
		{[]string{"10.0.0.0/8"}, map[string]string{"auth": "nopass"}, "auth must be user:pass"},
		{[]string{"*.lan:99999"}, nil, "bad port"},
		{[]string{"a/b:1"}, nil, "bad host"},
		{[]string{"10.0.0.0/8"}, map[string]string{"handoff": "maybe"}, "not a boolean"},
	} {
		err := h.Validate(context.Background(), sdk.InstanceSpec{Listen: ":1", Targets: tc.targets, Params: tc.params})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v %v: got %v, want %q", tc.targets, tc.params, err, tc.want)
		}
	}
}

func TestPatterns(t *testing.T) {
	ps, err := parsePatterns([]string{"10.0.0.0/8", "*.lan:*", "192.168.1.10:22", "nas.home:80-443", "[fd00::1]:53"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		host string
		port uint16
		want bool
	}{
		{"10.1.2.3", 1, true}, {"11.0.0.1", 1, false},
		{"a.lan", 5, true}, {"A.B.LAN.", 5, true}, {"lan", 5, false}, {"alan", 5, false},
		{"192.168.1.10", 22, true}, {"192.168.1.10", 23, false},
		{"nas.home", 443, true}, {"nas.home", 444, false},
		{"fd00::1", 53, true}, {"::ffff:10.0.0.1", 80, true},
		{"10.lan.evil", 80, false},
	} {
		if got := allowed(ps, tc.host, tc.port); got != tc.want {
			t.Errorf("%s:%d = %v, want %v", tc.host, tc.port, got, tc.want)
		}
	}
}
