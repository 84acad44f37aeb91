package instances

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/burrowproject/burrow/server/events"
)

const masterDebug = "master://127.0.0.1:9090/api?log=debug"

func kindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return 0
}

func TestCreateNormalisesAndStarts(t *testing.T) {
	h := newHarness(t, masterDebug, "", nil)
	sub := h.m.Subscribe()
	defer sub.Close()
	skipInitial(t, sub, 0)

	v := h.create("server://127.0.0.1:10101/127.0.0.1:18080")
	if !regexp.MustCompile(`^[0-9a-f]{8}$`).MatchString(v.ID) {
		t.Errorf("id %q is not 8 hex chars", v.ID)
	}
	if v.Status != StatusStopped || !v.Restart || v.Type != "server" {
		t.Errorf("new instance: %+v", v)
	}
	if v.URL != "server://127.0.0.1:10101/127.0.0.1:18080?log=debug" {
		t.Errorf("url %q", v.URL)
	}
	wantConfig := "server://127.0.0.1:10101/127.0.0.1:18080?block=0&dial=auto&dns=5m0s&log=debug&max=1024&mode=0&notcp=0&noudp=0&proxy=0&rate=0&read=0s&slot=65536&type=0"
	if v.Config != wantConfig {
		t.Errorf("config\n got %s\nwant %s", v.Config, wantConfig)
	}
	if v.Meta.Tags == nil {
		t.Error("meta.tags is nil")
	}
	expect(t, sub, events.Create, StatusStopped)
	expect(t, sub, events.Update, StatusRunning)
	if got := h.get(v.ID).Status; got != StatusRunning {
		t.Errorf("status %q", got)
	}
}

func TestNormalisation(t *testing.T) {
	cases := []struct{ master, in, want string }{
		{masterDebug, "server://127.0.0.1:10101/127.0.0.1:18080", "server://127.0.0.1:10101/127.0.0.1:18080?log=debug"},
		{"master://:9090/api?log=info&tls=1", "server://a:1/b:2?log=warn", "server://a:1/b:2?log=warn&tls=1"},
		{"master://:9090/api?log=info&tls=1", "client://a:1/b:2", "client://a:1/b:2?log=info"},
		{"master://:9090/api?log=info&tls=1", "server://a:1/b:2?tls=1&log=info", "server://a:1/b:2?log=info&tls=1"},
		{"master://:9090/api", "server://a:1/b:2", "server://a:1/b:2"},
		{"master://:9090/api", "server://a:1/b:2?lbs=1&zz=x", "server://a:1/b:2?lbs=1&zz=x"},
		{"master://:9090/api?tls=2&crt=/c.pem&key=/k.pem", "server://a:1/b:2", "server://a:1/b:2?crt=/c.pem&key=/k.pem&tls=2"},
		{"master://:9090/api?tls=2&crt=/c.pem&key=/k.pem", "server://a:1/b:2?tls=0", "server://a:1/b:2?tls=0"},
	}
	for _, c := range cases {
		h := newHarness(t, c.master, "", nil)
		v := h.create(c.in)
		if v.URL != c.want {
			t.Errorf("master %s: %s -> %s, want %s", c.master, c.in, v.URL, c.want)
		}
	}
}

func TestCreateErrors(t *testing.T) {
	h := newHarness(t, masterDebug, "", nil)
	cases := []struct{ url, msg string }{
		{"server://[::1", "Invalid URL format"},
		{"tcp://:99999/x:1", "Invalid URL format"},
		{"master://:9090/api", "Invalid URL scheme"},
		{"gopher://a:1/b:2", "Invalid URL scheme"},
		{"server://a:1/" + strings.Repeat("x", MaxURL), "Invalid URL format"},
	}
	for _, c := range cases {
		_, err := h.m.Create(context.Background(), c.url, "")
		if kindOf(err) != KindInvalid || !strings.HasPrefix(err.Error(), c.msg) {
			t.Errorf("create %.40s: %v, want 400 %q", c.url, err, c.msg)
		}
	}
	if _, err := h.m.Create(context.Background(), "server://a:1/b:2", strings.Repeat("a", 257)); err == nil ||
		err.Error() != "Instance alias exceeds maximum length 256" {
		t.Errorf("long alias: %v", err)
	}
	if n := len(h.m.List()); n != 1 {
		t.Errorf("list has %d entries after failed creates, want only the key", n)
	}
}

