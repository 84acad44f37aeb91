package web

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/burrowproject/burrow/bridge"
	"github.com/burrowproject/burrow/server/instances"
)

// GET /instances/{id}/history: the buckets the report loop recorded, the
// window's step, 400 for an unknown range, 404 for an unknown instance or
// the key record.
func TestInstanceHistory(t *testing.T) {
	a := newAPI(t, func(c *instances.Config, _ *Options) { c.ReportInterval = 20 * time.Millisecond })
	var v instances.View
	a.do(http.MethodPost, "/instances", `{"url":"server://:1/b:2"}`).json(t, &v)
	waitFor(t, func() bool { return a.rt.run(v.ID) != nil })
	var h History
	get := func(rng string) (rx, tx int64) {
		a.do(http.MethodGet, "/instances/"+v.ID+"/history"+rng, "").json(t, &h)
		for _, p := range h.Points {
			rx, tx = rx+p.Rx, tx+p.Tx
		}
		return rx, tx
	}
	// The first reading only sets the baseline: wait (sending only udptx)
	// until readings count; every received byte set from then on must be
	// in the history exactly.
	run := a.rt.run(v.ID)
	var n int64
	waitFor(t, func() bool {
		n++
		run.set(instances.Stats{UDPTx: n})
		_, tx := get("")
		return tx > 0
	})
	run.set(instances.Stats{UDPTx: n, TCPRx: 5000, UDPRx: 100})
	waitFor(t, func() bool {
		rx, _ := get("")
		return rx == 5100
	})
	if h.ID != v.ID || h.Range != "1h" || h.Step != 5 {
		t.Errorf("history header %+v", h)
	}
	if rx, _ := get("?range=24h"); h.Range != "24h" || h.Step != 60 || len(h.Points) == 0 || rx != 5100 {
		t.Errorf("day history %+v", h)
	}
	expectStatus(t, a.do(http.MethodGet, "/instances/"+v.ID+"/history?range=7d", ""), 400, "Invalid range: want 1h or 24h")
	expectStatus(t, a.do(http.MethodGet, "/instances/00000000/history", ""), 404, "Instance not found")
	expectStatus(t, a.do(http.MethodGet, "/instances/********/history", ""), 404, "Instance not found")
	expectStatus(t, a.call(http.MethodGet, a.root+"/instances/"+v.ID+"/history", "", "-"), 401, "Unauthorized: API key required")
}

// GET /pools: every pool named by an instance or served by an agent, by
// key hash, never the key.
func TestPools(t *testing.T) {
	agents := fakeAgents{{ID: "s1", KeyID: bridge.KeyID("k1")}, {ID: "s2", KeyID: bridge.KeyID("k1")}, {ID: "s3", KeyID: "ffffffff"}}
	a := newAPI(t, func(_ *instances.Config, o *Options) { o.Agents = agents })
	var x, y, z instances.View
	a.do(http.MethodPost, "/instances", `{"url":"server://:1/b:2"}`).json(t, &z) // no pool
	for url, v := range map[string]*instances.View{"tcp://:3/b:2?agent=k1": &x, "udp://:4/b:2?agent=k2": &y} {
		r := a.do(http.MethodPost, "/instances", `{"url":"`+url+`"}`)
		expectStatus(t, r, http.StatusCreated, "")
		r.json(t, v)
	}
	r := a.do(http.MethodGet, "/pools", "")
	var pools []PoolInfo
	r.json(t, &pools)
	want := map[string]PoolInfo{
		bridge.KeyID("k1"): {Agents: 2, Instances: []string{x.ID}},
		bridge.KeyID("k2"): {Agents: 0, Instances: []string{y.ID}},
		"ffffffff":         {Agents: 1, Instances: []string{}},
	}
	if len(pools) != len(want) {
		t.Fatalf("pools %+v", pools)
	}
	for i, p := range pools {
		w := want[p.Pool]
		if p.Agents != w.Agents || len(p.Instances) != len(w.Instances) || (len(w.Instances) == 1 && p.Instances[0] != w.Instances[0]) {
			t.Errorf("pool %s: %+v, want %+v", p.Pool, p, w)
		}
		if i > 0 && pools[i-1].Pool >= p.Pool {
			t.Errorf("pools not sorted: %+v", pools)
		}
	}
	for _, k := range []string{`"k1"`, `"k2"`} {
		if strings.Contains(string(r.body), k) {
			t.Errorf("GET /pools reveals a key: %s", r.body)
		}
	}
}

type fakeSchemes []SchemeInfo

func (f fakeSchemes) Schemes(context.Context) []SchemeInfo { return f }

// GET /schemes: server and client first, then the handlers as listed,
// marked as handlers, with their parameters (never null).
func TestSchemes(t *testing.T) {
	a := newAPI(t, func(_ *instances.Config, o *Options) {
		o.Schemes = fakeSchemes{
			{Scheme: "http", Version: "1", Params: []ParamInfo{{Name: "host", Type: "list", Help: "required"}}},
			{Scheme: "socks5", Plugin: true, Error: "launch failed"},
		}
	})
	var list []SchemeInfo
	r := a.do(http.MethodGet, "/schemes", "")
	r.json(t, &list)
	if len(list) != 4 || list[0].Scheme != "server" || list[0].Kind != "server" || list[1].Kind != "client" ||
		list[2].Kind != "handler" || list[2].Params[0].Name != "host" || !list[3].Plugin || list[3].Error != "launch failed" {
		t.Fatalf("schemes %+v", list)
	}
	if strings.Contains(string(r.body), `"params":null`) {
		t.Errorf("null params: %s", r.body)
	}
}
