package pluginhost

import "github.com/burrowproject/burrow/plugins/sdk"

// recordsDropper is a host that counts the records a plugin dropped
// (*host.Host).
type recordsDropper interface {
	RecordsDropped(instance string, n uint64)
}

// deliverExchanges passes a batch of recorded exchanges (sdk 1.3.0) to the
// hosts of the instances they belong to. A record naming an instance this
// plugin does not run is dropped: a plugin reports only its own.
func (p *proc) deliverExchanges(ev sdk.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, ex := range ev.Exchanges {
		if in := p.insts[ex.Instance]; in != nil {
			if rec, ok := in.host.(sdk.Recorder); ok {
				rec.Record(ex)
			}
		}
	}
	for id, n := range ev.Dropped {
		if in := p.insts[id]; in != nil {
			if d, ok := in.host.(recordsDropper); ok {
				d.RecordsDropped(id, n)
			}
			p.log.Warn("plugin dropped inspector records: its queue was full", "instance", id, "dropped", n)
		}
	}
}

// deliverCounts passes what the handler counted for one of its instances
// (sdk 1.4.0) to that instance's host; counts for an instance this plugin
// does not run are dropped.
func (p *proc) deliverCounts(ev sdk.Event) {
	p.mu.Lock()
	in := p.insts[ev.Instance]
	p.mu.Unlock()
	if in == nil {
		return
	}
	if c, ok := in.host.(sdk.Counter); ok {
		for name, n := range ev.Counts {
			c.Count(ev.Instance, name, n)
		}
	}
}
