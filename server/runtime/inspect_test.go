package runtime_test

import (
	"strings"
	"testing"

	"github.com/burrowproject/burrow/plugins/sdk"
	"github.com/burrowproject/burrow/server/runtime"
)

type sink struct{}

func (sink) Record(*sdk.Exchange)   {}
func (sink) Dropped(string, uint64) {}

// inspect= needs somewhere to keep records: a runtime without Records (run
// alone) refuses it. (The e2e specs see records reach the master.)
func TestInspectNeedsRecords(t *testing.T) {
	t.Parallel()
	const url = "http://127.0.0.1:9000/127.0.0.1:80?agent=k&host=a.test&inspect=1"
	alone := runtime.New(runtime.Options{})
	if err := alone.Validate(parse(t, url+"&bridge=127.0.0.1:1")); err == nil || !strings.Contains(err.Error(), "parameter inspect") {
		t.Errorf("alone: %v", err)
	}
	shared := runtime.NewSharedBridge(nil, false, nil)
	rt := runtime.New(runtime.Options{Shared: shared, Records: sink{}})
	if err := rt.Validate(parse(t, url)); err != nil {
		t.Errorf("with records: %v", err)
	}
}
