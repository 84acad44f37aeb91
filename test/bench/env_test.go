// Package bench measures Burrow's data path against a direct connection in
// the same run: single-connection throughput and connect+echo latency.
// Everything runs on loopback in this process: backends, a shared bridge,
// tcp instances on it, and a real agent dialing the bridge over TCP.
package bench

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/burrowproject/burrow/conf"
	"github.com/burrowproject/burrow/internal/testutil"
	"github.com/burrowproject/burrow/server/runtime"
)

// env is a running tunnel with three tcp instances, each forwarding to its
// own backend through one agent.
type env struct {
	sink, source, echo    string // backends, direct
	tSink, tSource, tEcho string // the same through the tunnel
	stop                  func()
}

const agentKey = "bench-key"

func newEnv(tb testing.TB) *env {
	tb.Helper()
	e := &env{}
	var wg sync.WaitGroup
	var lns []net.Listener
	serve := func(handle func(net.Conn)) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		lns = append(lns, ln)
		wg.Add(1)
		go func() {
			defer wg.Done()
			var conns sync.WaitGroup
			defer conns.Wait()
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				conns.Add(1)
				go func() { defer conns.Done(); defer c.Close(); handle(c) }()
			}
		}()
		return ln.Addr().String()
	}
	e.sink = serve(sinkHandler)
	e.source = serve(sourceHandler)
	e.echo = serve(func(c net.Conn) { _, _ = io.Copy(c, c) })

	shared := runtime.NewSharedBridge(nil, nil)
	bridgeLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() { defer close(served); _ = shared.Server.Serve(ctx, bridgeLn) }()
	rt := runtime.New(runtime.Options{Version: "bench", Shared: shared})

	var running []*runtime.Running
	start := func(id, raw string) {
		inst, err := conf.Parse(raw)
		if err != nil {
			tb.Fatal(err)
		}
		r, err := rt.Start(context.Background(), id, inst, nil)
		if err != nil {
			tb.Fatalf("start %s: %v", id, err)
		}
		running = append(running, r)
	}
	instance := func(id, target string) string {
		addr := "127.0.0.1:" + strconv.Itoa(testutil.FreePort(tb))
		start(id, "tcp://"+addr+"/"+target+"?agent="+agentKey)
		return addr
	}
	e.tSink = instance("sink", e.sink)
	e.tSource = instance("source", e.source)
	e.tEcho = instance("echo", e.echo)
	start("agent", "client://"+agentKey+"@"+bridgeLn.Addr().String())
	deadline := time.Now().Add(5 * time.Second)
	for shared.Server.Sessions(agentKey) == 0 {
		if time.Now().After(deadline) {
			tb.Fatal("agent did not connect within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	e.stop = func() {
		for _, r := range running {
			_ = r.Stop(context.Background())
		}
		cancel()
		<-served
		_ = shared.Server.Close()
		for _, ln := range lns {
			_ = ln.Close()
		}
		wg.Wait()
	}
	tb.Cleanup(e.stop)
	return e
}

// sinkHandler reads until EOF, then answers with the byte count.
func sinkHandler(c net.Conn) {
	n, _ := io.Copy(io.Discard, c)
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(n))
	_, _ = c.Write(b[:])
}

// sourceHandler reads a byte count, then sends that many bytes.
func sourceHandler(c net.Conn) {
	var b [8]byte
	if _, err := io.ReadFull(c, b[:]); err != nil {
		return
	}
	_, _ = io.CopyN(c, zeroReader{}, int64(binary.BigEndian.Uint64(b[:])))
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
