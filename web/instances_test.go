package web

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/burrowproject/burrow/server/instances"
)

func TestAuthAndCORS(t *testing.T) {
	a := newAPI(t)
	cors := func(r reply) {
		t.Helper()
		h := r.header
		if h.Get("Access-Control-Allow-Origin") != "*" ||
			h.Get("Access-Control-Allow-Methods") != "GET, PATCH, POST, PUT, DELETE, OPTIONS" ||
			h.Get("Access-Control-Allow-Headers") != "Content-Type, Authorization, X-API-Key, Cache-Control" ||
			h.Get("Access-Control-Max-Age") != "" || h.Get("Access-Control-Allow-Credentials") != "" {
			t.Errorf("CORS headers %v (status %d)", h, r.status)
		}
	}
	for _, p := range []string{"/instances", "/instances/deadbeef", "/events", "/info", "/tcping", "/agents", "/nope"} {
		r := a.call(http.MethodGet, a.root+p, "", "-")
		expectStatus(t, r, http.StatusUnauthorized, "Unauthorized: API key required")
		cors(r)
		r = a.call(http.MethodGet, a.root+p, "", "0123456789abcdef0123456789abcdef")
		expectStatus(t, r, http.StatusUnauthorized, "Unauthorized: Invalid API key")
		r = a.call(http.MethodOptions, a.root+p, "", "-")
		if r.status != http.StatusOK || len(r.body) != 0 {
			t.Errorf("OPTIONS %s: %d %q", p, r.status, r.body)
		}
		cors(r)
	}
	if r := a.call(http.MethodGet, a.root+"/instances", "", strings.ToUpper(a.key)); r.status != http.StatusUnauthorized {
		t.Errorf("key comparison is not case-sensitive: %d", r.status)
	}
	if r := a.call(http.MethodGet, a.root+"/instances", "", a.key); r.status != http.StatusOK {
		t.Errorf("right key: %d", r.status)
	}
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodHead, http.MethodDelete} {
		for _, p := range []string{"/openapi.json", "/docs"} {
			r := a.call(m, a.root+p, "", "-")
			if r.status != http.StatusOK {
				t.Errorf("%s %s without key: %d", m, p, r.status)
			}
			cors(r)
		}
	}
	// Outside the root (and the dashboard's pages): JSON 404, no redirect.
	for _, p := range []string{"/api", "/api/v1/", "/api/v2/instances", "/api/v1/instances/"} {
		r := a.call(http.MethodGet, p, "", a.key)
		if r.status != http.StatusNotFound && r.status != http.StatusBadRequest {
			t.Errorf("GET %s: %d", p, r.status)
		}
		r.errMsg(t)
		cors(r)
	}
	cors(a.do(http.MethodDelete, "/instances", ""))
}

