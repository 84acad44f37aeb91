package web

import (
	"encoding/json"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/burrowproject/burrow/bridge"
	"github.com/burrowproject/burrow/conf"
	"github.com/burrowproject/burrow/server/instances"
)

func TestInfo(t *testing.T) {
	a := newAPI(t)
	r := a.do(http.MethodGet, "/info", "")
	expectStatus(t, r, 200, "")
	var raw map[string]any
	r.json(t, &raw)
	for _, f := range []string{"mid", "alias", "os", "arch", "ver", "name", "log", "tls", "crt", "key", "uptime", "cpu",
		"mem_total", "mem_used", "swap_total", "swap_used", "netrx", "nettx", "diskr", "diskw", "sysup"} {
		if _, ok := raw[f]; !ok {
			t.Errorf("info field %s missing", f)
		}
	}
	var in Info
	r.json(t, &in)
	mid, _ := a.m.MasterInfo()
	if in.Ver != "v1.14.0" || in.MID != mid || in.Name != "127.0.0.1" || in.Log != "debug" || in.TLS != "0" ||
		in.Burrow != "test" || in.CPU < -1 || in.CPU > 100 {
		t.Errorf("info %+v", in)
	}
	r = a.do(http.MethodPost, "/info", `{"alias":"edge"}`)
	expectStatus(t, r, 200, "")
	r.json(t, &in)
	if in.Alias != "edge" {
		t.Errorf("alias %q", in.Alias)
	}
	var kv instances.View
	a.do(http.MethodGet, "/instances/********", "").json(t, &kv)
	if kv.Alias != "edge" {
		t.Errorf("key record alias %q", kv.Alias)
	}
	expectStatus(t, a.do(http.MethodPost, "/info", `{"alias":""}`), 200, "")
	if _, ok := raw["bridge"]; ok {
		t.Error("info has a bridge object without a bridge")
	}
}

// With a shared bridge /info carries its address, TLS, fingerprint and
// the agent command line, in exactly the documented shape.
func TestInfoBridge(t *testing.T) {
	b := &BridgeInfo{Addr: "127.0.0.1:8024", TLS: true, FP: "ab12", Agent: `burrow "client://AGENT_KEY@127.0.0.1:8024?fp=ab12&allow=HOST:PORT"`}
	a := newAPI(t, func(_ *instances.Config, o *Options) { o.Bridge = b })
	var raw struct {
		Bridge map[string]any `json:"bridge"`
	}
	a.do(http.MethodGet, "/info", "").json(t, &raw)
	want := map[string]any{"addr": b.Addr, "tls": true, "fp": b.FP, "agent": b.Agent}
	if len(raw.Bridge) != len(want) {
		t.Fatalf("bridge object %v, want %v", raw.Bridge, want)
	}
	for k, v := range want {
		if raw.Bridge[k] != v {
			t.Errorf("bridge.%s = %v, want %v", k, raw.Bridge[k], v)
		}
	}
}

