package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/burrowproject/burrow/test/e2e/framework"
)

// The error cases of the master's admin API (spec sections 2 to 6); the
// shared checks (expectError, checkCORS, checkJSONType) are in
// master_api_test.go.

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
			// Burrow's own schemes fail closed: an unknown parameter is named, with the closest known one.
			{body: map[string]string{"url": fmt.Sprintf("tcp://127.0.0.1:%d/127.0.0.1:80?agent=k&sloot=3", f.Port())}, prefix: "Invalid URL format", names: []string{`unknown parameter "sloot" for tcp`, `did you mean "slot"`}},
			{body: map[string]string{"url": fmt.Sprintf("http://127.0.0.1:%d?agent=k&host=a.test&proxy=1", f.Port())}, prefix: "Invalid URL format", names: []string{"parameter proxy does not apply to http"}},
			{body: map[string]string{"url": fmt.Sprintf("tcp://127.0.0.1:%d/127.0.0.1:80?agent=k&bridge=127.0.0.1:1", f.Port())}, prefix: "Invalid URL format", names: []string{"parameter bridge does not apply", "master's bridge"}},
			{body: map[string]string{"url": fmt.Sprintf("socks5://127.0.0.1:%d/10.0.0.0/8?agent=k&handof=1", f.Port())}, prefix: "Invalid URL format", names: []string{`unknown parameter "handof" for socks5`, `did you mean "handoff"`}},
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
