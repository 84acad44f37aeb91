package e2e

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/burrowproject/burrow/test/e2e/framework"
)

// The operator's side of a master: what tls= covers and how it says so,
// and its log format.

// apiLine is the banner's line naming the admin API, its tls= and the
// fingerprint of the certificate it serves.
var apiLine = regexp.MustCompile(`API: (https://127\.0\.0\.1:\d+/api/v1) tls=1 certificate fp=([0-9a-f]{64}) `)

// A master with tls=1 serves its admin API over HTTPS with the certificate
// whose fingerprint it logs: a client that pins that fingerprint talks to
// it, plain HTTP does not, and the bridge serves the same certificate.
func TestMasterAPITLSPinned(t *testing.T) {
	t.Parallel()
	f := framework.New(t)
	m := f.Master("master", "tls=1")
	match := apiLine.FindStringSubmatch(m.RunOutput())
	if match == nil {
		t.Fatalf("the master logged no API line with tls=1 and its fingerprint:\n%s", m.RunOutput())
	}
	base, fp := match[1], match[2]
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		MinVersion:         tls.VersionTLS13,
		InsecureSkipVerify: true, // verified by the pin below, as a client given fp would
		VerifyConnection: func(cs tls.ConnectionState) error {
			sum := sha256.Sum256(cs.PeerCertificates[0].Raw)
			if got := hex.EncodeToString(sum[:]); got != fp {
				return fmt.Errorf("certificate fp %s, the master logged %s", got, fp)
			}
			return nil
		},
	}}}
	defer client.CloseIdleConnections()
	req, err := http.NewRequest(http.MethodGet, base+"/info", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-API-Key", m.Key())
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET /info over HTTPS pinned to the logged fingerprint: %v", err)
	}
	var info struct {
		TLS    string `json:"tls"`
		Bridge struct {
			FP string `json:"fp"`
		} `json:"bridge"`
	}
	err = json.NewDecoder(res.Body).Decode(&info)
	res.Body.Close()
	if err != nil || res.StatusCode != http.StatusOK || info.TLS != "1" {
		t.Fatalf("GET /info: %d, %+v, %v", res.StatusCode, info, err)
	}
	if info.Bridge.FP != fp {
		t.Errorf("the bridge's fingerprint %s is not the API's %s: the data directory's certificate serves both", info.Bridge.FP, fp)
	}
	plain := &http.Client{Timeout: 10 * time.Second}
	defer plain.CloseIdleConnections()
	if res, err := plain.Get(strings.Replace(base, "https://", "http://", 1) + "/info"); err == nil {
		res.Body.Close()
		if res.StatusCode != http.StatusBadRequest {
			t.Errorf("plain HTTP to the TLS API: %d, want 400", res.StatusCode)
		}
	}
}

// tls=2 naming files that do not exist stops the master at start with a
// message naming what failed; it does not serve a certificate of its own.
func TestMasterAPITLSFilesMissing(t *testing.T) {
	t.Parallel()
	f := framework.New(t)
	crt, key := filepath.Join(f.Dir(), "missing.crt"), filepath.Join(f.Dir(), "missing.key")
	port := f.Port()
	p := f.Burrow("master", fmt.Sprintf("master://127.0.0.1:%d/api?tls=2&crt=%s&key=%s&data=%s", port, crt, key, filepath.Join(f.Dir(), "data")))
	code, err := p.Wait(ready)
	if err != nil {
		t.Fatalf("the master did not exit: %v\n%s", err, p.Output())
	}
	out := p.Output()
	if code == 0 || !strings.Contains(out, "tls=2 (the admin API's certificate)") || !strings.Contains(out, "missing.crt") {
		t.Errorf("exit %d, want non-zero with a message naming tls=2 and the file:\n%s", code, out)
	}
	if strings.Contains(out, "Master started") {
		t.Errorf("the master started without its certificate:\n%s", out)
	}
}

// log_format=json: every line a master writes is one JSON object, its
// plugins' lines among them, and go-plugin's own chatter is at debug.
func TestMasterJSONLogs(t *testing.T) {
	t.Parallel()
	f := framework.New(t)
	m := f.Master("master", "log_format=json", "plugins="+framework.PluginDir(t))
	in := m.Create(fmt.Sprintf("tcp://%s/127.0.0.1:9?agent=%s", framework.Addr(f.Port()), newKey(t)), "json-tcp")
	m.WaitInstance(in.ID, ready, "started", func(in framework.Instance) bool { return in.Status != "" && in.Status != "stopped" })
	if err := m.Terminate(ready); err != nil {
		t.Fatal(err)
	}
	levels := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(m.Output()), "\n") {
		var e struct{ Level, Msg string }
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("not a JSON line: %q: %v", line, err)
		}
		levels[e.Msg] = e.Level
	}
	if levels["handlers run as plugin processes"] != "INFO" || levels["Master stopped"] != "INFO" {
		t.Errorf("the master's own lines missing: %v", levels)
	}
	for _, msg := range []string{"starting plugin", "configuring client automatic mTLS", "configuring server automatic mTLS", "plugin process exited"} {
		if lv, ok := levels[msg]; !ok || lv != "DEBUG" {
			t.Errorf("go-plugin's %q: level %q (logged: %v), want DEBUG", msg, lv, ok)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", m.Output())
	}
}