func TestTCPing(t *testing.T) {
	a := newAPI(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	var res TCPingResult
	a.do(http.MethodGet, "/tcping?target="+ln.Addr().String(), "").json(t, &res)
	if !res.Connected || res.Error != nil || res.Target != ln.Addr().String() {
		t.Errorf("open port: %+v", res)
	}
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := closed.Addr().String()
	closed.Close()
	r := a.do(http.MethodGet, "/tcping?target="+addr, "")
	if !strings.Contains(string(r.body), `"latency":0,"error":"`) {
		t.Errorf("closed port: %s", r.body)
	}
	r.json(t, &res)
	if res.Connected || res.Error == nil || !strings.Contains(*res.Error, "refused") {
		t.Errorf("closed port: %+v", res)
	}
}

func TestAgentsAndMetrics(t *testing.T) {
	agents := fakeAgents{{ID: "s1", KeyID: "ab12", RemoteAddr: "10.0.0.1:5000", Since: time.Now()}}
	mt := NewMetrics()
	a := newAPI(t, func(_ *instances.Config, o *Options) { o.Agents = agents; o.Metrics = mt })
	var list []bridge.AgentInfo
	a.do(http.MethodGet, "/agents", "").json(t, &list)
	if len(list) != 1 || list[0].ID != "s1" {
		t.Errorf("agents %+v", list)
	}
	var raw []map[string]any // the API's field names, as the OpenAPI document and the dashboard use them
	a.do(http.MethodGet, "/agents", "").json(t, &raw)
	if len(raw) != 1 || raw[0]["pool"] != "ab12" || raw[0]["addr"] != "10.0.0.1:5000" || raw[0]["connected"] == nil || raw[0]["streams"] == nil {
		t.Errorf("agents JSON %v", raw)
	}
	var v instances.View
	a.do(http.MethodPost, "/instances", `{"url":"server://:1/b:2"}`).json(t, &v)
	// Running once the manager says so, not once its run started: the
	// metrics count instances by the status the manager gives them.
	waitFor(t, func() bool {
		var cur instances.View
		a.do(http.MethodGet, "/instances/"+v.ID, "").json(t, &cur)
		return a.rt.run(v.ID) != nil && cur.Status == "running"
	})
	a.rt.run(v.ID).set(instances.Stats{TCPRx: 1234})
	mt.LinkError("dial_refused")

	expectStatus(t, a.call(http.MethodGet, "/metrics", "", "-"), 401, "Unauthorized: API key required")
	r := a.call(http.MethodGet, "/metrics", "", a.key)
	req, _ := http.NewRequest(http.MethodGet, a.srv.URL+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+a.key)
	res, err := a.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Errorf("bearer: %d", res.StatusCode)
	}
	body := string(r.body)
	for _, want := range []string{
		`burrow_instances{status="running"} 1`,
		`burrow_instances{status="error"} 0`,
		`burrow_instance_bytes_total{direction="tcp_rx",id="` + v.ID + `",type="server"} 1234`,
		`burrow_agents_online 1`,
		`burrow_link_errors_total{reason="dial_refused"} 1`,
		`go_goroutines`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestAgentsEmptyList(t *testing.T) {
	a := newAPI(t)
	if r := a.do(http.MethodGet, "/agents", ""); string(r.body) != "[]" {
		t.Errorf("agents without lister: %s", r.body)
	}
}

// TestOpenAPIMatchesRoutes checks that every registered route is in the
// document and every documented operation is a route.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	a := newAPI(t)
	r := a.call(http.MethodGet, a.root+"/openapi.json", "", "-")
	var doc struct {
		OpenAPI string `json:"openapi"`
		Info    struct {
			Version string `json:"version"`
		} `json:"info"`
		Servers []struct {
			URL string `json:"url"`
		} `json:"servers"`
		Paths      map[string]map[string]json.RawMessage `json:"paths"`
		Components struct {
			Schemas         map[string]json.RawMessage `json:"schemas"`
			SecuritySchemes map[string]json.RawMessage `json:"securitySchemes"`
		} `json:"components"`
	}
	r.json(t, &doc)
	if doc.OpenAPI != "3.1.1" || doc.Info.Version != "v1" || len(doc.Servers) != 1 || doc.Servers[0].URL != "/api/v1" {
		t.Errorf("header: %s %s %+v", doc.OpenAPI, doc.Info.Version, doc.Servers)
	}
	for _, s := range []string{"Instance", "CreateInstanceRequest", "UpdateInstanceRequest", "PutInstanceRequest", "Meta",
		"Peer", "MasterInfo", "BridgeInfo", "UpdateMasterAliasRequest", "TCPingResult"} {
		if _, ok := doc.Components.Schemas[s]; !ok {
			t.Errorf("schema %s missing", s)
		}
	}
	if _, ok := doc.Components.SecuritySchemes["ApiKeyAuth"]; !ok {
		t.Error("ApiKeyAuth missing")
	}
	// Every $ref resolves.
	for _, ref := range regexp.MustCompile(`"#/components/schemas/([A-Za-z]+)"`).FindAllStringSubmatch(string(r.body), -1) {
		if _, ok := doc.Components.Schemas[ref[1]]; !ok {
			t.Errorf("dangling $ref %s", ref[1])
		}
	}
	documented := map[string]bool{}
	for path, item := range doc.Paths {
		base := doc.Servers[0].URL
		if raw, ok := item["servers"]; ok {
			var servers []struct{ URL string }
			_ = json.Unmarshal(raw, &servers)
			base = strings.TrimSuffix(servers[0].URL, "/")
		}
		for method := range item {
			if method == "parameters" || method == "servers" {
				continue
			}
			documented[strings.ToUpper(method)+" "+base+path] = true
		}
	}
	engine, err := New(Options{Manager: a.m, Master: mustParse(t, "master://127.0.0.1:9090/api")})
	if err != nil {
		t.Fatal(err)
	}
	registered := map[string]bool{}
	byPath := map[string][]string{}
	for _, rt := range engine.Routes() {
		p := regexp.MustCompile(`:(\w+)`).ReplaceAllString(rt.Path, "{$1}")
		byPath[p] = append(byPath[p], rt.Method)
	}
	for p, methods := range byPath {
		if len(methods) == len(anyMethods) { // gin's Any: public pages answering every method
			registered["GET "+p] = true
			continue
		}
		for _, m := range methods {
			registered[m+" "+p] = true
		}
	}
	for k := range registered {
		if !documented[k] {
			t.Errorf("route %s is not in the OpenAPI document", k)
		}
	}
	for k := range documented {
		if !registered[k] {
			t.Errorf("documented %s is not a route", k)
		}
	}
}

// anyMethods are the methods gin's RouterGroup.Any registers.
var anyMethods = []string{"GET", "POST", "PUT", "PATCH", "HEAD", "OPTIONS", "DELETE", "CONNECT", "TRACE"}

func mustParse(t *testing.T, raw string) *conf.Instance {
	t.Helper()
	in, err := conf.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

func TestDocsPageIsSelfContained(t *testing.T) {
	a := newAPI(t)
	r := a.call(http.MethodGet, a.root+"/docs", "", "-")
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
		t.Fatalf("docs: %d %s", r.status, r.header.Get("Content-Type"))
	}
	page := string(r.body)
	if regexp.MustCompile(`(src|href)=["']?(https?:)?//`).MatchString(page) || strings.Contains(page, "cdn") {
		t.Error("docs page loads external assets")
	}
	for _, want := range []string{`fetch("openapi.json")`, "X-API-Key", "Try it"} {
		if !strings.Contains(page, want) {
			t.Errorf("docs page lacks %q", want)
		}
	}
}

func TestAuthLimiter(t *testing.T) {
	l := newAuthLimiter(2, time.Second)
	now := time.Unix(1000, 0)
	l.now = func() time.Time { return now }
	ip := "192.0.2.1"
	var delays []time.Duration
	for range 7 {
		delays = append(delays, l.delay(ip))
		l.fail(ip)
	}
	want := []time.Duration{0, 0, 100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond, time.Second}
	if !slices.Equal(delays, want) {
		t.Errorf("delays %v, want %v", delays, want)
	}
	if l.delay("192.0.2.2") != 0 {
		t.Error("other address slowed down")
	}
	now = now.Add(authForget + time.Second)
	if l.delay(ip) != 0 {
		t.Error("old failures not forgotten")
	}
	l.fail(ip)
	l.succeed(ip)
	if len(l.seen) != 0 {
		t.Error("success does not clear")
	}
	for i := range authMaxAddrs + 10 {
		l.fail(net.IPv4(10, byte(i>>16), byte(i>>8), byte(i)).String())
	}
	if len(l.seen) > authMaxAddrs {
		t.Errorf("limiter holds %d addresses", len(l.seen))
	}
}

func TestWrongKeysAreSlowedDown(t *testing.T) {
	a := newAPI(t, func(_ *instances.Config, o *Options) { o.AuthFreeFailures = 2; o.AuthMaxDelay = 150 * time.Millisecond })
	for range 2 {
		a.call(http.MethodGet, a.root+"/info", "", "wrong")
	}
	start := time.Now()
	a.call(http.MethodGet, a.root+"/info", "", "wrong")
	if d := time.Since(start); d < 90*time.Millisecond {
		t.Errorf("third wrong key answered in %v", d)
	}
}
