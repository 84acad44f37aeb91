package inspect

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/burrowproject/burrow/internal/testutil"
	"github.com/burrowproject/burrow/plugins/sdk"
)

func TestMain(m *testing.M) { testutil.VerifyNoLeaks(m) }

func ex(instance, id string) *sdk.Exchange {
	return &sdk.Exchange{Instance: instance, ID: id, Method: "GET", Host: "h", Path: "/", Status: 200, Time: time.Now()}
}

func TestRingKeepsTheNewestWithinItsBounds(t *testing.T) {
	s := New(Config{PerInstance: 5})
	for i := range 12 {
		s.Record(ex("a", strconv.Itoa(i)))
	}
	s.Record(ex("b", "x"))
	list, st := s.List("a", 0)
	if len(list) != 5 || list[0].ID != "11" || list[4].ID != "7" || st.Kept != 5 || st.Total != 12 {
		t.Fatalf("ring: %v %+v", list, st)
	}
	if l, _ := s.List("a", 2); len(l) != 2 || l[1].ID != "10" {
		t.Errorf("limit: %v", l)
	}
	if _, ok := s.Get("a", "6"); ok {
		t.Error("an evicted record is still found")
	}
	if r, ok := s.Get("a", "9"); !ok || r.ID != "9" {
		t.Error("a kept record is not found")
	}

	// Bytes: records of 16 KiB bodies are evicted to stay under the budget.
	s = New(Config{PerInstance: 100, PerInstanceBytes: 100 << 10})
	for i := range 20 {
		e := ex("a", strconv.Itoa(i))
		e.BodiesRecorded, e.RespBody = true, make([]byte, 20<<10) // capped to 16 KiB on the way in
		s.Record(e)
	}
	_, st = s.List("a", 0)
	if st.Bytes > 100<<10 || st.Kept < 4 || st.Kept > 6 {
		t.Errorf("byte budget: %+v", st)
	}
	if r, _ := s.Get("a", "19"); r.RespBody == nil || r.RespBody.Size != sdk.MaxInspectBody || !r.RespBody.Truncated {
		t.Errorf("body not capped: %+v", r.RespBody)
	}

	s.Dropped("a", 3)
	sub := s.Subscribe("a")
	s.Forget("a")
	if _, open := <-sub.C(); open {
		t.Error("subscriber survives Forget")
	}
	sub.Close()
	if l, st := s.List("a", 0); len(l) != 0 || st.Dropped != 0 {
		t.Errorf("after Forget: %v %+v", l, st)
	}
}

func TestSanitizeRedactsAndBinaryBodies(t *testing.T) {
	s := New(Config{})
	e := ex("a", "1")
	e.ReqHeader = http.Header{"Authorization": {"Bearer t0k"}, "Cookie": {"s=v"}}
	e.RespHeader = http.Header{"Set-Cookie": {"s=v; Path=/"}, "Big": {strings.Repeat("v", 20<<10)}}
	e.BodiesRecorded, e.ReqBody, e.RespBody = true, []byte("héllo\n"), []byte{0x89, 'P', 'N', 'G', 0}
	s.Record(e)
	r, _ := s.Get("a", "1")
	hdr := map[string]string{}
	for _, h := range append(r.ReqHeaders, r.RespHeaders...) {
		hdr[h.Name] = h.Value
	}
	if hdr["Authorization"] != "Bearer [redacted]" || hdr["Cookie"] != "s=[redacted]" || hdr["Set-Cookie"] != "s=[redacted]; Path=/" {
		t.Errorf("headers %v", hdr)
	}
	if _, kept := hdr["Big"]; kept || !r.HeadersTruncated {
		t.Errorf("a 20 KiB header kept: truncated=%v", r.HeadersTruncated)
	}
	if r.ReqBody.Binary || r.ReqBody.Text != "héllo\n" || !r.RespBody.Binary || r.RespBody.Base64 != "iVBORwA=" || r.RespBody.Text != "" {
		t.Errorf("bodies %+v %+v", r.ReqBody, r.RespBody)
	}
	for _, c := range []struct {
		b         string
		truncated bool
		text      bool
	}{{"plain", false, true}, {"tab\tcr\r", false, true}, {"\x1b[31m", false, false}, {"caf\xc3", true, true}, {"caf\xc3", false, false}, {"\xff\xfe", false, false}} {
		if got := isText([]byte(c.b), c.truncated); got != c.text {
			t.Errorf("isText(%q, %v) = %v", c.b, c.truncated, got)
		}
	}
}

func TestSlowSubscriberIsDropped(t *testing.T) {
	s := New(Config{})
	sub := s.Subscribe("a")
	other := s.Subscribe("b")
	defer other.Close()
	for i := range subBuffer + 1 {
		s.Record(ex("a", strconv.Itoa(i)))
	}
	n := 0
	for range sub.C() {
		n++
	}
	if n != subBuffer {
		t.Errorf("slow subscriber got %d before it was dropped", n)
	}
	sub.Close() // idempotent after the drop
	if len(other.C()) != 0 {
		t.Error("a subscriber of another instance got records")
	}
}

// fakeEntry stands for an http instance's entry: it records every request it
// gets, as the handler does, and answers 200.
type fakeEntry struct {
	set  *Set
	mu   sync.Mutex
	seen []*http.Request
}

