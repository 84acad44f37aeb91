package sdk

import (
	"net/http"
	"sync"
	"time"

	pluginpb "github.com/burrowproject/burrow/plugins/sdk/proto"
)

// A plugin process reports its handler's Exchanges in batches on the
// Events stream (KIND_EXCHANGES): Record only appends to a bounded queue,
// and the stream's goroutine sends what is queued at most recordFlush after
// the first record, or at once when a batch is full. A full queue drops
// records and counts them per instance; the next batch carries the counts.
const (
	recordBatch      = 64      // records per event at most
	recordBatchBytes = 1 << 20 // about this many bytes per event at most (gRPC's limit is 4 MiB)
	recordFlush      = 250 * time.Millisecond
	recordMax        = 1024    // records queued at most
	recordMaxBytes   = 8 << 20 // bytes queued at most
)

// recordQueue is a plugin's bounded queue of exchanges not yet sent.
type recordQueue struct {
	ready chan struct{} // a first record, or a full batch, is queued

	mu      sync.Mutex
	recs    []*pluginpb.Exchange
	sizes   []int
	bytes   int
	dropped map[string]uint64
}

func newRecordQueue() *recordQueue {
	return &recordQueue{ready: make(chan struct{}, 1), dropped: map[string]uint64{}}
}

// Record implements Recorder: it queues ex for the next batch, or drops it
// (counted) when the queue is full. It never blocks.
func (s *PluginServer) Record(ex *Exchange) { s.records.add(ex) }

func (q *recordQueue) add(ex *Exchange) {
	pb := exchangeToPB(ex)
	size := exchangeSize(pb)
	q.mu.Lock()
	if len(q.recs) >= recordMax || q.bytes+size > recordMaxBytes {
		q.dropped[ex.Instance]++
		q.mu.Unlock()
		return
	}
	q.recs = append(q.recs, pb)
	q.sizes = append(q.sizes, size)
	q.bytes += size
	n := len(q.recs)
	q.mu.Unlock()
	if n == 1 || n >= recordBatch {
		select {
		case q.ready <- struct{}{}:
		default:
		}
	}
}

// full reports whether a whole batch is queued.
func (q *recordQueue) full() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.recs) >= recordBatch || q.bytes >= recordBatchBytes
}

// take removes the queued records as events of at most a batch each; the
// first carries the drop counts.
func (q *recordQueue) take() []*pluginpb.Event {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []*pluginpb.Event
	for len(q.recs) > 0 {
		n, bytes := 0, 0
		for n < len(q.recs) && n < recordBatch && (n == 0 || bytes+q.sizes[n] <= recordBatchBytes) {
			bytes += q.sizes[n]
			n++
		}
		out = append(out, &pluginpb.Event{Kind: pluginpb.Event_KIND_EXCHANGES, Exchanges: q.recs[:n:n]})
		q.recs, q.sizes, q.bytes = q.recs[n:], q.sizes[n:], q.bytes-bytes
	}
	q.recs, q.sizes = nil, nil // let the sent records go
	if len(q.dropped) > 0 {
		if len(out) == 0 {
			out = append(out, &pluginpb.Event{Kind: pluginpb.Event_KIND_EXCHANGES})
		}
		out[0].Dropped = q.dropped
		q.dropped = map[string]uint64{}
	}
	return out
}

// exchangeSize is about the bytes ex takes on the wire.
func exchangeSize(ex *pluginpb.Exchange) int {
	n := 256 + len(ex.ReqBody) + len(ex.RespBody) + len(ex.Path)
	for _, h := range ex.ReqHeader {
		n += len(h.Name) + len(h.Value) + 8
	}
	for _, h := range ex.RespHeader {
		n += len(h.Name) + len(h.Value) + 8
	}
	return n
}

func headersToPB(h http.Header) []*pluginpb.Header {
	var out []*pluginpb.Header
	for name, vs := range h {
		for _, v := range vs {
			out = append(out, &pluginpb.Header{Name: name, Value: v})
		}
	}
	return out
}

func headersFromPB(hs []*pluginpb.Header) http.Header {
	out := make(http.Header, len(hs))
	for _, h := range hs {
		out[h.GetName()] = append(out[h.GetName()], h.GetValue())
	}
	return out
}

func exchangeToPB(ex *Exchange) *pluginpb.Exchange {
	return &pluginpb.Exchange{
		Instance: ex.Instance, Id: ex.ID, TimeUnixNano: ex.Time.UnixNano(), DurationNanos: int64(ex.Duration),
		Method: ex.Method, Host: ex.Host, Path: ex.Path, Proto: ex.Proto, Client: ex.Client, Status: int32(ex.Status),
		ReqBytes: ex.ReqBytes, RespBytes: ex.RespBytes,
		ReqHeader: headersToPB(ex.ReqHeader), RespHeader: headersToPB(ex.RespHeader),
		ReqBody: ex.ReqBody, RespBody: ex.RespBody, ReqTruncated: ex.ReqTruncated, RespTruncated: ex.RespTruncated,
		HeadersTruncated: ex.HeadersTruncated, Upgrade: ex.Upgrade, Error: ex.Error, BodiesRecorded: ex.BodiesRecorded,
	}
}

func exchangeFromPB(p *pluginpb.Exchange) *Exchange {
	return &Exchange{
		Instance: p.GetInstance(), ID: p.GetId(), Time: time.Unix(0, p.GetTimeUnixNano()), Duration: time.Duration(p.GetDurationNanos()),
		Method: p.GetMethod(), Host: p.GetHost(), Path: p.GetPath(), Proto: p.GetProto(), Client: p.GetClient(), Status: int(p.GetStatus()),
		ReqBytes: p.GetReqBytes(), RespBytes: p.GetRespBytes(),
		ReqHeader: headersFromPB(p.GetReqHeader()), RespHeader: headersFromPB(p.GetRespHeader()),
		ReqBody: p.GetReqBody(), RespBody: p.GetRespBody(), ReqTruncated: p.GetReqTruncated(), RespTruncated: p.GetRespTruncated(),
		HeadersTruncated: p.GetHeadersTruncated(), Upgrade: p.GetUpgrade(), Error: p.GetError(), BodiesRecorded: p.GetBodiesRecorded(),
	}
}
