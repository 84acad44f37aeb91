package host

import "github.com/burrowproject/burrow/plugins/sdk"

// RecordSink keeps the exchanges that inspecting handlers record (the
// master's inspector, *inspect.Set). It must not block.
type RecordSink interface {
	Record(ex *sdk.Exchange)
	Dropped(instance string, n uint64)
}

// SetRecorder sets where Record delivers; without one, records are
// dropped. Call it before the host serves.
func (h *Host) SetRecorder(s RecordSink) { h.records = s }

// Recording reports whether the host keeps records.
func (h *Host) Recording() bool { return h.records != nil }

// Record implements sdk.Recorder: an exchange of an instance this host
// serves goes to the sink; any other is dropped.
func (h *Host) Record(ex *sdk.Exchange) {
	if h.records == nil || ex == nil {
		return
	}
	if _, err := h.get(ex.Instance); err != nil {
		return
	}
	h.records.Record(ex)
}

// RecordsDropped passes on a plugin's count of records it had to drop.
func (h *Host) RecordsDropped(instance string, n uint64) {
	if h.records == nil || n == 0 {
		return
	}
	if _, err := h.get(instance); err != nil {
		return
	}
	h.records.Dropped(instance, n)
}

var _ sdk.Recorder = (*Host)(nil)
