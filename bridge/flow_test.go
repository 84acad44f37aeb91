package bridge_test

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/burrowproject/burrow/bridge"
)

func TestHelloFlowRoundTrip(t *testing.T) {
	t.Parallel()
	for _, f := range []bridge.Flow{bridge.FlowAny, bridge.FlowReverse, bridge.FlowForward} {
		b := mustHello(t, bridge.Hello{Version: bridge.HelloVersionFlow, Key: "k", AgentName: "n", AgentVersion: "v", Flow: f})
		h, err := bridge.ReadHello(bytes.NewReader(b))
		if err != nil || h.Flow != f || h.Key != "k" {
			t.Fatalf("flow %v: %+v, %v", f, h, err)
		}
	}
	bad := mustHello(t, bridge.Hello{Version: bridge.HelloVersionFlow, Key: "k"})
	bad[len(bad)-1] = 9
	if _, err := bridge.ReadHello(bytes.NewReader(bad)); !errors.Is(err, bridge.ErrMalformed) {
		t.Fatalf("unknown flow: %v", err)
	}
	// A version 1 hello has no flow byte and still decodes.
	v1 := mustHello(t, bridge.Hello{Version: bridge.ProtocolVersion, Key: "k"})
	if h, err := bridge.ReadHello(bytes.NewReader(v1)); err != nil || h.Flow != bridge.FlowAny {
		t.Fatalf("v1 hello: %+v, %v", h, err)
	}
	// Replies: the flow byte follows only an ok reply to a v2 hello.
	ok := bridge.AppendHelloReplyFor(nil, bridge.HelloReply{Status: bridge.StatusOK, Flow: bridge.FlowForward}, bridge.HelloVersionFlow)
	if r, err := bridge.ReadHelloReplyFor(bytes.NewReader(ok), bridge.HelloVersionFlow); err != nil || r.Flow != bridge.FlowForward {
		t.Fatalf("ok reply: %+v, %v", r, err)
	}
	refused := bridge.AppendHelloReplyFor(nil, bridge.HelloReply{Status: bridge.StatusModeMismatch, Message: "m"}, bridge.HelloVersionFlow)
	if r, err := bridge.ReadHelloReplyFor(bytes.NewReader(refused), bridge.HelloVersionFlow); err != nil || r.Status != bridge.StatusModeMismatch || r.Message != "m" {
		t.Fatalf("refusal: %+v, %v", r, err)
	}
	if got := bridge.AppendHelloReplyFor(nil, bridge.HelloReply{Status: bridge.StatusOK, Flow: bridge.FlowReverse}, 1); !bytes.Equal(got, bridge.AppendHelloReply(nil, bridge.HelloReply{})) {
		t.Fatalf("a reply to a v1 hello must not carry the flow byte: %q", got)
	}
}

func FuzzReadHelloReplyFor(f *testing.F) {
	f.Add(bridge.AppendHelloReplyFor(nil, bridge.HelloReply{Status: bridge.StatusOK, Flow: bridge.FlowReverse}, bridge.HelloVersionFlow))
	f.Add(bridge.AppendHelloReplyFor(nil, bridge.HelloReply{Status: bridge.StatusModeMismatch, Message: "no"}, bridge.HelloVersionFlow))
	f.Add([]byte{0, 0, 0, 7})
	f.Add([]byte{0, 0, 0})
	f.Add([]byte{0, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		reply, err := bridge.ReadHelloReplyFor(r, bridge.HelloVersionFlow)
		if err != nil {
			if !errors.Is(err, bridge.ErrMalformed) && !errors.Is(err, io.EOF) {
				t.Fatalf("ReadHelloReplyFor(%q): unexpected error kind %v", data, err)
			}
			return
		}
		b := bridge.AppendHelloReplyFor(nil, reply, bridge.HelloVersionFlow)
		if got := consumed(data, r); !bytes.Equal(b, got) {
			t.Fatalf("re-encoded reply differs\n read %q\n  got %q", got, b)
		}
	})
}
