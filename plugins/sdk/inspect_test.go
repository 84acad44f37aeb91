package sdk

import (
	"context"
	"net"
	"net/http"
	"reflect"
	"strconv"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	pluginpb "github.com/burrowproject/burrow/plugins/sdk/proto"
)

func TestRedact(t *testing.T) {
	h := http.Header{
		"Authorization":       {"Bearer abc.def", "weird"},
		"Proxy-Authorization": {"Basic dXNlcjpwYXNz"},
		"Cookie":              {"a=1; b=x=y;  c", "=v"},
		"Set-Cookie":          {"sid=s3cr3t; Path=/; HttpOnly", "bare"},
		"X-Other":             {"Bearer visible"},
	}
	Redact(h)
	Redact(h) // idempotent
	want := http.Header{
		"Authorization":       {"Bearer [redacted]", "[redacted]"},
		"Proxy-Authorization": {"Basic [redacted]"},
		"Cookie":              {"a=[redacted]; b=[redacted]; [redacted]", "[redacted]"},
		"Set-Cookie":          {"sid=[redacted]; Path=/; HttpOnly", "[redacted]"},
		"X-Other":             {"Bearer visible"},
	}
	if !reflect.DeepEqual(h, want) {
		t.Errorf("Redact:\n got %v\nwant %v", h, want)
	}
	for _, name := range []string{"authorization", "COOKIE", "Set-Cookie", "Proxy-Authorization"} {
		if !IsRedacted(name) {
			t.Errorf("%s not redacted", name)
		}
	}
	if IsRedacted("X-Api-Key-Not-Listed") {
		t.Error("an unlisted header is redacted")
	}
}

// eventsPair serves s's control service on loopback and returns the host's
// Remote for it.
func eventsPair(t *testing.T, s *PluginServer) *Remote {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	pluginpb.RegisterHandlerServer(gs, &shim{srv: s})
	go func() { _ = gs.Serve(ln) }()
	cc, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close(); gs.Stop() })
	return &Remote{c: pluginpb.NewHandlerClient(cc)}
}

// collect runs the Events stream until ctx ends, keeping the exchange
// batches.
func collect(ctx context.Context, r *Remote) (batches func() []Event, done <-chan struct{}) {
	var mu sync.Mutex
	var got []Event
	ch := make(chan struct{})
	go func() {
		defer close(ch)
		_ = r.Events(ctx, func(ev Event) {
			if ev.Kind == "exchanges" {
				mu.Lock()
				got = append(got, ev)
				mu.Unlock()
			}
		})
	}()
	return func() []Event { mu.Lock(); defer mu.Unlock(); return append([]Event(nil), got...) }, ch
}

func exchanges(evs []Event) int {
	n := 0
	for _, ev := range evs {
		n += len(ev.Exchanges)
	}
	return n
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Records cross the plugin boundary in batches on the Events stream, each
// exactly as recorded; never one message per record.
func TestRecordsTravelInBatches(t *testing.T) {
	s := NewPluginServer(nil, nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	batches, done := collect(ctx, eventsPair(t, s))
	defer func() { cancel(); <-done }()

	sent := &Exchange{Instance: "i", ID: "0123456789abcdef", Time: time.Unix(1700000000, 5), Duration: 3 * time.Millisecond,
		Method: "POST", Host: "app.test", Path: "/p?q=1", Proto: "HTTP/1.1", Client: "127.0.0.1:5", Status: 201,
		ReqBytes: 3, RespBytes: 4, ReqHeader: http.Header{"A": {"1", "2"}}, RespHeader: http.Header{"B": {"3"}},
		ReqBody: []byte("abc"), RespBody: []byte{0, 1, 2, 255}, RespTruncated: true, BodiesRecorded: true, Error: "e"}
	s.Record(sent)
	waitFor(t, "the first batch", func() bool { return exchanges(batches()) == 1 })
	if got := batches()[0].Exchanges[0]; !reflect.DeepEqual(got, sent) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, sent)
	}

	const n = 150
	for i := range n {
		s.Record(&Exchange{Instance: "i", ID: strconv.Itoa(i)})
	}
	waitFor(t, "every record", func() bool { return exchanges(batches()) == n+1 })
	evs := batches()[1:]
	if len(evs) > 4 { // 64 + 64 + 22, give or take how they were cut while arriving
		t.Errorf("%d records took %d messages", n, len(evs))
	}
	seen := 0
	for _, ev := range evs {
		if len(ev.Exchanges) > recordBatch {
			t.Errorf("batch of %d", len(ev.Exchanges))
		}
		for _, ex := range ev.Exchanges {
			if ex.ID != strconv.Itoa(seen) {
				t.Fatalf("record %d is %s: out of order", seen, ex.ID)
			}
			seen++
		}
	}
}

// A full queue drops records and counts them per instance; the next batch
// carries the counts.
func TestRecordQueueBoundsAndCountsDrops(t *testing.T) {
	s := NewPluginServer(nil, nil, nil)
	for i := range recordMax + 5 {
		s.Record(&Exchange{Instance: "i", ID: strconv.Itoa(i)})
	}
	big := make([]byte, 16<<10)
	q := newRecordQueue()
	for range 1000 {
		q.add(&Exchange{Instance: "b", ReqBody: big, RespBody: big})
	}
	if q.bytes > recordMaxBytes || len(q.recs) >= 1000 || q.dropped["b"] == 0 {
		t.Errorf("byte bound: %d bytes, %d records, %d dropped", q.bytes, len(q.recs), q.dropped["b"])
	}
	for _, ev := range q.take() {
		size := 0
		for _, ex := range ev.Exchanges {
			size += exchangeSize(ex)
		}
		if size > recordBatchBytes {
			t.Errorf("a batch of %d bytes", size)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	batches, done := collect(ctx, eventsPair(t, s))
	defer func() { cancel(); <-done }()
	waitFor(t, "the queued records", func() bool { return exchanges(batches()) == recordMax })
	if d := batches()[0].Dropped; d["i"] != 5 || len(d) != 1 {
		t.Errorf("dropped %v, want i: 5", d)
	}
}

// A handler's counts cross the plugin boundary summed per instance and
// name on the Events stream, at most once per countFlush: never one
// message per count.
func TestCountsTravelSummed(t *testing.T) {
	s := NewPluginServer(nil, nil, nil)
	r := eventsPair(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	var (
		mu  sync.Mutex
		got = map[string]map[string]uint64{}
		msg int
	)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = r.Events(ctx, func(ev Event) {
			if ev.Kind != "counts" {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			msg++
			if got[ev.Instance] == nil {
				got[ev.Instance] = map[string]uint64{}
			}
			for k, v := range ev.Counts {
				got[ev.Instance][k] += v
			}
		})
	}()
	defer func() { cancel(); <-done }()
	for range 1000 {
		s.Count("a", "udp_dropped:queue_full", 1)
	}
	s.Count("b", "udp_dropped:source_limit", 7)
	s.Count("b", "nothing", 0)
	waitFor(t, "the counts", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return got["a"]["udp_dropped:queue_full"] == 1000 && got["b"]["udp_dropped:source_limit"] == 7
	})
	mu.Lock()
	defer mu.Unlock()
	if msg > 4 || len(got["b"]) != 1 {
		t.Errorf("1,001 counts took %d messages; b's counts %v", msg, got["b"])
	}
}
