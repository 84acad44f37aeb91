package tcp_test

import (
	"context"
	"errors"
	"io"
	"net"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/burrowproject/burrow/bridge"
	"github.com/burrowproject/burrow/client"
	"github.com/burrowproject/burrow/internal/testutil"
	"github.com/burrowproject/burrow/plugins/sdk"
	"github.com/burrowproject/burrow/plugins/tcp"
	"github.com/burrowproject/burrow/server/flow"
	"github.com/burrowproject/burrow/server/host"
)

func TestMain(m *testing.M) { testutil.VerifyNoLeaks(m) }

const wait = 5 * time.Second

// newHost runs a bridge accepting key "k", a real agent with that key and a
// host over the bridge, all until the test ends.
func newHost(t *testing.T) *host.Host {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := bridge.NewServer(bridge.Config{Keys: bridge.NewKeySet("k")})
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() { defer close(served); _ = srv.Serve(ctx, ln) }()
	agent, err := client.New(client.Config{Bridge: ln.Addr().String(), Key: "k", MinBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, DialTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	actx, acancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { defer close(ran); _ = agent.Run(actx) }()
	t.Cleanup(func() {
		acancel()
		<-ran
		cancel()
		<-served
		_ = srv.Close()
	})
	testutil.Eventually(t, wait, 5*time.Millisecond, func() bool { return srv.Online("k") }, "agent online")
	return host.New(srv, nil)
}

func serveEcho(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	conns := map[net.Conn]struct{}{}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = struct{}{}
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _ = io.Copy(c, c)
				_ = c.Close()
				mu.Lock()
				delete(conns, c)
				mu.Unlock()
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// startInstance adds an instance to h and starts the handler on it; both
// are undone when the test ends.
func startInstance(t *testing.T, h *host.Host, hd *tcp.Handler, id, key string, targets []string, m *flow.Meter) string {
	t.Helper()
	spec := sdk.InstanceSpec{ID: id, Scheme: "tcp", Listen: "127.0.0.1:0", Targets: targets}
	if err := hd.Validate(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	if err := h.Add(host.Instance{Spec: spec, AgentKey: key, Meter: m, TCP: true}, nil); err != nil {
		t.Fatal(err)
	}
	if err := hd.Start(context.Background(), spec, h); err != nil {
		h.Remove(id, 0)
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = hd.Stop(context.Background(), id)
		h.Remove(id, 0)
	})
	return h.Addr(id).String()
}

func TestDescribeValidate(t *testing.T) {
	t.Parallel()
	hd := tcp.New()
	d, err := hd.Describe(context.Background())
	if err != nil || d.Name != "tcp" || d.SDKVersion != sdk.Version || !slices.Contains(d.Schemes, "tcp") ||
		!slices.Contains(d.Capabilities, sdk.CapHandoff) || !slices.Contains(d.Capabilities, sdk.CapNeedsListener) {
		t.Fatalf("Describe = %+v, %v", d, err)
	}
	if err := hd.Validate(context.Background(), sdk.InstanceSpec{ID: "x"}); err == nil {
		t.Fatal("Validate without a listen address")
	}
}

func TestEchoThroughTunnel(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	hd := tcp.New()
	m := flow.NewMeter(0, 0)
	addr := startInstance(t, h, hd, "t1", "k", []string{serveEcho(t)}, m)

	const conns, size = 5, 100_000
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(wait))
			msg := make([]byte, size)
			for j := range msg {
				msg[j] = byte(i + j)
			}
			go func() { _, _ = c.Write(msg); _ = c.(*net.TCPConn).CloseWrite() }()
			got, err := io.ReadAll(c)
			if err != nil || len(got) != size || string(got) != string(msg) {
				errs <- errors.New("conn " + strconv.Itoa(i) + ": echo differs: " + strconv.Itoa(len(got)) + " bytes")
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	testutil.Eventually(t, wait, 5*time.Millisecond, func() bool {
		s := m.Snapshot()
		return s.TCPs == 0 && s.TCPRx == conns*size && s.TCPTx == conns*size
	}, "every byte counted once and every slot released")
	if s := m.Snapshot(); s.UDPRx != 0 || s.UDPTx != 0 {
		t.Fatalf("TCP counted as UDP: %+v", s)
	}
}

func TestStartStop(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	hd := tcp.New()
	spec := sdk.InstanceSpec{ID: "s", Listen: "127.0.0.1:0", Targets: []string{serveEcho(t)}}
	if err := hd.Start(context.Background(), spec, h); err == nil {
		t.Fatal("Start of an instance the host does not know")
	}
	if err := h.Add(host.Instance{Spec: spec, AgentKey: "k", TCP: true}, nil); err != nil {
		t.Fatal(err)
	}
	defer h.Remove("s", 0)
	if err := hd.Start(context.Background(), spec, h); err != nil {
		t.Fatal(err)
	}
	if err := hd.Start(context.Background(), spec, h); err == nil {
		t.Fatal("second Start of a running instance")
	}
	addr := h.Addr("s").String()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(wait))
	if _, err := c.Write([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2)
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := hd.Stop(ctx, "s"); err != nil {
		t.Fatal(err)
	}
	if err := hd.Stop(ctx, "s"); !errors.Is(err, sdk.ErrUnknownInstance) {
		t.Fatalf("second Stop: %v", err)
	}
	// Stop closes the listener: no more connections.
	if c2, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		_ = c2.Close()
		t.Fatal("listener still accepting after Stop")
	}
	// A connection handed off before Stop keeps going until the host lets go.
	if _, err := c.Write([]byte("on")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "on" {
		t.Fatalf("handed-off connection after Stop: %q, %v", buf, err)
	}
	_ = c.Close()
}

func TestAgentOfflineClosesUser(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	hd := tcp.New()
	addr := startInstance(t, h, hd, "off", "nobody", []string{serveEcho(t)}, nil)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if b, err := io.ReadAll(c); err != nil || len(b) != 0 {
		t.Fatalf("user of an instance with no agent: %q, %v; want a prompt close", b, err)
	}
}
