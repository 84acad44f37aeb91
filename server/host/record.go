package host

import "github.com/burrowproject/burrow/plugins/sdk"

// RecordSink keeps the exchanges that inspecting handlers record (the
// master's inspector, *inspect.Set). It must not block.
type RecordSink interface {
	Record(ex *sdk.Exchange)
	Dropped(instance string, n uint64)
}

// Record implements sdk.Recorder: an exchange of an instance this host
// serves goes to that instance's Records; any other is dropped.
func (h *Host) Record(ex *sdk.Exchange) {
	if ex == nil {
		return
	}
	if in, err := h.get(ex.Instance); err == nil && in.Records != nil {
		in.Records.Record(ex)
	}
}

// RecordsDropped passes on a plugin's count of the records of an instance
// it had to drop.
func (h *Host) RecordsDropped(instance string, n uint64) {
	if in, err := h.get(instance); err == nil && in.Records != nil && n > 0 {
		in.Records.Dropped(instance, n)
	}
}

var _ sdk.Recorder = (*Host)(nil)