func TestPatchStepsInOrder(t *testing.T) {
	h := newHarness(t, masterDebug, "", nil)
	v := h.create("server://:1/b:2")
	h.waitStatus(v.ID, StatusRunning)
	sub := h.m.Subscribe()
	defer sub.Close()
	skipInitial(t, sub, 1)

	alias, action, restart := "web", "reset", false
	tags := map[string]string{"env": "prod"}
	got, err := h.m.Patch(context.Background(), v.ID, Patch{
		Alias: &alias, Action: &action, Restart: &restart,
		Meta: &MetaPatch{Peer: &Peer{SID: "s1", Type: "1"}, Tags: &tags},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got.Alias != "web" || got.Restart || got.Meta.Peer.SID != "s1" || got.Meta.Tags["env"] != "prod" {
		t.Errorf("patched view %+v", got)
	}
	// One update per step, in the order alias, reset, restart, meta.
	u1 := expect(t, sub, events.Update, StatusRunning)
	u2 := expect(t, sub, events.Update, StatusRunning)
	u3 := expect(t, sub, events.Update, StatusRunning)
	u4 := expect(t, sub, events.Update, StatusRunning)
	if u1.Alias != "web" || !u1.Restart || u3.Restart || u3.Meta.Peer.SID != "" || u4.Meta.Peer.SID != "s1" {
		t.Errorf("steps out of order: %+v %+v %+v %+v", u1, u2, u3, u4)
	}
	// Tags {} clears; peer absent keeps the peer.
	empty := map[string]string{}
	got, _ = h.m.Patch(context.Background(), v.ID, Patch{Meta: &MetaPatch{Tags: &empty}})
	if len(got.Meta.Tags) != 0 || got.Meta.Peer.SID != "s1" {
		t.Errorf("clear tags: %+v", got.Meta)
	}
	// An empty patch changes nothing and announces nothing.
	if _, err := h.m.Patch(context.Background(), v.ID, Patch{}); err != nil {
		t.Fatal(err)
	}
}

func TestPatchValidatesFirst(t *testing.T) {
	h := newHarness(t, masterDebug, "", nil)
	v := h.create("server://:1/b:2")
	alias, bad := "x", "status"
	_, err := h.m.Patch(context.Background(), v.ID, Patch{Alias: &alias, Action: &bad})
	if kindOf(err) != KindInvalid || err.Error() != "Invalid action: status" {
		t.Fatalf("err %v", err)
	}
	if h.get(v.ID).Alias != "" {
		t.Error("alias applied although the patch failed")
	}
	long := strings.Repeat("é", 129)
	for _, p := range []Patch{
		{Alias: &long},
		{Meta: &MetaPatch{Peer: &Peer{Type: long}}},
		{Meta: &MetaPatch{Tags: &map[string]string{long: "v"}}},
		{Meta: &MetaPatch{Tags: &map[string]string{"k": long}}},
	} {
		if _, err := h.m.Patch(context.Background(), v.ID, p); kindOf(err) != KindInvalid ||
			!strings.Contains(err.Error(), "exceeds maximum length 256") {
			t.Errorf("patch %+v: %v", p, err)
		}
	}
	if _, err := h.m.Patch(context.Background(), "deadbeef", Patch{}); kindOf(err) != KindNotFound {
		t.Errorf("unknown id: %v", err)
	}
}

func TestActions(t *testing.T) {
	h := newHarness(t, masterDebug, "", nil)
	v := h.create("client://a:1/b:2")
	h.waitStatus(v.ID, StatusRunning)
	sub := h.m.Subscribe()
	defer sub.Close()
	skipInitial(t, sub, 1)
	act := func(a string) View {
		t.Helper()
		got, err := h.m.Patch(context.Background(), v.ID, Patch{Action: &a})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := act("stop"); got.Status != StatusRunning {
		t.Errorf("stop answered %q, want the old status", got.Status)
	}
	expect(t, sub, events.Update, StatusStopped)
	run := h.rt.run(v.ID)
	if !run.isStopped() {
		t.Error("runtime not stopped")
	}
	act("start")
	expect(t, sub, events.Update, StatusRunning)
	act("restart")
	expect(t, sub, events.Update, StatusStopped)
	expect(t, sub, events.Update, StatusRunning)
	if n := h.rt.startCount(v.ID); n != 3 {
		t.Errorf("%d starts, want 3", n)
	}
	act("start") // already running: nothing
	h.m.drain()
	if n := h.rt.startCount(v.ID); n != 3 {
		t.Errorf("%d starts after start of a running instance, want 3", n)
	}
}

func TestCountersAcrossRunsResetAndRestart(t *testing.T) {
	dir := t.TempDir()
	h := newHarness(t, masterDebug, dir, nil)
	v := h.create("server://:1/b:2")
	h.waitStatus(v.ID, StatusRunning)
	h.rt.run(v.ID).add(Stats{Mode: 1, Ping: 3, Pool: 8, TCPs: 2, TCPRx: 100, TCPTx: 50, UDPRx: 7})
	got := h.get(v.ID)
	if got.TCPRx != 100 || got.TCPTx != 50 || got.UDPRx != 7 || got.Mode != 1 || got.Pool != 8 || got.TCPs != 2 {
		t.Fatalf("live figures %+v", got)
	}
	stop, start, reset := "stop", "start", "reset"
	h.m.Patch(context.Background(), v.ID, Patch{Action: &stop})
	got = h.waitStatus(v.ID, StatusStopped)
	if got.TCPRx != 100 || got.Pool != 0 || got.Ping != 0 || got.TCPs != 0 || got.Mode != 1 {
		t.Errorf("after stop %+v: counters kept, gauges zero, mode kept", got)
	}
	h.m.Patch(context.Background(), v.ID, Patch{Action: &start})
	h.waitStatus(v.ID, StatusRunning)
	h.rt.run(v.ID).add(Stats{TCPRx: 11})
	if got = h.get(v.ID); got.TCPRx != 111 {
		t.Errorf("second run: tcprx %d, want 111", got.TCPRx)
	}
	got, _ = h.m.Patch(context.Background(), v.ID, Patch{Action: &reset})
	if got.TCPRx != 0 || got.TCPTx != 0 || got.UDPRx != 0 {
		t.Errorf("reset answered %+v", got)
	}
	h.rt.run(v.ID).add(Stats{TCPRx: 5})
	if got = h.get(v.ID); got.TCPRx != 5 {
		t.Errorf("after reset: tcprx %d, want 5", got.TCPRx)
	}
	h.close()

	// Restart the master on the same data directory.
	h2 := newHarness(t, masterDebug, dir, nil)
	got = h2.waitStatus(v.ID, StatusRunning)
	if got.TCPRx != 5 || got.Mode != 1 || h2.m.KeyCreated() {
		t.Errorf("after master restart %+v (key created %v)", got, h2.m.KeyCreated())
	}
	if h2.m.APIKey() != h.m.APIKey() {
		t.Error("API key changed across restarts")
	}
}

func TestFailuresAndRecovery(t *testing.T) {
	h := newHarness(t, masterDebug, "", nil)
	v := h.create("server://:1/b:2")
	h.waitStatus(v.ID, StatusRunning)

	h.rt.run(v.ID).end(errBoom)
	got := h.waitStatus(v.ID, StatusError)
	if got.Reason != "boom" {
		t.Errorf("reason %q", got.Reason)
	}
	start := "start"
	h.m.Patch(context.Background(), v.ID, Patch{Action: &start})
	h.waitStatus(v.ID, StatusRunning)

	h.rt.run(v.ID).end(nil)
	h.waitStatus(v.ID, StatusStopped)

	h.rt.failStart(v.ID, errors.New("listen tcp :1: bind: address already in use"))
	h.m.Patch(context.Background(), v.ID, Patch{Action: &start})
	got = h.waitStatus(v.ID, StatusError)
	if !strings.Contains(got.Reason, "address already in use") {
		t.Errorf("reason %q", got.Reason)
	}
	stop := "stop"
	h.m.Patch(context.Background(), v.ID, Patch{Action: &stop})
	h.waitStatus(v.ID, StatusStopped)
	if !strings.Contains(h.logs.String(), "Instance start failed") {
		t.Error("start failure not logged")
	}
}

func TestReplace(t *testing.T) {
	h := newHarness(t, masterDebug, "", nil)
	v := h.create("server://:1/b:2")
	h.waitStatus(v.ID, StatusRunning)
	alias := "keep"
	h.m.Patch(context.Background(), v.ID, Patch{Alias: &alias})

	for _, same := range []string{v.URL, "server://:1/b:2"} {
		if _, err := h.m.Replace(context.Background(), v.ID, same); kindOf(err) != KindConflict ||
			err.Error() != "Instance URL conflict" {
			t.Errorf("PUT %s: %v, want 409", same, err)
		}
	}
	sub := h.m.Subscribe()
	defer sub.Close()
	skipInitial(t, sub, 1)
	got, err := h.m.Replace(context.Background(), v.ID, "client://x:3/y:4")
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != StatusStopped || got.Type != "client" || got.Alias != "keep" || got.URL != "client://x:3/y:4?log=debug" {
		t.Errorf("PUT answered %+v", got)
	}
	expect(t, sub, events.Update, StatusStopped)
	expect(t, sub, events.Update, StatusRunning)
	if _, err := h.m.Replace(context.Background(), KeyID, "server://:1/b:2"); kindOf(err) != KindForbidden {
		t.Errorf("PUT key: %v", err)
	}
	if _, err := h.m.Replace(context.Background(), "00000000", "server://:1/b:2"); kindOf(err) != KindNotFound {
		t.Errorf("PUT unknown: %v", err)
	}
	if _, err := h.m.Replace(context.Background(), v.ID, "server://[::1"); kindOf(err) != KindInvalid {
		t.Errorf("PUT bad url: %v", err)
	}
}

func TestDelete(t *testing.T) {
	h := newHarness(t, masterDebug, "", nil)
	running := h.create("server://:1/b:2")
	h.waitStatus(running.ID, StatusRunning)
	stopped := h.create("server://:3/b:4")
	h.waitStatus(stopped.ID, StatusRunning)
	stop := "stop"
	h.m.Patch(context.Background(), stopped.ID, Patch{Action: &stop})
	h.waitStatus(stopped.ID, StatusStopped)

	sub := h.m.Subscribe()
	defer sub.Close()
	skipInitial(t, sub, 2)
	if err := h.m.Delete(context.Background(), running.ID); err != nil {
		t.Fatal(err)
	}
	expect(t, sub, events.Update, StatusStopped)
	expect(t, sub, events.Delete, StatusStopped)
	if err := h.m.Delete(context.Background(), stopped.ID); err != nil {
		t.Fatal(err)
	}
	expect(t, sub, events.Delete, StatusStopped)
	if err := h.m.Delete(context.Background(), running.ID); kindOf(err) != KindNotFound {
		t.Errorf("second delete: %v", err)
	}
	if err := h.m.Delete(context.Background(), KeyID); kindOf(err) != KindForbidden {
		t.Errorf("delete key: %v", err)
	}
	if !h.rt.run(running.ID).isStopped() {
		t.Error("deleted instance still running")
	}
}

func TestKeyRecordAndRotation(t *testing.T) {
	h := newHarness(t, masterDebug, "", nil)
	key := h.m.APIKey()
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(key) || !h.m.KeyCreated() {
		t.Fatalf("key %q created %v", key, h.m.KeyCreated())
	}
	kv := h.get(KeyID)
	mid, _ := h.m.MasterInfo()
	if kv.URL != key || kv.Config != mid || kv.Type != "" || kv.Status != "" || kv.Restart || kv.Meta.Tags == nil {
		t.Errorf("key record %+v", kv)
	}
	if !regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(mid) {
		t.Errorf("master id %q", mid)
	}
	// Other patches of the key record are ignored.
	alias := "x"
	if got, err := h.m.Patch(context.Background(), KeyID, Patch{Alias: &alias}); err != nil || got.Alias != "" || got.URL != key {
		t.Errorf("patch key alias: %+v %v", got, err)
	}
	sub := h.m.Subscribe()
	skipInitial(t, sub, 0)
	restart := "restart"
	got, err := h.m.Patch(context.Background(), KeyID, Patch{Action: &restart})
	if err != nil || got.URL == key || got.URL != h.m.APIKey() {
		t.Fatalf("rotate: %+v %v", got, err)
	}
	if h.m.CheckKey(key) || !h.m.CheckKey(got.URL) {
		t.Error("old key still valid or new key refused")
	}
	// A stream opened with the old key never sees the new one: it ends.
	if ev := next(t, sub); ev.Type != events.Shutdown || ev.Instance != nil {
		t.Errorf("first event after rotation: %s %+v", ev.Type, ev.Instance)
	}
	if _, ok := <-sub.Events(); ok || !errors.Is(sub.Err(), events.ErrShutdown) {
		t.Errorf("stream not closed after shutdown: %v", sub.Err())
	}
	if _, err := h.m.SubscribeAs(key); !errors.Is(err, ErrKeyChanged) {
		t.Errorf("subscribe with the rotated key: %v", err)
	}
	fresh, err := h.m.SubscribeAs(got.URL)
	if err != nil {
		t.Fatal(err)
	}
	if ev := next(t, fresh); ev.Type != events.Initial || ev.Instance.(View).URL != got.URL {
		t.Errorf("new stream starts with %s %+v", ev.Type, ev.Instance)
	}
	fresh.Close()
	if err := h.m.SetMasterAlias("edge-1"); err != nil {
		t.Fatal(err)
	}
	if err := h.m.SetMasterAlias(strings.Repeat("a", 257)); err == nil ||
		err.Error() != "Master alias exceeds maximum length 256" {
		t.Errorf("long master alias: %v", err)
	}
	if h.get(KeyID).Alias != "edge-1" {
		t.Error("master alias not on the key record")
	}
}

func TestRestartPolicyAtMasterStart(t *testing.T) {
	dir := t.TempDir()
	h := newHarness(t, masterDebug, dir, nil)
	auto := h.create("server://:1/b:2")
	manual := h.create("client://a:1/b:2")
	h.waitStatus(auto.ID, StatusRunning)
	h.waitStatus(manual.ID, StatusRunning)
	no := false
	h.m.Patch(context.Background(), manual.ID, Patch{Restart: &no})
	tags := map[string]string{"k": "v"}
	h.m.Patch(context.Background(), auto.ID, Patch{Meta: &MetaPatch{Tags: &tags}})
	h.close()

	h2 := newHarness(t, masterDebug, dir, nil)
	if got := h2.get(auto.ID); got.Status != StatusRunning || got.Meta.Tags["k"] != "v" {
		t.Errorf("auto instance after restart: %+v (Start waits for auto-starts)", got)
	}
	if got := h2.get(manual.ID); got.Status != StatusStopped || got.Restart {
		t.Errorf("manual instance after restart: %+v", got)
	}
	b, _ := json.Marshal(h2.m.List())
	if !strings.Contains(string(b), `"alias":""`) {
		t.Errorf("list JSON %s", b)
	}
}

func TestLogEventsAndMasterLog(t *testing.T) {
	h := newHarness(t, masterDebug, "", nil)
	sub := h.m.Subscribe()
	defer sub.Close()
	v := h.create("server://:1/b:2?log=info")
	h.waitStatus(v.ID, StatusRunning)
	run := h.rt.run(v.ID)
	run.log.Debug("hidden at info")
	run.log.With("peer", "1.2.3.4").WithGroup("g").Warn("handshake refused", "reason", "bad key")
	var logs []string
	timeout := timeAfter()
	for len(logs) < 2 {
		select {
		case ev := <-sub.Events():
			if ev.Type == events.Log {
				logs = append(logs, ev.Logs)
				if iv, _ := ev.Instance.(View); iv.ID != v.ID {
					t.Errorf("log event for %q", iv.ID)
				}
			}
		case <-timeout:
			t.Fatalf("log events: %q", logs)
		}
	}
	if !strings.Contains(logs[0], "fake instance started") ||
		!strings.Contains(logs[1], "WARN") || !strings.Contains(logs[1], `handshake refused peer=1.2.3.4 g.reason="bad key"`) {
		t.Errorf("log lines %q", logs)
	}
	master := h.logs.String()
	if !strings.Contains(master, "instance="+v.ID) || !strings.Contains(master, "handshake refused") ||
		strings.Contains(master, "hidden at info") {
		t.Errorf("master log:\n%s", master)
	}
	// log=none: no log events.
	quiet := h.create("server://:2/b:2?log=none")
	h.waitStatus(quiet.ID, StatusRunning)
	h.rt.run(quiet.ID).log.Error("silent")
	if strings.Contains(h.logs.String(), "silent") {
		t.Error("log=none instance logged")
	}
}

// After a master restart, instances start one after the other in creation
// order, even when an earlier one is slow to start; one that fails (say an
// HTTPS instance on a port plain ones already serve) fails alone.
func TestRestoreStartsInCreationOrder(t *testing.T) {
	dir := t.TempDir()
	h := newHarness(t, masterDebug, dir, nil)
	var ids []string
	for i := range 5 {
		ids = append(ids, h.create(fmt.Sprintf("client://a:%d/b:2", i+1)).ID)
		time.Sleep(2 * time.Millisecond) // distinct creation times
	}
	for _, id := range ids {
		h.waitStatus(id, StatusRunning)
	}
	h.close()

	rt := newFakeRuntime()
	rt.slow[ids[0]] = 50 * time.Millisecond // the oldest is the slowest
	rt.failStart(ids[2], errors.New("conflicts with an instance already serving"))
	h2 := newHarness(t, masterDebug, dir, rt)
	rt.mu.Lock()
	order := slices.Clone(rt.order)
	rt.mu.Unlock()
	if !slices.Equal(order, ids) {
		t.Fatalf("start order %v, want creation order %v", order, ids)
	}
	for i, id := range ids {
		want := StatusRunning
		if i == 2 {
			want = StatusError
		}
		if got := h2.get(id); got.Status != want {
			t.Errorf("instance %d (%s): %s (%q), want %s", i, id, got.Status, got.Reason, want)
		}
	}
}
