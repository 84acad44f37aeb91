package runtime

import (
	"errors"

	"github.com/burrowproject/burrow/conf"
	"github.com/burrowproject/burrow/server/host"
)

// checkInspect refuses inspect= where nothing would keep the records: a
// runtime without Options.Records (an instance run alone).
func (rt *Runtime) checkInspect(inst *conf.Instance) error {
	if inst.Scheme == conf.SchemeHTTP && inst.Params.Inspect != conf.InspectOff && rt.opts.Records == nil {
		return errors.New("parameter inspect: records requests for a master's inspector; run the instance in a master")
	}
	return nil
}

// recordsFor is where a unit's records go: the inspector's, for an http
// instance that records.
func (rt *Runtime) recordsFor(inst *conf.Instance) host.RecordSink {
	if inst.Scheme != conf.SchemeHTTP || inst.Params.Inspect == conf.InspectOff {
		return nil
	}
	return rt.opts.Records
}
