package sdk

import (
	"context"
	"net"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/burrowproject/burrow/plugins/sdk/fdlink"
	pluginpb "github.com/burrowproject/burrow/plugins/sdk/proto"
)

// forwarding is a handler whose Start forwards its instance.
type forwarding struct{ Handler }

func (forwarding) Start(ctx context.Context, spec InstanceSpec, host Host) error {
	return host.(Forwarder).Forward(ctx, LinkRequest{Instance: spec.ID, Network: "tcp"}, HandoffOptions{})
}

// After a forward the plugin keeps no copy of the listener: a copy in its
// poller would wake the plugin for every connection the host accepts.
func TestForwardDropsThePluginsListenerCopy(t *testing.T) {
	hostEnd, pf, err := fdlink.Pair()
	if err != nil {
		t.Fatal(err)
	}
	defer hostEnd.Close()
	pluginEnd, err := fdlink.FromFile(pf)
	if err != nil {
		t.Fatal(err)
	}
	s := NewPluginServer(forwarding{}, pluginEnd, nil)
	ran := make(chan error, 1)
	go func() { ran <- s.Run() }()
	defer func() { _ = pluginEnd.Close(); <-ran }()

	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	lf, err := ln.File()
	if err != nil {
		t.Fatal(err)
	}
	body, _ := proto.Marshal(&pluginpb.FdListen{Instance: "i", Network: "tcp", Ticket: 7})
	err = hostEnd.SendFile(fdlink.OpListen, body, lf)
	_ = lf.Close()
	if err != nil {
		t.Fatal(err)
	}
	// The host's side: answer the forward request with "ok".
	answered := make(chan error, 1)
	go func() {
		msg, err := hostEnd.Recv()
		if err != nil {
			answered <- err
			return
		}
		defer msg.File.Close()
		c, err := net.FileConn(msg.File)
		if err != nil {
			answered <- err
			return
		}
		defer c.Close()
		answered <- fdlink.WriteVerdict(c, "")
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	x := &shim{srv: s}
	if _, err := x.Start(ctx, &pluginpb.StartRequest{Spec: &pluginpb.InstanceSpec{Id: "i"}, ListenerTicket: 7}); err != nil {
		t.Fatal(err)
	}
	if err := <-answered; err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	kept := len(s.files)
	s.mu.Unlock()
	if kept != 0 {
		t.Fatalf("plugin still holds %d socket(s) after forwarding", kept)
	}
}
