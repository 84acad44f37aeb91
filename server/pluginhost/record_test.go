package pluginhost

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/burrowproject/burrow/internal/testutil"
	"github.com/burrowproject/burrow/plugins/sdk"
)

// recordingHandler records, when an instance starts, one exchange of a
// foreign instance and then one of its own.
type recordingHandler struct{}

func (recordingHandler) Describe(context.Context) (sdk.Descriptor, error) {
	return sdk.Descriptor{Name: "rec", Version: "1", SDKVersion: sdk.Version, Schemes: []string{"rec"}}, nil
}
func (recordingHandler) Validate(context.Context, sdk.InstanceSpec) error { return nil }
func (recordingHandler) Stop(context.Context, string) error               { return nil }
func (recordingHandler) Start(_ context.Context, spec sdk.InstanceSpec, host sdk.Host) error {
	rec, ok := host.(sdk.Recorder)
	if !ok {
		return errors.New("the plugin's host is not a Recorder")
	}
	rec.Record(&sdk.Exchange{Instance: "foreign", ID: "f"})
	rec.Record(&sdk.Exchange{Instance: spec.ID, ID: "own"})
	return nil
}

// recordingHost is the host side's sdk.Host of one instance, keeping what
// the plugin host delivers.
type recordingHost struct {
	mu  sync.Mutex
	got []*sdk.Exchange
}

func (*recordingHost) Listener(context.Context, string) (net.Listener, error) {
	return nil, errors.New("none")
}
func (*recordingHost) PacketConn(context.Context, string) (net.PacketConn, error) {
	return nil, errors.New("none")
}
func (*recordingHost) Handoff(context.Context, net.Conn, sdk.LinkRequest, []byte, sdk.HandoffOptions) error {
	return errors.New("none")
}
func (*recordingHost) Dial(context.Context, sdk.LinkRequest) (net.Conn, error) {
	return nil, errors.New("none")
}
func (*recordingHost) Logger(string) *slog.Logger { return slog.New(slog.DiscardHandler) }
func (h *recordingHost) Record(ex *sdk.Exchange) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.got = append(h.got, ex)
}

func (h *recordingHost) records() []*sdk.Exchange {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]*sdk.Exchange(nil), h.got...)
}

// Records a plugin sends in a batch reach the host of the instance they
// belong to; one naming an instance the plugin does not run is dropped.
func TestRecordsReachTheirInstancesHostOnly(t *testing.T) {
	h := shimHostFor(t, "rec", recordingHandler{})
	hd := mustHandler(t, h, "rec")
	host := &recordingHost{}
	if err := hd.Start(context.Background(), sdk.InstanceSpec{ID: "mine", Scheme: "rec"}, host); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = hd.Stop(context.Background(), "mine") }()
	testutil.Eventually(t, 5*time.Second, 5*time.Millisecond, func() bool { return len(host.records()) > 0 }, "the record arrives")
	if got := host.records(); len(got) != 1 || got[0].Instance != "mine" || got[0].ID != "own" {
		t.Errorf("delivered %+v", got)
	}
}