func (e *fakeEntry) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	e.mu.Lock()
	e.seen = append(e.seen, r)
	n := len(e.seen)
	e.mu.Unlock()
	x := &sdk.Exchange{Instance: "a", ID: "r" + strconv.Itoa(n), Method: r.Method, Host: r.Host, Path: r.RequestURI,
		ReqHeader: r.Header.Clone(), ReqBody: body, ReqBytes: int64(len(body)), BodiesRecorded: true, Status: 202}
	w.WriteHeader(http.StatusAccepted)
	go e.set.Record(x) // after the response, as the handler's finish
}

func TestReplaySendsTheRequestAgainAndMarksIt(t *testing.T) {
	s := New(Config{})
	en := &fakeEntry{set: s}
	srv := httptest.NewServer(en)
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())

	orig := ex("a", "orig")
	orig.Method, orig.Host, orig.Path = "PUT", "app.test", "/p/a%20b?x=1"
	orig.BodiesRecorded, orig.ReqBody, orig.ReqBytes = true, []byte("payload"), 7
	orig.ReqHeader = http.Header{"Authorization": {"Bearer x"}, "Cookie": {"a=b"}, "X-Keep": {"k"}, "Connection": {"close"},
		sdk.ReplayHeader: {"forged"}}
	s.Record(orig)
	if r, _ := s.Get("a", "orig"); r.ReplayOf != "" {
		t.Fatal("a forged replay mark was honoured")
	}
	res, err := s.Replay(context.Background(), "a", "orig", Target{Listen: "0.0.0.0:" + port, Auth: "u:p"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != 202 || res.ReplayOf != "orig" || strings.Join(res.NotReplayed, ",") != "Authorization,Cookie" ||
		res.Record == nil || res.Record.ReplayOf != "orig" {
		t.Fatalf("result %+v", res)
	}
	got := en.seen[0]
	if u, p, _ := got.BasicAuth(); u != "u" || p != "p" || got.Host != "app.test" || got.RequestURI != "/p/a%20b?x=1" ||
		got.Method != "PUT" || got.Header.Get("X-Keep") != "k" || got.Header.Get("Cookie") != "" || len(got.Header.Get(sdk.ReplayHeader)) != 32 {
		t.Errorf("replayed request: %s %s %s %v", got.Method, got.Host, got.RequestURI, got.Header)
	}
	for _, h := range res.Record.ReqHeaders {
		if h.Name == sdk.ReplayHeader {
			t.Error("the nonce stayed in the replay's record")
		}
	}
	list, _ := s.List("a", 1)
	if list[0].ReplayOf != "orig" {
		t.Errorf("newest %+v", list[0])
	}
}

func TestReplayRefusals(t *testing.T) {
	s := New(Config{})
	for id, mod := range map[string]func(*sdk.Exchange){
		"ws":  func(e *sdk.Exchange) { e.Upgrade = "websocket" },
		"nob": func(e *sdk.Exchange) { e.ReqBytes = 10 },
		"cut": func(e *sdk.Exchange) {
			e.BodiesRecorded, e.ReqBytes, e.ReqBody, e.ReqTruncated = true, 20000, []byte("x"), true
		},
		"hdrs": func(e *sdk.Exchange) { e.HeadersTruncated = true },
		"star": func(e *sdk.Exchange) { e.Path = "*" },
	} {
		e := ex("a", id)
		mod(e)
		s.Record(e)
	}
	for id, want := range map[string]string{
		"ws": "switched to websocket", "nob": "was not recorded (inspect=1)", "cut": "larger than the 16384 bytes",
		"hdrs": "headers were larger", "star": "is not a path",
	} {
		_, err := s.Replay(context.Background(), "a", id, Target{Listen: "127.0.0.1:1"})
		if !errors.Is(err, ErrNotReplayable) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", id, err, want)
		}
	}
	if _, err := s.Replay(context.Background(), "a", "nope", Target{}); !errors.Is(err, ErrGone) {
		t.Errorf("unknown record: %v", err)
	}
	s.Record(ex("a", "ok"))
	if _, err := s.Replay(context.Background(), "a", "ok", Target{Listen: "127.0.0.1:1"}); err == nil || errors.Is(err, ErrNotReplayable) {
		t.Errorf("unreachable entry: %v", err)
	}
}

// An HTTPS entry is replayed over TLS with the recorded host as SNI, so
// the entry picks the instance's certificate.
func TestReplayOverTLSSendsTheHostAsSNI(t *testing.T) {
	s := New(Config{RecordWait: 50 * time.Millisecond})
	sni := make(chan string, 1)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sni <- r.TLS.ServerName
		w.WriteHeader(http.StatusNoContent)
	}))
	srv.StartTLS()
	defer srv.Close()
	orig := ex("a", "tls")
	orig.Host = "secure.test"
	s.Record(orig)
	res, err := s.Replay(context.Background(), "a", "tls", Target{Listen: srv.Listener.Addr().String(), TLS: true})
	if err != nil || res.Status != http.StatusNoContent {
		t.Fatalf("replay: %+v %v", res, err)
	}
	if got := <-sni; got != "secure.test" {
		t.Errorf("SNI %q", got)
	}
}
