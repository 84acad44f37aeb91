package host_test

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/burrowproject/burrow/client"
	"github.com/burrowproject/burrow/internal/allowlist"
	"github.com/burrowproject/burrow/internal/testutil"
	"github.com/burrowproject/burrow/internal/testutil/tunneltest"
	"github.com/burrowproject/burrow/plugins/sdk"
	"github.com/burrowproject/burrow/server/host"
)

// An agent that goes away mid-download: the host resets the user's
// connection (ECONNRESET) instead of ending it with a FIN after part of
// the file.
func TestHandoffTunnelLossResetsUser(t *testing.T) {
	t.Parallel()
	tn := tunneltest.Serve(t, "k")
	backend := testutil.ServeTCP(t, func(c net.Conn) {
		buf := make([]byte, 32<<10)
		_ = c.SetWriteDeadline(time.Now().Add(10 * time.Second))
		for range 10_000 { // 320 MiB at most: far more than the test reads
			if _, err := c.Write(buf); err != nil {
				return
			}
		}
	})
	allow, err := allowlist.ParseAllow([]string{backend})
	if err != nil {
		t.Fatal(err)
	}
	a, err := client.New(client.Config{Bridge: tn.Addr, Key: "k", Allow: allow, DialTimeout: 2 * time.Second, Fingerprint: tn.FP})
	if err != nil {
		t.Fatal(err)
	}
	stopAgent := testutil.Go(t, func(ctx context.Context) { _ = a.Run(ctx) })
	tunneltest.WaitOnline(t, tn.Server, "k")
	h := tn.Host()
	add(t, h, host.Instance{Spec: sdk.InstanceSpec{ID: "d", Targets: []string{backend}}, TCP: true})
	if err := h.Forward(context.Background(), sdk.LinkRequest{Instance: "d", Network: "tcp"}, sdk.HandoffOptions{}); err != nil {
		t.Fatal(err)
	}
	c, err := net.DialTimeout("tcp", h.Addr("d").String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(c, make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	stopAgent()
	buf := make([]byte, 64<<10)
	for range 100_000 {
		if _, err = c.Read(buf); err != nil {
			break
		}
	}
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("user read after the agent went away: %v, want ECONNRESET", err)
	}
}
