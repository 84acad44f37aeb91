package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/burrowproject/burrow/test/e2e/framework"
)

// Specs of the master's admin API against the real binary: every endpoint
// and every error case of the NodePass master API contract
// (/work/shared/spec/nodepass-master-api.md, sections 2 to 6).

const keyID = "********"

// CORS headers every answer carries (spec section 2).
var corsHeaders = map[string]string{
	"Access-Control-Allow-Origin":  "*",
	"Access-Control-Allow-Methods": "GET, PATCH, POST, PUT, DELETE, OPTIONS",
	"Access-Control-Allow-Headers": "Content-Type, Authorization, X-API-Key, Cache-Control",
}

var (
	hex8  = regexp.MustCompile(`^[0-9a-f]{8}$`)
	hex16 = regexp.MustCompile(`^[0-9a-f]{16}$`)
	hex32 = regexp.MustCompile(`^[0-9a-f]{32}$`)
)

// checkCORS reports a missing or wrong CORS header.
func checkCORS(t *testing.T, r *framework.Response) {
	t.Helper()
	for k, v := range corsHeaders {
		if got := r.Header.Get(k); got != v {
			t.Errorf("%s: header %s = %q, want %q", r, k, got, v)
		}
	}
	for _, k := range []string{"Access-Control-Max-Age", "Access-Control-Allow-Credentials"} {
		if got := r.Header.Get(k); got != "" {
			t.Errorf("%s: header %s = %q, want none", r, k, got)
		}
	}
}

// checkJSONType reports a JSON answer without an application/json type.
func checkJSONType(t *testing.T, r *framework.Response) {
	t.Helper()
	ct := r.Header.Get("Content-Type")
	if ct != "application/json" && !strings.HasPrefix(ct, "application/json;") {
		t.Errorf("%s: Content-Type %q, want application/json", r, ct)
	}
	if !json.Valid(r.Body) {
		t.Errorf("%s: body is not JSON", r)
	}
}

// expectError checks a JSON error answer: status, {"error": msg} where msg
// starts with prefix and contains every one of parts, CORS and type.
func expectError(t *testing.T, r *framework.Response, err error, status int, prefix string, parts ...string) {
	t.Helper()
	if err != nil {
		t.Errorf("request failed: %v", err)
		return
	}
	if r.Status != status {
		t.Errorf("%s: status %d, want %d (%s)", r, r.Status, status, prefix)
		return
	}
	checkJSONType(t, r)
	checkCORS(t, r)
	var body map[string]any
	if e := json.Unmarshal(r.Body, &body); e != nil || len(body) != 1 {
		t.Errorf("%s: body is not {\"error\": ...}", r)
		return
	}
	msg := r.ErrorMessage()
	if !strings.HasPrefix(msg, prefix) {
		t.Errorf("%s: error %q, want it to start with %q", r, msg, prefix)
	}
	for _, p := range parts {
		if !strings.Contains(msg, p) {
			t.Errorf("%s: error %q does not name %q", r, msg, p)
		}
	}
}

