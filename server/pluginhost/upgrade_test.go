package pluginhost

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/burrowproject/burrow/internal/testutil"
	"github.com/burrowproject/burrow/plugins/sdk"
)

// upgradeProbe hands every connection off as a websocket upgrade: the
// request head as preamble, whatever followed it as Pending. With wrap set
// it hides the socket, so the plugin side must serve the hand-off by Dial.
type upgradeProbe struct {
	wrap bool
	mu   sync.Mutex
	lns  []net.Listener
	wg   sync.WaitGroup
}

func (*upgradeProbe) Describe(context.Context) (sdk.Descriptor, error) {
	return sdk.Descriptor{Name: "probe", SDKVersion: sdk.Version, Schemes: []string{"tcp"},
		Capabilities: []string{sdk.CapHandoff, sdk.CapNeedsListener}}, nil
}

func (*upgradeProbe) Validate(context.Context, sdk.InstanceSpec) error { return nil }

func (p *upgradeProbe) Start(ctx context.Context, spec sdk.InstanceSpec, host sdk.Host) error {
	ln, err := host.Listener(ctx, spec.ID)
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.lns = append(p.lns, ln)
	p.mu.Unlock()
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			br := bufio.NewReader(c)
			var head []byte
			for !bytes.HasSuffix(head, []byte("\r\n\r\n")) {
				line, err := br.ReadSlice('\n')
				if err != nil {
					_ = c.Close()
					return
				}
				head = append(head, line...)
			}
			pending, _ := br.Peek(br.Buffered())
			var conn net.Conn = c
			if p.wrap {
				conn = struct{ net.Conn }{c}
			}
			_ = host.Handoff(context.Background(), conn, sdk.LinkRequest{Instance: spec.ID, Network: "tcp"}, head,
				sdk.HandoffOptions{Upgrade: "websocket", Pending: bytes.Clone(pending), HeadTimeout: 5 * time.Second})
		}
	})
	return nil
}

func (p *upgradeProbe) Stop(context.Context, string) error {
	p.mu.Lock()
	for _, ln := range p.lns {
		_ = ln.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
	return nil
}

// Both ways a plugin hands an upgrade back (descriptor to the host, or
// Dial and copy in the plugin for a connection that is not a socket) gate
// it on the backend's 101: a refused upgrade reaches the user as one
// response that closes, and the request the user pipelined behind it never
// reaches the backend.
func TestHandoffUpgradeGatedAcrossFdLink(t *testing.T) {
	for _, wrap := range []bool{false, true} {
		name := map[bool]string{false: "descriptor", true: "dial fallback"}[wrap]
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			got := make(chan string, 1)
			backend := testutil.ServeTCP(t, func(c net.Conn) {
				br := bufio.NewReader(c)
				if _, err := http.ReadRequest(br); err != nil {
					return
				}
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nno")
				rest, _ := io.ReadAll(br)
				got <- string(rest)
			})
			probe := &upgradeProbe{wrap: wrap}
			h := mustHandler(t, shimHostFor(t, "tcp", probe), "tcp")
			spec, _ := e.add("up-"+strings.ReplaceAll(name, " ", "-"), "tcp", backend)
			if err := h.Start(t.Context(), spec, e.host); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { e.stop(h, spec.ID) })
			c, err := net.Dial("tcp", e.host.Addr(spec.ID).String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			_, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nGET /admin HTTP/1.1\r\nHost: a\r\n\r\n")
			answer, _ := io.ReadAll(c)
			_ = c.Close()
			resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(answer)), nil)
			if err != nil || resp.StatusCode != 200 || !resp.Close {
				t.Fatalf("user got %q (%v), want the backend's 200 with Connection: close", answer, err)
			}
			select {
			case rest := <-got:
				if rest != "" {
					t.Fatalf("the backend got %q after the head of a refused upgrade", rest)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the link to the backend stayed open after the refused upgrade")
			}
		})
	}
}