func TestInstanceLifecycleOverHTTP(t *testing.T) {
	a := newAPI(t)
	r := a.do(http.MethodPost, "/instances", `{"url":"server://127.0.0.1:10101/127.0.0.1:18080?tls=0&lbs=2","alias":"probe","restart":false}`)
	expectStatus(t, r, http.StatusCreated, "")
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("content type %q", ct)
	}
	var raw map[string]any
	r.json(t, &raw)
	for _, f := range []string{"id", "alias", "type", "status", "url", "config", "restart", "meta", "mode", "ping",
		"pool", "tcps", "udps", "tcprx", "tcptx", "udprx", "udptx"} {
		if v, ok := raw[f]; !ok || v == nil {
			t.Errorf("field %s missing or null in %s", f, r.body)
		}
	}
	if !strings.Contains(string(r.body), `"meta":{"peer":{"sid":"","type":"","alias":""},"tags":{}}`) {
		t.Errorf("meta shape: %s", r.body)
	}
	var v instances.View
	r.json(t, &v)
	if v.Status != "stopped" || !v.Restart || v.Alias != "probe" || v.URL != "server://127.0.0.1:10101/127.0.0.1:18080?lbs=2&log=debug&tls=0" {
		t.Errorf("created %+v", v)
	}
	if !regexp.MustCompile(`^[0-9a-f]{8}$`).MatchString(v.ID) {
		t.Errorf("id %q", v.ID)
	}

	var list []instances.View
	a.do(http.MethodGet, "/instances", "").json(t, &list)
	if len(list) != 2 || list[0].ID != instances.KeyID || list[0].URL != a.key || list[0].Type != "" {
		t.Errorf("list %+v", list)
	}
	for _, id := range []string{instances.KeyID, "%2A%2A%2A%2A%2A%2A%2A%2A"} {
		var kv instances.View
		a.do(http.MethodGet, "/instances/"+id, "").json(t, &kv)
		if kv.URL != a.key {
			t.Errorf("GET /instances/%s: %+v", id, kv)
		}
	}
	a.do(http.MethodGet, "/instances/"+v.ID, "").json(t, &v)
	if v.ID == "" {
		t.Fatal("GET by id")
	}
	var patched instances.View
	a.do(http.MethodPatch, "/instances/"+v.ID, `{"alias":"renamed"}`).json(t, &patched)
	if patched.Alias != "renamed" {
		t.Errorf("patch alias: %+v", patched)
	}
	expectStatus(t, a.do(http.MethodPut, "/instances/"+v.ID, `{"url":"server://127.0.0.1:10101/127.0.0.1:18080?lbs=2&tls=0"}`),
		http.StatusConflict, "Instance URL conflict")
	r = a.do(http.MethodPut, "/instances/"+v.ID, `{"url":"client://127.0.0.1:10101/127.0.0.1:18081"}`)
	expectStatus(t, r, http.StatusOK, "")
	r.json(t, &v)
	if v.Type != "client" || v.Status != "stopped" || v.Alias != "renamed" {
		t.Errorf("PUT answered %+v", v)
	}
	r = a.do(http.MethodDelete, "/instances/"+v.ID, "")
	if r.status != http.StatusNoContent || len(r.body) != 0 {
		t.Errorf("DELETE: %d %q", r.status, r.body)
	}
	expectStatus(t, a.do(http.MethodGet, "/instances/"+v.ID, ""), http.StatusNotFound, "Instance not found")
	expectStatus(t, a.do(http.MethodDelete, "/instances/"+v.ID, ""), http.StatusNotFound, "Instance not found")
}