// Every error case of the contract: auth, bodies, URLs, ids, methods, the
// key record's 403s, the unchanged PUT's 409, limits.
func TestMasterAPIErrors(t *testing.T) {
	t.Parallel()
	f := framework.New(t)
	m := f.Master("master")
	tunnel, user := f.Port(), f.Port()
	srvURL := fmt.Sprintf("server://k@127.0.0.1:%d/127.0.0.1:%d", tunnel, user)
	srv := m.Create(srvURL, "")
	id := srv.ID
	missing := "0badc0de"
	if id == missing {
		missing = "0badc0df"
	}

	t.Run("auth", func(t *testing.T) {
		for _, path := range []string{"/instances", "/instances/" + missing, "/instances/" + id, "/instances/" + keyID,
			"/events", "/info", "/tcping?target=127.0.0.1:1", "/agents", "//metrics"} {
			r, err := m.DoKey(framework.NoKey, http.MethodGet, path, nil)
			expectError(t, r, err, http.StatusUnauthorized, "Unauthorized: API key required")
			// A wrong key (and a key differing only in case) is refused;
			// a good request in between keeps the master's wrong-key
			// backoff from slowing the spec down.
			wrong := strings.ToUpper(m.Key())
			if wrong == m.Key() { // a key of digits only
				wrong = "0" + m.Key()[1:] + "0"
			}
			r, err = m.DoKey(wrong, http.MethodGet, path, nil)
			expectError(t, r, err, http.StatusUnauthorized, "Unauthorized: Invalid API key")
			m.MustDo(http.StatusOK, http.MethodGet, "/instances", nil)
		}
		// The key is checked before the id or the method.
		for _, c := range []struct{ method, path string }{
			{http.MethodDelete, "/instances/" + missing}, {http.MethodPut, "/instances/" + keyID},
			{http.MethodPost, "/events"}, {http.MethodPost, "/instances"}, {http.MethodPost, "/info"},
		} {
			r, err := m.DoKey("wrong", c.method, c.path, `{"url":"server://:1/127.0.0.1:2","alias":"x"}`)
			expectError(t, r, err, http.StatusUnauthorized, "Unauthorized: Invalid API key")
			m.MustDo(http.StatusOK, http.MethodGet, "/instances", nil)
		}
		// Only X-API-Key authenticates the API: no Authorization or query
		// alternative.
		r, err := m.DoHeaders(http.MethodGet, "/instances?api_key="+m.Key(), nil, http.Header{"Authorization": {"Bearer " + m.Key()}})
		expectError(t, r, err, http.StatusUnauthorized, "Unauthorized: API key required")
	})

	t.Run("public and OPTIONS", func(t *testing.T) {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			r, err := m.DoKey(framework.NoKey, method, "/openapi.json", nil)
			if err != nil || r.Status != http.StatusOK {
				t.Errorf("%s /openapi.json without key: %v %v, want 200", method, r, err)
			} else {
				checkJSONType(t, r)
				checkCORS(t, r)
			}
			r, err = m.DoKey(framework.NoKey, method, "/docs", nil)
			if err != nil || r.Status != http.StatusOK || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") {
				t.Errorf("%s /docs without key: %v %v, want 200 text/html", method, r, err)
			}
		}
		// OPTIONS answers 200, empty, with CORS, before authentication,
		// whatever the route (even unknown ids and paths).
		for _, path := range []string{"/instances", "/instances/" + id, "/instances/" + missing, "/instances/" + keyID,
			"/events", "/info", "/tcping", "/openapi.json", "/docs", "/agents", "/nope"} {
			for _, key := range []string{framework.NoKey, "wrong"} {
				hdr := http.Header{"Origin": {"http://dash.example"}, "Access-Control-Request-Method": {"PATCH"}}
				if key != framework.NoKey {
					hdr.Set("X-API-Key", key)
				}
				r, err := m.DoHeaders(http.MethodOptions, path, nil, hdr)
				if err != nil {
					t.Fatal(err)
				}
				if r.Status != http.StatusOK || len(r.Body) != 0 {
					t.Errorf("%s: want 200 with an empty body", r)
				}
				checkCORS(t, r)
			}
		}
		m.MustDo(http.StatusOK, http.MethodGet, "/instances", nil) // clear the wrong-key count
	})

	t.Run("create", func(t *testing.T) {
		for _, c := range []struct {
			body         any
			prefix       string
			names        []string
			namesProblem string
		}{
			{body: `not json`, prefix: "Invalid request body"},
			{body: `{"url": "server://k@127.0.0.1:1/127.0.0.1:2"`, prefix: "Invalid request body"},
			{body: `["server://k@127.0.0.1:1/127.0.0.1:2"]`, prefix: "Invalid request body"},
			{body: `{}`, prefix: "Invalid request body"},
			{body: `{"url": ""}`, prefix: "Invalid request body"},
			{body: `{"url": 42}`, prefix: "Invalid request body"},
			{body: ``, prefix: "Invalid request body"},
			{body: map[string]string{"url": "server://[::1"}, prefix: "Invalid URL format", names: []string{"[::1"}},
			{body: map[string]string{"url": "server://k@127.0.0.1:70000/127.0.0.1:80"}, prefix: "Invalid URL format", names: []string{"70000"}},
			{body: map[string]string{"url": "server://k@127.0.0.1:10101"}, prefix: "Invalid URL format", names: []string{"target"}},
			{body: map[string]string{"url": "server://k@127.0.0.1:10101/127.0.0.1:99999"}, prefix: "Invalid URL format", names: []string{"99999"}},
			{body: map[string]string{"url": "server://k@127.0.0.1:10101/127.0.0.1:80?tls=7"}, prefix: "Invalid URL format", names: []string{"tls", "7"}},
			{body: map[string]string{"url": "client://k@127.0.0.1:10101/127.0.0.1:80?rate=fast"}, prefix: "Invalid URL format", names: []string{"rate", "fast"}},
			{body: map[string]string{"url": fmt.Sprintf("tcp://127.0.0.1:%d/127.0.0.1:80", f.Port())}, prefix: "Invalid URL format", names: []string{"agent"}},
			{body: map[string]string{"url": "foo://127.0.0.1:1/127.0.0.1:2"}, prefix: "Invalid URL scheme", names: []string{"foo"}},
			{body: map[string]string{"url": "master://127.0.0.1:1/api"}, prefix: "Invalid URL scheme"},
			{body: map[string]string{"url": "just some text"}, prefix: "Invalid URL"},
			{body: map[string]string{"url": srvURL, "alias": strings.Repeat("a", 257)}, prefix: "Instance alias exceeds maximum length 256"},
		} {
			r, err := m.Do(http.MethodPost, "/instances", c.body)
			expectError(t, r, err, http.StatusBadRequest, c.prefix, c.names...)
		}
		// Nothing was created by the refused requests.
		if list := m.List(); len(list) != 2 {
			t.Errorf("after refused creates GET /instances has %d entries, want 2 (key + %s): %+v", len(list), id, list)
		}
	})

	t.Run("ids", func(t *testing.T) {
		r, err := m.Do(http.MethodGet, "/instances/", nil)
		if err != nil || (r.Status != http.StatusBadRequest && r.Status != http.StatusNotFound) {
			t.Errorf("GET /instances/: %v %v, want 400 (or 404), never a redirect", r, err)
		} else {
			checkJSONType(t, r)
			checkCORS(t, r)
		}
		for _, c := range []struct{ method, path string }{
			{http.MethodGet, "/instances/" + missing}, {http.MethodGet, "/instances/" + id + "/x"},
			{http.MethodPatch, "/instances/" + missing}, {http.MethodPut, "/instances/" + missing},
			{http.MethodDelete, "/instances/" + missing},
			// A wrong method on an unknown id is 404 (the id is looked up first).
			{http.MethodPost, "/instances/" + missing},
		} {
			r, err := m.Do(c.method, c.path, `{"url":"server://k@127.0.0.1:1/127.0.0.1:2"}`)
			expectError(t, r, err, http.StatusNotFound, "Instance not found")
		}
		// Paths outside the routes are 404 (JSON in Burrow).
		for _, p := range []string{"/foo", "/events/", "//api/v2/instances", "//api/instances"} {
			r, err := m.Do(http.MethodGet, p, nil)
			if err != nil || r.Status != http.StatusNotFound {
				t.Errorf("GET %s: %v %v, want 404", p, r, err)
			}
		}
		// %2A is an asterisk: the key record answers.
		r, err = m.Do(http.MethodGet, "/instances/%2A%2A%2A%2A%2A%2A%2A%2A", nil)
		if err != nil || r.Status != http.StatusOK {
			t.Errorf("GET the key record as %%2A: %v %v, want 200", r, err)
		}
	})

	t.Run("methods", func(t *testing.T) {
		for _, c := range []struct{ method, path string }{
			{http.MethodDelete, "/instances"}, {http.MethodPut, "/instances"}, {http.MethodPatch, "/instances"},
			{http.MethodHead, "/instances"},
			{http.MethodPost, "/instances/" + id}, {http.MethodHead, "/instances/" + id},
			{http.MethodPost, "/events"}, {http.MethodDelete, "/events"}, {http.MethodHead, "/events"},
			{http.MethodPut, "/info"}, {http.MethodDelete, "/info"}, {http.MethodPatch, "/info"},
			{http.MethodPost, "/tcping"}, {http.MethodDelete, "/tcping"},
		} {
			r, err := m.Do(c.method, c.path, `{}`)
			if c.method == http.MethodHead {
				// A HEAD answer has no body to check; the status is the contract.
				if err != nil || r.Status != http.StatusMethodNotAllowed {
					t.Errorf("HEAD %s: %v %v, want 405", c.path, r, err)
				}
				continue
			}
			expectError(t, r, err, http.StatusMethodNotAllowed, "Method not allowed")
		}
	})

	t.Run("patch", func(t *testing.T) {
		before := m.Get(id)
		for _, c := range []struct {
			body   any
			status int
			prefix string
		}{
			{`{"action": "status"}`, http.StatusBadRequest, "Invalid action: status"},
			{`{"action": "START"}`, http.StatusBadRequest, "Invalid action: START"},
			{map[string]string{"alias": strings.Repeat("é", 129)}, http.StatusBadRequest, "Instance alias exceeds maximum length 256"},
			{map[string]any{"meta": map[string]any{"peer": map[string]string{"sid": strings.Repeat("s", 257)}}}, http.StatusBadRequest, "Meta peer.sid exceeds maximum length 256"},
			{map[string]any{"meta": map[string]any{"peer": map[string]string{"type": strings.Repeat("s", 257)}}}, http.StatusBadRequest, "Meta peer.type exceeds maximum length 256"},
			{map[string]any{"meta": map[string]any{"peer": map[string]string{"alias": strings.Repeat("s", 257)}}}, http.StatusBadRequest, "Meta peer.alias exceeds maximum length 256"},
			{map[string]any{"meta": map[string]any{"tags": map[string]string{strings.Repeat("k", 257): "v"}}}, http.StatusBadRequest, "Meta tag key exceeds maximum length 256"},
			{map[string]any{"meta": map[string]any{"tags": map[string]string{"k": strings.Repeat("v", 257)}}}, http.StatusBadRequest, "Meta tag value exceeds maximum length 256"},
			// Validated before anything is applied: the alias of a patch
			// with a bad action is not set.
			{`{"alias": "half-applied", "action": "bogus"}`, http.StatusBadRequest, "Invalid action: bogus"},
			// Burrow answers 400 where NodePass silently ignores the body.
			{`{"restart": "yes"}`, http.StatusBadRequest, "Invalid request body"},
			{`not json`, http.StatusBadRequest, "Invalid request body"},
		} {
			r, err := m.Do(http.MethodPatch, "/instances/"+id, c.body)
			expectError(t, r, err, c.status, c.prefix)
		}
		after := m.Get(id)
		if after.Alias != before.Alias || after.Restart != before.Restart || len(after.Meta.Tags) != 0 || after.Meta.Peer != (framework.Peer{}) {
			t.Errorf("refused PATCHes changed the instance: before %+v, after %+v", before, after)
		}
	})

	t.Run("put", func(t *testing.T) {
		// Unchanged URL: as stored, and as first submitted (before the
		// master added log=debug), are both conflicts.
		for _, u := range []string{srv.URL, srvURL, srvURL + "?log=debug", " " + srvURL + " "} {
			r, err := m.Do(http.MethodPut, "/instances/"+id, map[string]string{"url": u})
			expectError(t, r, err, http.StatusConflict, "Instance URL conflict")
		}
		for _, c := range []struct {
			body   any
			prefix string
			names  []string
		}{
			{`not json`, "Invalid request body", nil},
			{`{}`, "Invalid request body", nil},
			{`{"url": ""}`, "Invalid request body", nil},
			{map[string]string{"url": "server://[::1"}, "Invalid URL format", []string{"[::1"}},
			{map[string]string{"url": "server://k@127.0.0.1:10101"}, "Invalid URL format", []string{"target"}},
			{map[string]string{"url": "foo://127.0.0.1:1/127.0.0.1:2"}, "Invalid URL scheme", []string{"foo"}},
		} {
			r, err := m.Do(http.MethodPut, "/instances/"+id, c.body)
			expectError(t, r, err, http.StatusBadRequest, c.prefix, c.names...)
		}
		if got := m.Get(id); got.URL != srv.URL {
			t.Errorf("refused PUTs changed the URL to %q", got.URL)
		}
	})

	t.Run("key record", func(t *testing.T) {
		r, err := m.Do(http.MethodPut, "/instances/"+keyID, map[string]string{"url": srvURL})
		expectError(t, r, err, http.StatusForbidden, "Forbidden: API Key")
		r, err = m.Do(http.MethodDelete, "/instances/"+keyID, nil)
		expectError(t, r, err, http.StatusForbidden, "Forbidden: API Key")
		// Any PATCH but {"action":"restart"} is ignored: 200, unchanged.
		for _, body := range []string{`{"alias":"x"}`, `{"restart":true}`, `{"action":"stop"}`, `{"meta":{"tags":{"a":"b"}}}`} {
			got := m.Patch(keyID, body)
			if got.URL != m.Key() || got.Alias != "" || got.Restart || len(got.Meta.Tags) != 0 {
				t.Errorf("PATCH %s %s changed the key record: %+v", keyID, body, got)
			}
		}
		if m.Get(keyID).URL != m.Key() {
			t.Error("the key changed")
		}
	})

	t.Run("info and tcping", func(t *testing.T) {
		r, err := m.Do(http.MethodPost, "/info", `{"alias": 5}`)
		expectError(t, r, err, http.StatusBadRequest, "Invalid request body")
		r, err = m.Do(http.MethodPost, "/info", `nope`)
		expectError(t, r, err, http.StatusBadRequest, "Invalid request body")
		r, err = m.Do(http.MethodPost, "/info", map[string]string{"alias": strings.Repeat("m", 257)})
		expectError(t, r, err, http.StatusBadRequest, "Master alias exceeds maximum length 256")
		for _, p := range []string{"/tcping", "/tcping?target="} {
			r, err = m.Do(http.MethodGet, p, nil)
			expectError(t, r, err, http.StatusBadRequest, "Target address required")
		}
	})
}

