package e2e

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/burrowproject/burrow/test/e2e/framework"
)

// Specs of GET /events with a real HTTP client (spec section 8).

// reportInterval is the master's periodic update interval.
const reportInterval = 5 * time.Second

// eventsOf returns the events about instance id, in stream order.
func eventsOf(evs []framework.SSEEvent, id string) []framework.SSEEvent {
	var out []framework.SSEEvent
	for _, ev := range evs {
		if ev.Instance != nil && ev.Instance.ID == id {
			out = append(out, ev)
		}
	}
	return out
}

// ofType keeps the events of one type.
func ofType(evs []framework.SSEEvent, typ string) []framework.SSEEvent {
	var out []framework.SSEEvent
	for _, ev := range evs {
		if ev.Type == typ {
			out = append(out, ev)
		}
	}
	return out
}

// describeEvents renders events for failure messages.
func describeEvents(evs []framework.SSEEvent) string {
	var b strings.Builder
	for _, ev := range evs {
		if ev.Instance == nil {
			fmt.Fprintf(&b, "\n  %s", ev.Type)
			continue
		}
		in := ev.Instance
		fmt.Fprintf(&b, "\n  %s %s status=%s alias=%q restart=%v tags=%v peer=%v rx/tx=%v", ev.Type, in.ID, in.Status, in.Alias, in.Restart, in.Meta.Tags, in.Meta.Peer, in.Counters())
		if ev.Logs != "" {
			fmt.Fprintf(&b, " logs=%q", truncateString(ev.Logs, 80))
		}
	}
	return b.String()
}

