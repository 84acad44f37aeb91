package host

import (
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/burrowproject/burrow/internal/testutil"
	"github.com/burrowproject/burrow/plugins/sdk"
)

// Instances that share a listen address get one listener, which stays open
// until the last of them is removed; an instance that does not share gets
// a clear error for an address already in use.
func TestSharedListenerRefCounted(t *testing.T) {
	h := New(nil, nil)
	add := func(id, listen string, shared bool) error {
		return h.Add(Instance{Spec: sdk.InstanceSpec{ID: id, Listen: listen}, TCP: true, SharedTCP: shared}, nil)
	}
	addr := "127.0.0.1:" + strconv.Itoa(testutil.FreePort(t))
	if err := add("a", addr, true); err != nil {
		t.Fatal(err)
	}
	if err := add("b", addr, true); err != nil {
		t.Fatal(err)
	}
	if err := add("c", addr, true); err != nil {
		t.Fatal(err)
	}
	la, _ := h.Listener(t.Context(), "b")
	lc, _ := h.Listener(t.Context(), "c")
	if la != lc {
		t.Fatal("instances on one address got different listeners")
	}
	if err := add("x", addr, false); err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("non-shared instance on a shared address: err %v, want address already in use", err)
	}
	h.Remove("b", 0)
	h.Remove("c", 0)
	if c, err := net.Dial("tcp", addr); err != nil {
		t.Fatalf("listener closed while instance a still uses it: %v", err)
	} else {
		_ = c.Close()
	}
	h.Remove("a", 0)
	if c, err := net.Dial("tcp", addr); err == nil {
		_ = c.Close()
		t.Fatal("listener still open after its last instance was removed")
	}
}