// Every endpoint's success answer: shapes, codes, the key record, URL
// normalisation, PATCH fields and actions, PUT, DELETE, info, tcping,
// openapi, docs, agents, metrics.
func TestMasterAPIEndpoints(t *testing.T) {
	t.Parallel()
	f := framework.New(t)
	m := f.Master("master")

	// A fresh master lists only the key record.
	list := m.List()
	if len(list) != 1 {
		t.Fatalf("fresh master lists %d entries, want 1 (the key record): %+v", len(list), list)
	}
	keyRec := list[0]
	if keyRec.ID != keyID || keyRec.URL != m.Key() || keyRec.Type != "" || keyRec.Status != "" ||
		keyRec.Restart || !hex16.MatchString(keyRec.Config) || keyRec.Counters() != [4]int64{} ||
		keyRec.Meta.Peer != (framework.Peer{}) || keyRec.Meta.Tags == nil || len(keyRec.Meta.Tags) != 0 {
		t.Errorf("key record %+v: want id %s, url the key %s, empty type and status, config the master id, restart false, empty meta, zero counters",
			keyRec, keyID, m.Key())
	}
	if !hex32.MatchString(m.Key()) {
		t.Errorf("API key %q is not 32 lowercase hex characters", m.Key())
	}
	r := m.MustDo(http.StatusOK, http.MethodGet, "/instances", nil)
	checkJSONType(t, r)
	checkCORS(t, r)
	if got := m.Get(keyID); !reflect.DeepEqual(got, keyRec) {
		t.Errorf("GET /instances/%s = %+v, want %+v", keyID, got, keyRec)
	}

	// POST: 201, normalised url (sorted query, log= of the master added),
	// config with every default, restart true, zero counters, stopped.
	tunnel, user := f.Port(), f.Port()
	raw := fmt.Sprintf("server://k@127.0.0.1:%d/127.0.0.1:%d?tls=0&lbs=2&dns=1m", tunnel, user)
	r = m.MustDo(http.StatusCreated, http.MethodPost, "/instances", map[string]any{"url": raw, "alias": "web", "restart": false, "id": "ffffffff"})
	checkJSONType(t, r)
	checkCORS(t, r)
	in, err := framework.DecodeInstance(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	wantURL := fmt.Sprintf("server://k@127.0.0.1:%d/127.0.0.1:%d?dns=1m&lbs=2&log=debug&tls=0", tunnel, user)
	if !hex8.MatchString(in.ID) || in.ID == "ffffffff" || in.Alias != "web" || in.Type != "server" || in.Status != "stopped" ||
		in.URL != wantURL || !in.Restart || in.Counters() != [4]int64{} || len(in.Meta.Tags) != 0 {
		t.Errorf("POST answered %+v; want a new 8-hex id, alias web, type server, status stopped, url %s, restart true, zero counters", in, wantURL)
	}
	for _, p := range []string{"block=0", "dial=auto", "dns=1m", "log=debug", "max=1024", "mode=0", "notcp=0", "noudp=0",
		"proxy=0", "rate=0", "read=0s", "slot=65536", "type=0", "lbs=2", "tls=0"} {
		if !strings.Contains(in.Config, p) {
			t.Errorf("config %q lacks %s", in.Config, p)
		}
	}
	if q := in.Config[strings.Index(in.Config, "?")+1:]; !sortedQuery(q) {
		t.Errorf("config query %q is not sorted by key", q)
	}
	id := in.ID
	running := m.WaitInstance(id, ready, "running", func(in framework.Instance) bool { return in.Status == "running" })
	if running.Mode == 0 {
		t.Errorf("running server reports mode 0: %+v", running)
	}

	// A client: url gets log= but never tls=.
	cl := m.Create(fmt.Sprintf("client://k@127.0.0.1:%d/%s?rate=10", tunnel, f.TCPEcho()), "")
	if !strings.HasSuffix(cl.URL, "?log=debug&rate=10") || cl.Type != "client" {
		t.Errorf("client created as %+v, want type client, url ending ?log=debug&rate=10", cl)
	}

	// PATCH: each field in turn.
	got := m.Patch(id, map[string]string{"alias": "renamed"})
	if got.Alias != "renamed" {
		t.Errorf("PATCH alias: %+v", got)
	}
	got = m.Patch(id, map[string]bool{"restart": false})
	if got.Restart {
		t.Errorf("PATCH restart false: %+v", got)
	}
	peer := framework.Peer{SID: "sid-1", Type: "3", Alias: "peer"}
	got = m.Patch(id, map[string]any{"meta": map[string]any{"peer": peer}})
	if got.Meta.Peer != peer {
		t.Errorf("PATCH meta.peer: %+v", got.Meta)
	}
	got = m.Patch(id, map[string]any{"meta": map[string]any{"tags": map[string]string{"env": "test", "tier": "1"}}})
	if got.Meta.Peer != peer || len(got.Meta.Tags) != 2 || got.Meta.Tags["env"] != "test" {
		t.Errorf("PATCH meta.tags (peer kept): %+v", got.Meta)
	}
	got = m.Patch(id, map[string]any{"meta": map[string]any{"tags": map[string]string{}}})
	if got.Meta.Tags == nil || len(got.Meta.Tags) != 0 || got.Meta.Peer != peer {
		t.Errorf("PATCH meta.tags {} must clear the tags and keep the peer: %+v", got.Meta)
	}
	got = m.Patch(id, `{"action":"reset"}`)
	if got.Counters() != [4]int64{} {
		t.Errorf("PATCH reset: counters %v", got.Counters())
	}
	m.Patch(id, `{"action":"stop"}`)
	stopped := m.WaitInstance(id, ready, "stopped", func(in framework.Instance) bool { return in.Status == "stopped" })
	if stopped.Mode != running.Mode || stopped.Pool != 0 || stopped.Ping != 0 || stopped.TCPs != 0 || stopped.UDPs != 0 {
		t.Errorf("stopped instance %+v: want mode %d kept, pool, ping, tcps, udps 0", stopped, running.Mode)
	}
	m.Patch(id, `{"action":"start"}`)
	m.WaitInstance(id, ready, "running again", func(in framework.Instance) bool { return in.Status == "running" })
	m.Patch(id, `{"action":"restart"}`)
	m.WaitInstance(id, ready, "running after restart", func(in framework.Instance) bool { return in.Status == "running" })

	// PUT: 200 status stopped, url/config replaced, alias, restart and meta
	// kept; running again afterwards; may switch type.
	newUser := f.Port()
	putURL := fmt.Sprintf("server://k@127.0.0.1:%d/127.0.0.1:%d", tunnel, newUser)
	r = m.MustDo(http.StatusOK, http.MethodPut, "/instances/"+id, map[string]string{"url": putURL})
	checkJSONType(t, r)
	put, err := framework.DecodeInstance(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	if put.ID != id || put.Status != "stopped" || put.URL != putURL+"?log=debug" || put.Alias != "renamed" || put.Restart || put.Meta.Peer != peer ||
		!strings.Contains(put.Config, fmt.Sprintf("127.0.0.1:%d?", newUser)) {
		t.Errorf("PUT answered %+v; want status stopped, url %s?log=debug, alias/restart/meta kept", put, putURL)
	}
	m.WaitInstance(id, ready, "running after PUT", func(in framework.Instance) bool { return in.Status == "running" })
	f.ExpectTCPEcho(framework.Addr(newUser)).Eventually(ready).Ensure()

	// DELETE: 204, empty body, gone, second DELETE 404.
	r = m.MustDo(http.StatusNoContent, http.MethodDelete, "/instances/"+cl.ID, nil)
	checkCORS(t, r)
	if len(r.Body) != 0 {
		t.Errorf("DELETE answered a body: %q", r.Body)
	}
	r, err = m.Do(http.MethodGet, "/instances/"+cl.ID, nil)
	expectError(t, r, err, http.StatusNotFound, "Instance not found")
	r, err = m.Do(http.MethodDelete, "/instances/"+cl.ID, nil)
	expectError(t, r, err, http.StatusNotFound, "Instance not found")
	ids := map[string]bool{}
	for _, in := range m.List() {
		ids[in.ID] = true
	}
	if len(ids) != 2 || !ids[keyID] || !ids[id] {
		t.Errorf("after DELETE GET /instances has %v, want the key record and %s", ids, id)
	}

	// GET /info: every field, integers, ver >= 1.10.0, mid = key record's config.
	r = m.MustDo(http.StatusOK, http.MethodGet, "/info", nil)
	checkJSONType(t, r)
	checkCORS(t, r)
	checkInfo(t, r, keyRec.Config, "")
	// POST /info sets the master alias: in /info and the key record.
	r = m.MustDo(http.StatusOK, http.MethodPost, "/info", map[string]string{"alias": "edge-1"})
	checkInfo(t, r, keyRec.Config, "edge-1")
	if a := m.Get(keyID).Alias; a != "edge-1" {
		t.Errorf("key record alias %q after POST /info, want edge-1", a)
	}
	checkInfo(t, m.MustDo(http.StatusOK, http.MethodPost, "/info", map[string]string{"alias": ""}), keyRec.Config, "")

	// GET /tcping: connected to a listener, refused elsewhere.
	echo := f.TCPEcho()
	r = m.MustDo(http.StatusOK, http.MethodGet, "/tcping?target="+echo, nil)
	checkJSONType(t, r)
	if err := framework.CheckIntegers(r.Body, "latency"); err != nil {
		t.Error(err)
	}
	var ping struct {
		Target    string  `json:"target"`
		Connected bool    `json:"connected"`
		Latency   int64   `json:"latency"`
		Error     *string `json:"error"`
	}
	if err := r.JSON(&ping); err != nil || ping.Target != echo || !ping.Connected || ping.Error != nil || !strings.Contains(string(r.Body), `"error":null`) {
		t.Errorf("tcping %s: %s (%v); want connected, error null", echo, r.Body, err)
	}
	refused := f.RefusingAddr()
	r = m.MustDo(http.StatusOK, http.MethodGet, "/tcping?target="+refused, nil)
	ping.Error = nil
	if err := r.JSON(&ping); err != nil || ping.Connected || ping.Latency != 0 || ping.Error == nil || !strings.Contains(*ping.Error, "refused") {
		t.Errorf("tcping %s: %s (%v); want connected false, latency 0, a refused error", refused, r.Body, err)
	}

	// GET /openapi.json: OpenAPI 3.1.1 with the contract's paths and schemas.
	r = m.MustDo(http.StatusOK, http.MethodGet, "/openapi.json", nil)
	var doc struct {
		OpenAPI string                                            `json:"openapi"`
		Info    struct{ Version string }                          `json:"info"`
		Servers []struct{ URL string }                            `json:"servers"`
		Paths   map[string]any                                    `json:"paths"`
		Comp    struct{ Schemas, SecuritySchemes map[string]any } `json:"components"`
	}
	if err := r.JSON(&doc); err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.1.1" || len(doc.Servers) == 0 || doc.Servers[0].URL != "/api/v1" {
		t.Errorf("openapi %q servers %+v; want 3.1.1 and /api/v1", doc.OpenAPI, doc.Servers)
	}
	for _, p := range []string{"/instances", "/instances/{id}", "/events", "/info", "/tcping", "/openapi.json", "/docs"} {
		if doc.Paths[p] == nil {
			t.Errorf("openapi.json lacks path %s", p)
		}
	}
	for _, s := range []string{"Instance", "CreateInstanceRequest", "UpdateInstanceRequest", "PutInstanceRequest", "Meta", "Peer",
		"MasterInfo", "UpdateMasterAliasRequest", "TCPingResult"} {
		if doc.Comp.Schemas[s] == nil {
			t.Errorf("openapi.json lacks schema %s", s)
		}
	}
	if doc.Comp.SecuritySchemes["ApiKeyAuth"] == nil {
		t.Error("openapi.json lacks the ApiKeyAuth security scheme")
	}

	// GET /agents: a JSON array (none connected).
	r = m.MustDo(http.StatusOK, http.MethodGet, "/agents", nil)
	checkJSONType(t, r)
	if strings.TrimSpace(string(r.Body)) != "[]" {
		t.Errorf("GET /agents with no agent: %s, want []", r.Body)
	}

	// /metrics: Prometheus text with the key (X-API-Key or Bearer).
	r = m.MustDo(http.StatusOK, http.MethodGet, "//metrics", nil)
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("/metrics Content-Type %q, want text/plain", ct)
	}
	if !strings.Contains(string(r.Body), `burrow_instance_bytes_total{direction="tcp_rx",id="`+id+`",type="server"}`) {
		t.Errorf("/metrics lacks the byte counters of %s:\n%s", id, grepLines(string(r.Body), "burrow_"))
	}
	r, err = m.DoHeaders(http.MethodGet, "//metrics", nil, http.Header{"Authorization": {"Bearer " + m.Key()}})
	if err != nil || r.Status != http.StatusOK {
		t.Errorf("/metrics with a bearer token: %v %v", r, err)
	}
}

