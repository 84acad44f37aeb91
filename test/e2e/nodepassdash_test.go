package e2e

import (
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/burrowproject/burrow/test/e2e/framework"
)

// dashPrompt bounds how long a NodePassDash action may take against a
// Burrow master. NodePassDash waits about 3 s for the SSE event an action
// causes and, when none comes, writes the state itself and still answers
// success: an action that takes that long means the master failed it.
const dashPrompt = 2500 * time.Millisecond

// NodePassDash's whole flow against a Burrow master: add the master,
// import the instance already on it, create a single-end client by URL and
// one through its settings form, start/stop/restart with the SSE updates
// it waits for, traffic in its rows, delete.
func TestNodePassDashFlow(t *testing.T) {
	t.Parallel()
	f := framework.New(t)
	m := f.Master("master")
	d := f.NodePassDash("nodepassdash")
	echo := f.TCPUDPEcho()

	existing, urlPort, formPort := f.Port(), f.Port(), f.Port()
	pre := m.Create(clientURL(framework.Addr(existing), []string{echo}, "mode=1"), "existing")
	waitMode(m, pre.ID, 1)

	var added struct {
		Endpoint struct {
			ID int64 `json:"id"`
		} `json:"endpoint"`
	}
	d.MustJSON(http.MethodPost, "/endpoints", map[string]string{
		"name": "burrow", "url": fmt.Sprintf("http://127.0.0.1:%d", m.Port), "apiPath": "/api/v1", "apiKey": m.Key(),
	}, &added)
	ep := added.Endpoint.ID
	waitEndpointOnline(t, d, ep)

	// Import: the instance that was there before shows up, running.
	d.WaitTunnel(ready, "imported from the master", func(tn framework.DashTunnel) bool {
		return tn.InstanceID == pre.ID && tn.Status == "running"
	})

	// Create by URL: a single-end client.
	start := time.Now()
	d.MustJSON(http.MethodPost, "/tunnels/create_by_url", map[string]any{
		"endpointId": ep, "name": "by-url", "url": clientURL(framework.Addr(urlPort), []string{echo}, "mode=1"),
	}, nil)
	if took := time.Since(start); took > dashPrompt {
		t.Errorf("create_by_url took %v: NodePassDash waited in vain for the create event", took)
	}
	byURL := d.WaitTunnel(ready, "created by URL, running", func(tn framework.DashTunnel) bool {
		return tn.Name == "by-url" && tn.Status == "running" && tn.InstanceID != ""
	})
	waitMode(m, byURL.InstanceID, 1)

	// The settings form: NodePassDash builds the URL from its fields.
	d.MustJSON(http.MethodPost, "/tunnels", map[string]any{
		"name": "form", "endpointId": ep, "type": "client",
		"tunnelAddress": "127.0.0.1", "tunnelPort": strconv.Itoa(formPort),
		"targetAddress": "127.0.0.1", "targetPort": portOf(echo),
		"tlsMode": "inherit", "logLevel": "warn", "password": "formkey",
		// min and max at their defaults: other values wait for the link
		// pool (issue 12) and are refused until then.
		"mode": 1, "read": "30s", "rate": 100, "slot": 50, "proxyProtocol": false, "min": 64, "max": 1024,
	}, nil)
	form := d.WaitTunnel(ready, "created by the form, running", func(tn framework.DashTunnel) bool {
		return tn.Name == "form" && tn.Status == "running" && tn.InstanceID != ""
	})
	waitMode(m, form.InstanceID, 1)

	// Traffic through the two new tunnels, exact on the master and in
	// NodePassDash's rows (fed by the master's 5 s updates).
	for _, port := range []int{urlPort, formPort} {
		f.ExpectTCPEcho(framework.Addr(port)).Eventually(ready).Ensure()
	}
	list := []counted{{m: m, id: byURL.InstanceID}, {m: m, id: form.InstanceID}}
	exactTraffic(t, f, list, framework.Addr(urlPort), framework.Addr(formPort))
	const total = tcpPayload + udpCount*udpDatagram
	d.WaitTunnel(2*reportInterval+3*time.Second, "by-url with its traffic", func(tn framework.DashTunnel) bool {
		return tn.ID == byURL.ID && tn.TotalRx == total && tn.TotalTx == total
	})

	// stop, start, restart: each prompt, the master's own state right.
	for _, step := range []struct{ action, want string }{{"stop", "stopped"}, {"start", "running"}, {"restart", "running"}} {
		start := time.Now()
		d.MustJSON(http.MethodPost, fmt.Sprintf("/tunnels/%d/action", byURL.ID), map[string]string{"action": step.action}, nil)
		if took := time.Since(start); took > dashPrompt {
			t.Errorf("%s took %v: NodePassDash waited in vain for the master's update", step.action, took)
		}
		m.WaitInstance(byURL.InstanceID, ready, step.want, func(in framework.Instance) bool { return in.Status == step.want })
		d.WaitTunnel(ready, "by-url "+step.want, func(tn framework.DashTunnel) bool { return tn.ID == byURL.ID && tn.Status == step.want })
		if step.want == "running" {
			f.ExpectTCPEcho(framework.Addr(urlPort)).Eventually(ready).Ensure()
		}
	}

	// Delete: gone from the master and from NodePassDash.
	start = time.Now()
	d.MustJSON(http.MethodDelete, fmt.Sprintf("/tunnels/%d", form.ID), nil, nil)
	if took := time.Since(start); took > dashPrompt {
		t.Errorf("delete took %v: NodePassDash waited in vain for the delete event", took)
	}
	if r, err := m.Do(http.MethodGet, "/instances/"+form.InstanceID, nil); err != nil || r.Status != http.StatusNotFound {
		t.Fatalf("after delete the master answers %v %v, want 404", r, err)
	}
	for _, tn := range d.Tunnels() {
		if tn.ID == form.ID {
			t.Fatalf("deleted tunnel still listed: %+v", tn)
		}
	}
	f.ExpectTCPEcho(framework.Addr(formPort)).EnsureFails()
}

// waitEndpointOnline waits until NodePassDash has the master ONLINE (its
// SSE stream is up).
func waitEndpointOnline(t *testing.T, d *framework.Dash, id int64) {
	t.Helper()
	var last []map[string]any
	for range 100 {
		last = nil
		d.MustJSON(http.MethodGet, "/endpoints", nil, &last)
		for _, ep := range last {
			if n, _ := ep["id"].(float64); int64(n) == id && ep["status"] == "ONLINE" {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("NodePassDash never had the master online: %v", last)
}
