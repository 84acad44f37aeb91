package sdk

import (
	"sync"
	"time"

	pluginpb "github.com/burrowproject/burrow/plugins/sdk/proto"
)

// Counter is a Host that counts events a handler reports about an
// instance, for the master's metrics: datagrams a udp handler drops, say.
// Both of Burrow's hosts are one (since sdk 1.4.0); a handler checks with
// a type assertion. Count never blocks: out of process the counts travel
// summed, at most once per countFlush, on the plugin's Events stream, so
// counting costs no call per event.
type Counter interface {
	// Count adds n to the counter called name (e.g. "udp_dropped:queue_full")
	// of instance.
	Count(instance, name string, n uint64)
}

// countFlush is how long counts wait on the plugin side before they are
// sent: the first count of a quiet period arms it.
const countFlush = time.Second

// countQueue sums a plugin's counts per instance and name until the Events
// stream sends them. Names come from the handler's code, instances from
// the host: the map is as bounded as they are.
type countQueue struct {
	ready chan struct{} // counts are waiting

	mu     sync.Mutex
	counts map[string]map[string]uint64 // instance -> name -> increase
}

func newCountQueue() *countQueue {
	return &countQueue{ready: make(chan struct{}, 1), counts: map[string]map[string]uint64{}}
}

// Count implements Counter.
func (s *PluginServer) Count(instance, name string, n uint64) { s.counts.add(instance, name, n) }

func (q *countQueue) add(instance, name string, n uint64) {
	if n == 0 {
		return
	}
	q.mu.Lock()
	m := q.counts[instance]
	if m == nil {
		m = map[string]uint64{}
		q.counts[instance] = m
	}
	m[name] += n
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// take removes the summed counts as one event per instance.
func (q *countQueue) take() []*pluginpb.Event {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make([]*pluginpb.Event, 0, len(q.counts))
	for id, m := range q.counts {
		out = append(out, &pluginpb.Event{Kind: pluginpb.Event_KIND_COUNTS, Instance: id, Counts: m})
	}
	clear(q.counts)
	return out
}