// checkInfo checks a /info body (spec section 6).
func checkInfo(t *testing.T, r *framework.Response, mid, alias string) {
	t.Helper()
	if err := framework.CheckIntegers(r.Body, "uptime", "cpu", "mem_total", "mem_used", "swap_total", "swap_used",
		"netrx", "nettx", "diskr", "diskw", "sysup"); err != nil {
		t.Errorf("/info: %v", err)
	}
	var info map[string]any
	if err := r.JSON(&info); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"mid", "alias", "os", "arch", "ver", "name", "log", "tls", "crt", "key"} {
		if _, ok := info[k].(string); !ok {
			t.Errorf("/info %s = %v, want a string", k, info[k])
		}
	}
	want := map[string]string{"mid": mid, "alias": alias, "name": "127.0.0.1", "log": "debug", "tls": "0", "crt": "", "key": "", "os": "linux"}
	for k, v := range want {
		if info[k] != v {
			t.Errorf("/info %s = %v, want %q", k, info[k], v)
		}
	}
	ver, _ := info["ver"].(string)
	if !versionAtLeast(ver, 1, 10, 0) {
		t.Errorf("/info ver %q does not compare >= 1.10.0 (NodePassDash refuses the master)", ver)
	}
}

// versionAtLeast compares a NodePass-style version (v1.14.0, v1.14.0-x).
func versionAtLeast(v string, want ...int) bool {
	v = strings.TrimPrefix(v, "v")
	v, _, _ = strings.Cut(v, "-")
	parts := strings.Split(v, ".")
	for i, w := range want {
		if i >= len(parts) {
			return w == 0
		}
		n, err := strconv.Atoi(parts[i])
		if err != nil {
			return false
		}
		if n != w {
			return n > w
		}
	}
	return true
}

