package tunneltest

import (
	"net"
	"testing"

	"github.com/burrowproject/burrow/bridge"
	"github.com/burrowproject/burrow/client"
	"github.com/burrowproject/burrow/internal/testutil"
	"github.com/burrowproject/burrow/plugins/sdk"
	"github.com/burrowproject/burrow/plugins/tcp"
	"github.com/burrowproject/burrow/server/host"
)

func TestMain(m *testing.M) { testutil.VerifyNoLeaks(m) }

func TestStartCarriesLinks(t *testing.T) {
	t.Parallel()
	tn := Start(t, "k")
	if tn.Key != "k" || !tn.Server.Online("k") {
		t.Fatalf("tunnel %+v not online", tn)
	}
	l, err := tn.Server.Open(testutil.Context(t), "k", bridge.LinkHeader{Network: bridge.NetworkTCP, Target: testutil.ServeTCP(t, testutil.Echo)})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	testutil.RoundTrip(t, l, "through the tunnel")
}

func TestServeWithoutAgentThenAgent(t *testing.T) {
	t.Parallel()
	tn := Serve(t, "a", "b")
	if tn.Server.Online("a") || tn.Server.Online("b") {
		t.Fatal("agent online before any was started")
	}
	a := tn.Agent(client.Config{Key: "b", Name: "second"})
	if !a.Connected() && !tn.Server.Online("b") {
		t.Fatal("agent not online")
	}
	if ag := tn.Server.Agents(); len(ag) != 1 || ag[0].Name != "second" {
		t.Fatalf("bridge lists %+v", ag)
	}
}

func TestStartInstanceOnHost(t *testing.T) {
	t.Parallel()
	h := Start(t, "k").Host()
	spec := sdk.InstanceSpec{ID: "i", Scheme: "tcp", Listen: "127.0.0.1:0", Targets: []string{testutil.ServeTCP(t, testutil.Echo)}}
	addr := StartInstance(t, h, tcp.New(), host.Instance{Spec: spec, AgentKey: "k", TCP: true})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	testutil.RoundTrip(t, c, "via the host")
}
