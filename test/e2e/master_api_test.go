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

	"github.com/burrowproject/burrow/test/e2e/framework"
)

// Specs of the master's admin API against the real binary: every endpoint
// and every error case of the NodePass master API contract
// (/work/shared/spec/nodepass-master-api.md, sections 2 to 6). This file
// holds the shared checks and the endpoints; the error cases are in
// master_api_errors_test.go.

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