func truncateString(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// mustWait is SSE.Wait failing the test.
func mustWait(t *testing.T, s *framework.SSE, timeout time.Duration, what string, cond func([]framework.SSEEvent) bool) []framework.SSEEvent {
	t.Helper()
	evs, err := s.Wait(timeout, cond)
	if err != nil {
		t.Fatalf("SSE: waiting for %s: %v; events:%s", what, err, describeEvents(evs))
	}
	return evs
}

// checkNoProblems fails the test if a payload broke the SSE contract.
func checkNoProblems(t *testing.T, s *framework.SSE) {
	t.Helper()
	for _, p := range s.Problems() {
		t.Errorf("SSE payload: %s", p)
	}
}

// The whole life of a stream: headers, retry first, the initial burst
// with the key record, create then update(running), one update per PATCH
// field in NodePass's order, periodic updates every 5 s with fresh
// counters, update(stopped) then delete, and on key rotation a shutdown
// event that closes every stream while the old key stops working.
func TestMasterSSESequence(t *testing.T) {
	t.Parallel()
	f := framework.New(t)
	m := f.Master("master")
	echo := f.TCPEcho()
	agentKey := newKey(t)

	// Two instances exist before anyone subscribes: a tcp forward through
	// the shared bridge and the agent (a client instance) that serves it.
	userPort := f.Port()
	fwd := m.Create(fmt.Sprintf("tcp://127.0.0.1:%d/%s?agent=%s", userPort, echo, agentKey), "fwd")
	agent := m.Create(fmt.Sprintf("client://%s@%s/%s", agentKey, m.BridgeAddr(), echo), "agent")
	m.WaitInstance(fwd.ID, ready, "running with its agent", func(in framework.Instance) bool { return in.Status == "running" && in.Pool == 1 })
	m.WaitInstance(agent.ID, ready, "running", func(in framework.Instance) bool { return in.Status == "running" })

	// A server with log=none: running, but no log events and no periodic
	// updates (spec section 10).
	quiet := m.Create(fmt.Sprintf("server://q@127.0.0.1:%d/127.0.0.1:%d?log=none", f.Port(), f.Port()), "quiet")
	m.WaitInstance(quiet.ID, ready, "running", func(in framework.Instance) bool { return in.Status == "running" })

	s := m.Subscribe()
	if ct := s.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("GET /events Content-Type %q, want exactly text/event-stream", ct)
	}
	if cc := s.Header.Get("Cache-Control"); cc != "no-cache" {
		t.Errorf("GET /events Cache-Control %q, want no-cache", cc)
	}
	if c := s.Header.Get("Connection"); !strings.EqualFold(c, "keep-alive") {
		t.Errorf("GET /events Connection %q, want keep-alive", c)
	}
	for k, v := range corsHeaders {
		if got := s.Header.Get(k); got != v {
			t.Errorf("GET /events header %s = %q, want %q", k, got, v)
		}
	}

	// The initial burst: one event per instance, the key record included.
	evs := mustWait(t, s, ready, "the initial burst", func(evs []framework.SSEEvent) bool { return len(evs) >= 4 })
	frames := s.Frames()
	if len(frames) == 0 || frames[0].Retry != "3000" || len(frames[0].Data) != 0 {
		t.Errorf("first frames %+v, want retry: 3000 without data first", frames[:min(2, len(frames))])
	}
	initial := map[string]framework.Instance{}
	for _, ev := range evs[:4] {
		if ev.Type != "initial" {
			t.Fatalf("the stream does not start with 4 initial events:%s", describeEvents(evs))
		}
		initial[ev.Instance.ID] = *ev.Instance
	}
	if k, ok := initial[keyID]; !ok || k.URL != m.Key() || k.Type != "" || k.Status != "" {
		t.Errorf("initial burst lacks the key record (id %s, url the key, empty type and status):%s", keyID, describeEvents(evs[:4]))
	}
	if initial[fwd.ID].Status != "running" || initial[agent.ID].Status != "running" || initial[quiet.ID].Status != "running" {
		t.Errorf("initial burst lacks the running instances %s, %s and %s:%s", fwd.ID, agent.ID, quiet.ID, describeEvents(evs[:4]))
	}

	// Create: create, then update(running), then log events (log=debug).
	tunnel, user := f.Port(), f.Port()
	srv := m.Create(fmt.Sprintf("server://k@127.0.0.1:%d/127.0.0.1:%d", tunnel, user), "")
	evs = mustWait(t, s, ready, "create and update(running) of "+srv.ID, func(evs []framework.SSEEvent) bool {
		return len(ofType(eventsOf(evs, srv.ID), "update")) >= 1
	})
	mine := eventsOf(evs, srv.ID)
	if mine[0].Type != "create" || mine[0].Instance.Status != "stopped" && mine[0].Instance.Status != "running" {
		t.Errorf("first event of a new instance is not create:%s", describeEvents(mine))
	}
	if up := ofType(mine, "update"); up[0].Instance.Status != "running" {
		t.Errorf("first update of a new instance is not running:%s", describeEvents(mine))
	}
	mustWait(t, s, ready, "a log event of "+srv.ID, func(evs []framework.SSEEvent) bool {
		for _, ev := range ofType(eventsOf(evs, srv.ID), "log") {
			if ev.Logs != "" {
				return true
			}
		}
		return false
	})

	// PATCH with every field: one update each, in the order alias, action
	// (reset), restart, meta.
	peer := framework.Peer{SID: "s-1", Type: "2", Alias: "pair"}
	m.Patch(srv.ID, map[string]any{
		"alias": "a1", "action": "reset", "restart": false,
		"meta": map[string]any{"peer": peer, "tags": map[string]string{"k": "v"}},
	})
	evs = mustWait(t, s, ready, "4 updates for the PATCH", func(evs []framework.SSEEvent) bool {
		up := ofType(eventsOf(evs, srv.ID), "update")
		for i, ev := range up {
			if ev.Instance.Alias == "a1" {
				return len(up)-i >= 4
			}
		}
		return false
	})
	up := ofType(eventsOf(evs, srv.ID), "update")
	first := 0
	for first < len(up) && up[first].Instance.Alias != "a1" {
		first++
	}
	steps := up[first : first+4]
	type step struct {
		restart bool
		tags    int
		peer    framework.Peer
	}
	want := []step{{true, 0, framework.Peer{}}, {true, 0, framework.Peer{}}, {false, 0, framework.Peer{}}, {false, 1, peer}}
	for i, w := range want {
		in := steps[i].Instance
		if in.Alias != "a1" || in.Restart != w.restart || len(in.Meta.Tags) != w.tags || in.Meta.Peer != w.peer {
			t.Errorf("PATCH update %d of 4 is %+v, want alias a1, restart %v, %d tags, peer %+v (order alias, reset, restart, meta):%s",
				i+1, *in, w.restart, w.tags, w.peer, describeEvents(steps))
		}
	}

	// Periodic updates: traffic through the forward shows in the next
	// report; reports come every 5 s.
	const payload = 3000
	f.ExpectTCPEcho(framework.Addr(userPort)).Payload(framework.RandomBytes(payload)).Ensure()
	sent := time.Now()
	evs = mustWait(t, s, 2*reportInterval+2*time.Second, "two periodic updates of "+fwd.ID+" with the traffic", func(evs []framework.SSEEvent) bool {
		n := 0
		for _, ev := range ofType(eventsOf(evs, fwd.ID), "update") {
			if ev.Received.After(sent) && ev.Instance.TCPRx == payload && ev.Instance.TCPTx == payload {
				n++
			}
		}
		return n >= 2
	})
	var reports []framework.SSEEvent
	for _, ev := range ofType(eventsOf(evs, fwd.ID), "update") {
		if ev.Received.After(sent) {
			reports = append(reports, ev)
		}
	}
	if d := reports[0].Received.Sub(sent); d > reportInterval+time.Second {
		t.Errorf("first report after the traffic came %v later, want within %v", d, reportInterval)
	}
	if reports[0].Instance.TCPRx != payload || reports[0].Instance.TCPTx != payload {
		t.Errorf("first report after %d bytes of echo shows tcprx %d tcptx %d", payload, reports[0].Instance.TCPRx, reports[0].Instance.TCPTx)
	}
	if gap := reports[1].Received.Sub(reports[0].Received); gap < reportInterval-1500*time.Millisecond || gap > reportInterval+1500*time.Millisecond {
		t.Errorf("periodic updates %v apart, want about %v:%s", gap, reportInterval, describeEvents(reports))
	}
	// The agent's own counters are reported too.
	if a := ofType(eventsOf(evs, agent.ID), "update"); len(a) == 0 || a[len(a)-1].Instance.TCPRx != payload {
		t.Errorf("periodic updates of the agent %s do not show its %d bytes:%s", agent.ID, payload, describeEvents(a))
	}

	// The log=none server said nothing since the initial burst, through
	// two report intervals.
	if q := eventsOf(evs, quiet.ID); len(q) != 1 {
		t.Errorf("a log=none instance sent events besides its initial one:%s", describeEvents(q))
	}

	// Restart action and PUT: update(stopped), then update(running).
	lifecycleOf := func(evs []framework.SSEEvent, id string) []framework.SSEEvent {
		var out []framework.SSEEvent
		for _, ev := range eventsOf(evs, id) {
			if ev.Type != "log" {
				out = append(out, ev)
			}
		}
		return out
	}
	for _, op := range []struct {
		method string
		body   any
	}{
		{http.MethodPatch, `{"action":"restart"}`},
		{http.MethodPut, map[string]string{"url": fmt.Sprintf("server://k@127.0.0.1:%d/127.0.0.1:%d", tunnel, f.Port())}},
	} {
		before := len(lifecycleOf(s.Events(), srv.ID))
		m.MustDo(http.StatusOK, op.method, "/instances/"+srv.ID, op.body)
		// A periodic update(running) may come between the request and the
		// stop; the transition itself must be update(stopped) immediately
		// followed by update(running).
		firstStop := func(evs []framework.SSEEvent) int {
			for i, ev := range evs {
				if ev.Type != "update" || ev.Instance.Status != "running" {
					return i
				}
			}
			return len(evs)
		}
		evs = mustWait(t, s, ready, op.method+" stopped then running", func(evs []framework.SSEEvent) bool {
			got := lifecycleOf(evs, srv.ID)[before:]
			return len(got) >= firstStop(got)+2
		})
		all := lifecycleOf(evs, srv.ID)[before:]
		got := all[firstStop(all):]
		if got[0].Type != "update" || got[0].Instance.Status != "stopped" || got[1].Type != "update" || got[1].Instance.Status != "running" {
			t.Errorf("%s %v: want update(stopped) then update(running):%s", op.method, op.body, describeEvents(all))
		}
	}

	// DELETE of a stopped instance: delete only.
	m.Patch(quiet.ID, `{"action":"stop"}`)
	m.WaitInstance(quiet.ID, ready, "stopped", func(in framework.Instance) bool { return in.Status == "stopped" })
	m.MustDo(http.StatusNoContent, http.MethodDelete, "/instances/"+quiet.ID, nil)
	evs = mustWait(t, s, ready, "delete of "+quiet.ID, func(evs []framework.SSEEvent) bool {
		return len(ofType(eventsOf(evs, quiet.ID), "delete")) > 0
	})
	if q := eventsOf(evs, quiet.ID); len(q) != 3 || q[1].Type != "update" || q[1].Instance.Status != "stopped" || q[2].Type != "delete" {
		t.Errorf("stop then DELETE of a log=none server: want initial, update(stopped), delete:%s", describeEvents(q))
	}

	// DELETE of a running instance: update(stopped), then delete, last.
	m.MustDo(http.StatusNoContent, http.MethodDelete, "/instances/"+srv.ID, nil)
	evs = mustWait(t, s, ready, "delete of "+srv.ID, func(evs []framework.SSEEvent) bool {
		return len(ofType(eventsOf(evs, srv.ID), "delete")) > 0
	})
	mine = eventsOf(evs, srv.ID)
	var lifecycle []framework.SSEEvent // the events other than logs
	for _, ev := range mine {
		if ev.Type != "log" {
			lifecycle = append(lifecycle, ev)
		}
	}
	n := len(lifecycle)
	if n < 2 || lifecycle[n-1].Type != "delete" || lifecycle[n-1].Instance.Status != "stopped" ||
		lifecycle[n-2].Type != "update" || lifecycle[n-2].Instance.Status != "stopped" || mine[len(mine)-1].Type != "delete" {
		t.Errorf("DELETE of a running instance: want update(stopped) then delete(stopped), last:%s", describeEvents(mine))
	}

	// Key rotation: the answer carries the new key, every stream gets a
	// shutdown event and ends, the old key stops working at once.
	s2 := m.Subscribe()
	mustWait(t, s2, ready, "the second stream's initial burst", func(evs []framework.SSEEvent) bool { return len(evs) >= 3 })
	oldKey := m.Key()
	rotated := m.Patch(keyID, `{"action":"restart"}`)
	newKey := rotated.URL
	if !hex32.MatchString(newKey) || newKey == oldKey || rotated.ID != keyID {
		t.Fatalf("key rotation answered %+v; want the key record with a new 32-hex key in url", rotated)
	}
	for i, st := range []*framework.SSE{s, s2} {
		mustWait(t, st, ready, fmt.Sprintf("shutdown on stream %d", i+1), func(evs []framework.SSEEvent) bool {
			return len(ofType(evs, "shutdown")) > 0
		})
		if err := st.WaitEnded(ready); err != nil {
			t.Errorf("stream %d after the shutdown event: %v", i+1, err)
		}
		if _, err := st.Ended(); !errors.Is(err, io.EOF) {
			t.Errorf("stream %d ended with %v, want a clean close (EOF)", i+1, err)
		}
		evs := st.Events()
		if last := evs[len(evs)-1]; last.Type != "shutdown" || last.Instance != nil {
			t.Errorf("stream %d: last event is not shutdown with a null instance:%s", i+1, describeEvents(evs[max(0, len(evs)-4):]))
		}
		for _, ev := range ofType(eventsOf(evs, keyID), "update") {
			if ev.Instance.URL != newKey {
				t.Errorf("stream %d: update of the key record carries %q, want the new key", i+1, ev.Instance.URL)
			}
		}
		checkNoProblems(t, st)
	}
	r, err := m.Do(http.MethodGet, "/instances", nil)
	expectError(t, r, err, http.StatusUnauthorized, "Unauthorized: Invalid API key")
	if _, r, err := m.SubscribeKey(oldKey); err != nil || r == nil || r.Status != http.StatusUnauthorized {
		t.Errorf("GET /events with the old key: %v %v, want 401", r, err)
	}
	m.SetKey(newKey)
	s3 := m.Subscribe()
	evs = mustWait(t, s3, ready, "the initial burst with the new key", func(evs []framework.SSEEvent) bool { return len(evs) >= 3 })
	if k := eventsOf(evs, keyID); len(k) == 0 || k[0].Type != "initial" || k[0].Instance.URL != newKey {
		t.Errorf("after rotation the key record's initial event does not carry the new key:%s", describeEvents(evs))
	}
	checkNoProblems(t, s3)
}