func TestInstanceErrors(t *testing.T) {
	a := newAPI(t)
	var v instances.View
	a.do(http.MethodPost, "/instances", `{"url":"client://a:1/b:2"}`).json(t, &v)
	id := v.ID
	cases := []struct {
		method, path, body string
		status             int
		msg                string
	}{
		{"POST", "/instances", `not json`, 400, "Invalid request body"},
		{"POST", "/instances", `[]`, 400, "Invalid request body"},
		{"POST", "/instances", `null`, 400, "Invalid request body"},
		{"POST", "/instances", ``, 400, "Invalid request body"},
		{"POST", "/instances", `{"alias":"x"}`, 400, "Invalid request body"},
		{"POST", "/instances", `{"url":""}`, 400, "Invalid request body"},
		{"POST", "/instances", `{"url":5}`, 400, "Invalid request body"},
		{"POST", "/instances", `{"url":"server://[::1"}`, 400, "Invalid URL format"},
		{"POST", "/instances", `{"url":"master://:9090/api"}`, 400, "Invalid URL scheme"},
		{"POST", "/instances", `{"url":"gopher://a:1/b:2"}`, 400, "Invalid URL scheme"},
		{"POST", "/instances", `{"url":"client://a:1/b:2","alias":"` + strings.Repeat("a", 257) + `"}`, 400,
			"Instance alias exceeds maximum length 256"},
		{"GET", "/instances/", "", 400, "Instance ID is required"},
		{"GET", "/instances/a/b", "", 404, "Instance not found"},
		{"GET", "/instances/ffffffff", "", 404, "Instance not found"},
		{"PATCH", "/instances/ffffffff", `{}`, 404, "Instance not found"},
		{"PUT", "/instances/ffffffff", `{"url":"client://a:1/b:2"}`, 404, "Instance not found"},
		{"DELETE", "/instances/ffffffff", "", 404, "Instance not found"},
		{"POST", "/instances/ffffffff", "", 404, "Instance not found"},
		{"POST", "/instances/" + id, "", 405, "Method not allowed"},
		{"HEAD", "/instances", "", 405, ""},
		{"DELETE", "/instances", "", 405, "Method not allowed"},
		{"PUT", "/instances", "", 405, "Method not allowed"},
		{"POST", "/events", "", 405, "Method not allowed"},
		{"DELETE", "/info", "", 405, "Method not allowed"},
		{"POST", "/tcping", "", 405, "Method not allowed"},
		{"PATCH", "/instances/" + id, `{"action":"status"}`, 400, "Invalid action: status"},
		{"PATCH", "/instances/" + id, `{"restart":"yes"}`, 400, "Invalid request body"},
		{"PATCH", "/instances/" + id, `{bad`, 400, "Invalid request body"},
		{"PATCH", "/instances/" + id, `{"alias":"` + strings.Repeat("a", 257) + `"}`, 400, "Instance alias exceeds maximum length 256"},
		{"PATCH", "/instances/" + id, `{"meta":{"peer":{"sid":"` + strings.Repeat("a", 257) + `"}}}`, 400, "Meta peer.sid exceeds maximum length 256"},
		{"PATCH", "/instances/" + id, `{"meta":{"tags":{"k":"` + strings.Repeat("a", 257) + `"}}}`, 400, "Meta tag value exceeds maximum length 256"},
		{"PUT", "/instances/" + id, `{}`, 400, "Invalid request body"},
		{"PUT", "/instances/" + id, `{"url":"server://[::1"}`, 400, "Invalid URL format"},
		{"PUT", "/instances/" + id, `{"url":"client://a:1/b:2"}`, 409, "Instance URL conflict"},
		{"PUT", "/instances/********", `{"url":"client://a:1/b:2"}`, 403, "Forbidden: API Key"},
		{"DELETE", "/instances/********", "", 403, "Forbidden: API Key"},
		{"GET", "/tcping", "", 400, "Target address required"},
		{"POST", "/info", `{"alias":"` + strings.Repeat("a", 257) + `"}`, 400, "Master alias exceeds maximum length 256"},
		{"POST", "/info", `nope`, 400, "Invalid request body"},
	}
	for _, c := range cases {
		r := a.do(c.method, c.path, c.body)
		if r.status != c.status {
			t.Errorf("%s %s %.40s: %d %s, want %d", c.method, c.path, c.body, r.status, r.body, c.status)
			continue
		}
		if c.msg != "" {
			if got := r.errMsg(t); !strings.HasPrefix(got, c.msg) {
				t.Errorf("%s %s: error %q, want %q", c.method, c.path, got, c.msg)
			}
		}
	}
	// Nothing above changed the instance.
	var after instances.View
	a.do(http.MethodGet, "/instances/"+id, "").json(t, &after)
	if after.Alias != "" || after.URL != v.URL || len(after.Meta.Tags) != 0 {
		t.Errorf("instance changed by failed requests: %+v", after)
	}
	// Other PATCHes of the key record answer 200 unchanged.
	var kv instances.View
	r := a.do(http.MethodPatch, "/instances/********", `{"alias":"x","action":"stop","restart":true}`)
	expectStatus(t, r, http.StatusOK, "")
	r.json(t, &kv)
	if kv.URL != a.key || kv.Alias != "" || kv.Restart {
		t.Errorf("key record after ignored patch %+v", kv)
	}
}

func TestCountersAreIntegers(t *testing.T) {
	a := newAPI(t)
	var v instances.View
	a.do(http.MethodPost, "/instances", `{"url":"server://:1/b:2"}`).json(t, &v)
	waitFor(t, func() bool { return a.rt.run(v.ID) != nil })
	a.rt.run(v.ID).set(instances.Stats{Mode: 1, Ping: 2, Pool: 64, TCPRx: 1 << 40, TCPTx: 4096})
	waitFor(t, func() bool {
		r := a.do(http.MethodGet, "/instances/"+v.ID, "")
		return strings.Contains(string(r.body), `"tcprx":1099511627776,"tcptx":4096`) && strings.Contains(string(r.body), `"pool":64`)
	})
	var reset instances.View
	a.do(http.MethodPatch, "/instances/"+v.ID, `{"action":"reset"}`).json(t, &reset)
	if reset.TCPRx != 0 || reset.TCPTx != 0 {
		t.Errorf("reset answered %+v", reset)
	}
}
