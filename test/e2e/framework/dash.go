package framework

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"time"
)

// Dash drives NodePassDash (the reference dashboard, `shared/tools/
// nodepassdash`) through its REST API: logged in as its initial user, with
// its SQLite database in its own directory.
type Dash struct {
	*Process
	f      *Framework
	Root   string // http://127.0.0.1:PORT/api
	token  string
	client *http.Client
}

// DashTunnel is a row of NodePassDash's GET /api/tunnels.
type DashTunnel struct {
	ID         int64  `json:"id"`
	Name       string `json:"name"`
	EndpointID int64  `json:"endpointId"`
	Type       string `json:"type"`
	Status     string `json:"status"`
	TunnelPort string `json:"tunnelPort"`
	TargetPort string `json:"targetPort"`
	InstanceID string `json:"instanceId"`
	TotalRx    int64  `json:"totalRx"`
	TotalTx    int64  `json:"totalTx"`
}

// NodePassDash starts NodePassDash on a free port and logs in, or skips
// the test when the binary is absent.
func (f *Framework) NodePassDash(name string) *Dash {
	f.t.Helper()
	bin, ok := Tool("nodepassdash")
	if !ok {
		f.t.Skip("e2e: NodePassDash (shared/tools/nodepassdash) is not available here; skipping")
	}
	port := f.Port()
	f.mu.Lock()
	dbDir := filepath.Join(f.dir, sanitize(name)+"-db")
	f.mu.Unlock()
	d := &Dash{f: f, Root: fmt.Sprintf("http://127.0.0.1:%d/api", port), client: &http.Client{Timeout: apiTimeout}}
	d.Process = f.CommandEnv(name, []string{"DB_DRIVER=sqlite", "DB_PATH=" + filepath.Join(dbDir, "database.db")}, bin, "--port", strconv.Itoa(port))
	if err := retry(masterReady, func() error {
		status, _, err := d.Do(http.MethodGet, "/health", nil)
		if err == nil && status != http.StatusOK {
			err = fmt.Errorf("health: %d", status)
		}
		return err
	}); err != nil {
		f.t.Fatalf("e2e: NodePassDash not up: %v", err)
	}
	var login struct {
		Token string `json:"token"`
	}
	d.MustJSON(http.MethodPost, "/auth/login", map[string]string{"username": "nodepass", "password": "Np123456"}, &login)
	if login.Token == "" {
		f.t.Fatal("e2e: NodePassDash login returned no token")
	}
	d.token = login.Token
	return d
}

// Do sends one request and returns the status and body.
func (d *Dash) Do(method, path string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, d.Root+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if d.token != "" {
		req.Header.Set("Authorization", "Bearer "+d.token)
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	return resp.StatusCode, raw, err
}

// MustJSON sends a request, fails the test unless it answers 2xx with
// "success" not false, and decodes the body into out (if not nil).
func (d *Dash) MustJSON(method, path string, body, out any) {
	d.f.t.Helper()
	status, raw, err := d.Do(method, path, body)
	if err != nil {
		d.f.t.Fatalf("e2e: NodePassDash %s %s: %v", method, path, err)
	}
	var ok struct {
		Success *bool  `json:"success"`
		Error   string `json:"error"`
	}
	_ = json.Unmarshal(raw, &ok)
	if status/100 != 2 || (ok.Success != nil && !*ok.Success) {
		d.f.t.Fatalf("e2e: NodePassDash %s %s: %d %s", method, path, status, truncate(string(raw), 500))
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			d.f.t.Fatalf("e2e: NodePassDash %s %s: %v in %s", method, path, err, truncate(string(raw), 500))
		}
	}
}

// Tunnels returns NodePassDash's tunnel list.
func (d *Dash) Tunnels() []DashTunnel {
	d.f.t.Helper()
	var list struct {
		Data []DashTunnel `json:"data"`
	}
	d.MustJSON(http.MethodGet, "/tunnels?page_size=100", nil, &list)
	return list.Data
}

// WaitTunnel polls the tunnel list until one row satisfies cond (bounded)
// and returns it.
func (d *Dash) WaitTunnel(timeout time.Duration, what string, cond func(DashTunnel) bool) DashTunnel {
	d.f.t.Helper()
	var last []DashTunnel
	for range int(timeout/(100*time.Millisecond)) + 1 {
		last = d.Tunnels()
		for _, tn := range last {
			if cond(tn) {
				return tn
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	d.f.t.Fatalf("e2e: NodePassDash: no tunnel %s within %v; tunnels %+v", what, timeout, last)
	return DashTunnel{}
}