// sortedQuery reports whether a raw query's keys are in ascending order.
func sortedQuery(q string) bool {
	prev := ""
	for kv := range strings.SplitSeq(q, "&") {
		k, _, _ := strings.Cut(kv, "=")
		if k < prev {
			return false
		}
		prev = k
	}
	return true
}

// grepLines returns the lines of s containing sub.
func grepLines(s, sub string) string {
	var out []string
	for line := range strings.SplitSeq(s, "\n") {
		if strings.Contains(line, sub) && !strings.HasPrefix(line, "#") {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// waitFor polls cond for up to timeout (bounded) and reports whether it held.
func waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for range int(timeout/(50*time.Millisecond)) + 2 {
		if cond() {
			return true
		}
		if !time.Now().Before(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
	return cond()
}

// A URL NodePass would run but that cannot start here (its port is taken)
// is accepted with 201, then the instance turns "error" with the reason;
// once the port is free, the restart action brings it up.
func TestMasterInstancePortInUse(t *testing.T) {
	t.Parallel()
	f := framework.New(t)
	m := f.Master("master")
	user := f.Port()
	l, err := net.Listen("tcp", framework.Addr(user))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	in := m.Create(fmt.Sprintf("tcp://127.0.0.1:%d/%s?agent=%s", user, f.TCPEcho(), newKey(t)), "")
	got := m.WaitInstance(in.ID, ready, "error", func(in framework.Instance) bool { return in.Status == "error" })
	if !strings.Contains(got.Reason, "address already in use") {
		t.Errorf("instance on a taken port is in error with reason %q, want it to say the address is in use", got.Reason)
	}
	_ = l.Close()
	m.Patch(in.ID, `{"action":"restart"}`)
	m.WaitInstance(in.ID, ready, "running once the port is free", func(in framework.Instance) bool {
		return in.Status == "running" && in.Reason == ""
	})
}
