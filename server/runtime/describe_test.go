package runtime_test

import (
	"context"
	"testing"

	"github.com/burrowproject/burrow/server/runtime"
)

// The built-in handlers describe themselves, sorted, with http's own
// parameters; none of them is a plugin without a plugin source.
func TestHandlersDescribe(t *testing.T) {
	list := runtime.New(runtime.Options{}).Handlers(context.Background())
	var schemes []string
	for _, h := range list {
		schemes = append(schemes, h.Scheme)
		if h.Err != nil || h.Plugin || h.Desc.Name != h.Scheme {
			t.Errorf("%s: %+v", h.Scheme, h)
		}
	}
	if len(schemes) != 3 || schemes[0] != "http" || schemes[1] != "tcp" || schemes[2] != "udp" {
		t.Fatalf("schemes %v", schemes)
	}
	host := false
	for _, p := range list[0].Desc.Params {
		host = host || p.Name == "host"
	}
	if !host {
		t.Errorf("http descriptor lacks host=: %+v", list[0].Desc.Params)
	}
}