// 200 instances created and deleted concurrently while a subscriber
// watches: every create and every delete arrives, create first and delete
// last for each instance, and the stream is never dropped.
func TestMasterSSE200ConcurrentCreateDelete(t *testing.T) {
	t.Parallel()
	f := framework.New(t)
	m := f.Master("master")
	s := m.Subscribe()
	mustWait(t, s, ready, "the initial burst", func(evs []framework.SSEEvent) bool { return len(evs) >= 1 })

	const n = 200
	ports := make([]int, n)
	for i := range ports {
		ports[i] = f.Port()
	}
	echo := f.TCPEcho()
	agentKey := newKey(t)
	start := time.Now()
	ids := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			url := fmt.Sprintf("tcp://127.0.0.1:%d/%s?agent=%s", ports[i], echo, agentKey)
			r, err := m.Do(http.MethodPost, "/instances", map[string]string{"url": url})
			if err != nil || r.Status != http.StatusCreated {
				errs[i] = fmt.Errorf("create: %v %v", r, err)
				return
			}
			in, err := framework.DecodeInstance(r.Body)
			if err != nil {
				errs[i] = err
				return
			}
			ids[i] = in.ID
			r, err = m.Do(http.MethodDelete, "/instances/"+in.ID, nil)
			if err != nil || r.Status != http.StatusNoContent {
				errs[i] = fmt.Errorf("delete %s: %v %v", in.ID, r, err)
			}
		})
	}
	wg.Wait()
	t.Logf("200 creates and deletes answered in %v", time.Since(start).Round(time.Millisecond))
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	unique := map[string]bool{}
	for _, id := range ids {
		unique[id] = true
	}
	if len(unique) != n {
		t.Fatalf("%d distinct ids for %d creates", len(unique), n)
	}

	evs, err := s.Wait(15*time.Second, func(evs []framework.SSEEvent) bool {
		deleted := 0
		for _, ev := range evs {
			if ev.Type == "delete" && unique[ev.Instance.ID] {
				deleted++
			}
		}
		return deleted >= n
	})
	if err != nil {
		ended, why := s.Ended()
		t.Fatalf("not every delete event arrived: %v (stream ended: %v, %v)", err, ended, why)
	}
	t.Logf("all 200 delete events arrived %v after the start, %d events in all", time.Since(start).Round(time.Millisecond), len(evs))
	byID := map[string][]framework.SSEEvent{}
	for _, ev := range evs {
		if ev.Instance != nil {
			byID[ev.Instance.ID] = append(byID[ev.Instance.ID], ev)
		}
	}
	bad := 0
	for _, id := range ids {
		mine := byID[id]
		creates, deletes := len(ofType(mine, "create")), len(ofType(mine, "delete"))
		if creates != 1 || deletes != 1 || mine[0].Type != "create" || mine[len(mine)-1].Type != "delete" {
			bad++
			if bad <= 3 {
				t.Errorf("instance %s: want exactly one create (first) and one delete (last):%s", id, describeEvents(mine))
			}
		}
	}
	if bad > 3 {
		t.Errorf("... %d instances in all with a wrong event sequence", bad)
	}
	if ended, why := s.Ended(); ended {
		t.Errorf("the stream ended (%v) during the burst", why)
	}
	checkNoProblems(t, s)
	if list := m.List(); len(list) != 1 {
		t.Errorf("after 200 deletes GET /instances has %d entries, want only the key record", len(list))
	}
}
