package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/burrowproject/burrow/conf"
	"github.com/burrowproject/burrow/internal/testutil"
	"github.com/burrowproject/burrow/internal/tlsx"
	"github.com/burrowproject/burrow/server/instances"
)

type fakeRuntime struct{}

func (fakeRuntime) Validate(*conf.Instance) error { return nil }
func (fakeRuntime) Start(context.Context, string, *conf.Instance, *slog.Logger) (instances.Running, error) {
	return &fakeRun{done: make(chan struct{})}, nil
}

type fakeRun struct{ done chan struct{} }

func (r *fakeRun) Stats() instances.Stats     { return instances.Stats{TCPRx: 42} }
func (r *fakeRun) Done() <-chan struct{}      { return r.done }
func (r *fakeRun) Err() error                 { return nil }
func (r *fakeRun) Stop(context.Context) error { return nil }

// testMaster is a master started by start.
type testMaster struct {
	base   string
	logs   *testutil.SyncBuffer
	cancel context.CancelFunc
	done   chan error
	client *http.Client
}

func start(t *testing.T, rawURL string) *testMaster {
	t.Helper()
	inst, err := conf.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logs := &testutil.SyncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	r := &testMaster{logs: logs, cancel: cancel, done: make(chan error, 1)}
	scheme := "http"
	if inst.Params.TLS != conf.TLSOff {
		scheme = "https"
	}
	r.base = scheme + "://" + ln.Addr().String()
	r.client = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	m, err := newMaster(inst, slog.New(slog.NewTextHandler(logs, nil)), masterOptions{runtime: fakeRuntime{}, listener: ln})
	if err != nil {
		t.Fatal(err)
	}
	go func() { r.done <- m.Run(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), "API Key") {
		if time.Now().After(deadline) {
			t.Fatalf("master did not start:\n%s", logs)
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Cleanup(func() { r.stop(t) })
	return r
}

func (r *testMaster) stop(t *testing.T) {
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	if err := <-r.done; err != nil {
		t.Errorf("Run: %v", err)
	}
	r.client.CloseIdleConnections()
}

func (r *testMaster) key(t *testing.T) string {
	t.Helper()
	m := regexp.MustCompile(`API Key (created|loaded): ([0-9a-f]{32})`).FindStringSubmatch(r.logs.String())
	if m == nil {
		t.Fatalf("no key in log:\n%s", r.logs)
	}
	return m[2]
}

func (r *testMaster) do(t *testing.T, method, path, key, body string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, r.base+path, strings.NewReader(body))
	req.Header.Set("X-API-Key", key)
	res, err := r.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

func TestRunServesPersistsAndShutsDown(t *testing.T) {
	data := t.TempDir()
	url := "master://127.0.0.1:9090/admin/?log=info&data=" + data
	r := start(t, url)
	if !strings.Contains(r.logs.String(), "API Key created: ") || !strings.Contains(r.logs.String(), "Master started: 127.0.0.1:") ||
		!strings.Contains(r.logs.String(), "/admin/v1") {
		t.Errorf("start log:\n%s", r.logs)
	}
	key := r.key(t)
	status, body := r.do(t, "POST", "/admin/v1/instances", key, `{"url":"server://:1/b:2"}`)
	if status != 201 {
		t.Fatalf("create: %d %s", status, body)
	}
	var v instances.View
	_ = json.Unmarshal(body, &v)
	if v.URL != "server://:1/b:2?log=info" {
		t.Errorf("url %q", v.URL)
	}
	if status, _ := r.do(t, "GET", "/api/v1/instances", key, ""); status != 404 {
		t.Errorf("default prefix served: %d", status)
	}

	// An SSE stream gets shutdown when the master stops.
	req, _ := http.NewRequest("GET", r.base+"/admin/v1/events", nil)
	req.Header.Set("X-API-Key", key)
	res, err := r.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	waitLine := func(sub string) {
		t.Helper()
		timeout := time.After(5 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("stream ended before %q", sub)
				}
				if strings.Contains(l, sub) {
					return
				}
			case <-timeout:
				t.Fatalf("no line with %q", sub)
			}
		}
	}
	waitLine(`"type":"initial"`)
	r.stop(t)
	waitLine(`"type":"shutdown"`)
	for range lines {
	}

	// The state survives: same key, instance restarted with its counters.
	state, err := os.ReadFile(filepath.Join(data, "state.json"))
	if err != nil || !strings.Contains(string(state), v.ID) || !strings.Contains(string(state), `"tcprx": 42`) {
		t.Fatalf("state file: %v\n%s", err, state)
	}
	r2 := start(t, url)
	if logs := r2.logs.String(); !strings.Contains(logs, "API Key loaded: "+maskKey(key)) || strings.Contains(logs, key) {
		t.Errorf("restart log must show the key masked, never whole:\n%s", logs)
	}
	status, body = r2.do(t, "GET", "/admin/v1/instances/"+v.ID, key, "")
	if status != 200 || !strings.Contains(string(body), `"status":"running"`) {
		t.Errorf("after restart: %d %s", status, body)
	}
}

func TestCorruptStateStillStarts(t *testing.T) {
	data := t.TempDir()
	if err := os.WriteFile(filepath.Join(data, "state.json"), []byte("{garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := start(t, "master://127.0.0.1:9090/api?data="+data)
	if !strings.Contains(r.logs.String(), "State file corrupt") || !strings.Contains(r.logs.String(), "state.json.corrupt-") {
		t.Errorf("log:\n%s", r.logs)
	}
	matches, _ := filepath.Glob(filepath.Join(data, "state.json.corrupt-*"))
	if len(matches) != 1 {
		t.Errorf("corrupt file not kept: %v", matches)
	}
}

// tls=1 serves the admin API with the data directory's certificate: its
// fingerprint is logged, it is the bridge's, and it survives a restart.
func TestTLSSelfSigned(t *testing.T) {
	data := t.TempDir()
	var fps []string
	for range 2 {
		r := start(t, "master://127.0.0.1:9090/api?tls=1&data="+data)
		res, err := r.client.Get(r.base + "/api/v1/info")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 401 || res.TLS == nil || res.TLS.Version != tls.VersionTLS13 {
			t.Fatalf("HTTPS: %d %+v", res.StatusCode, res.TLS)
		}
		fp := tlsx.Fingerprint(res.TLS.PeerCertificates[0].Raw)
		if want := "API: " + r.base + "/api/v1 tls=1 certificate fp=" + fp + " "; !strings.Contains(r.logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, r.logs)
		}
		plain, err := http.Get(strings.Replace(r.base, "https", "http", 1) + "/api/v1/info")
		if err != nil {
			t.Fatal(err)
		}
		plain.Body.Close()
		if plain.StatusCode != 400 {
			t.Errorf("plain HTTP to TLS master: %d", plain.StatusCode)
		}
		http.DefaultClient.CloseIdleConnections()
		r.stop(t)
		fps = append(fps, fp)
	}
	if fps[0] != fps[1] {
		t.Errorf("the API certificate changed across a restart: %s, then %s", fps[0], fps[1])
	}
	cert, created, err := tlsx.Persistent(data)
	if err != nil || created || tlsx.Fingerprint(cert.Certificate[0]) != fps[0] {
		t.Errorf("the API's certificate is not the data directory's (%s): %v, created %v", fps[0], err, created)
	}
}

// tls=2 serves the files and logs their fingerprint; files that do not
// load stop the master from starting, naming the file.
func TestTLSFiles(t *testing.T) {
	dir := t.TempDir()
	crt, key := writeCert(t, dir)
	r := start(t, fmt.Sprintf("master://127.0.0.1:9090/api?tls=2&crt=%s&key=%s&data=%s", crt, key, t.TempDir()))
	res, err := r.client.Get(r.base + "/api/v1/docs")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 || res.TLS.PeerCertificates[0].Subject.CommonName != "burrow-test-files" {
		t.Errorf("tls=2: %d %v", res.StatusCode, res.TLS.PeerCertificates[0].Subject)
	}
	fp := tlsx.Fingerprint(res.TLS.PeerCertificates[0].Raw)
	if want := "tls=2 certificate fp=" + fp + " "; !strings.Contains(r.logs.String(), want) {
		t.Errorf("log lacks %q:\n%s", want, r.logs)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	inst, err := conf.Parse(fmt.Sprintf("master://127.0.0.1:9090/api?tls=2&crt=%s&key=%s&data=%s", crt+".missing", key, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	_, err = newMaster(inst, slog.New(slog.DiscardHandler), masterOptions{runtime: fakeRuntime{}, listener: ln})
	if err == nil || !strings.Contains(err.Error(), "tls=2 (the admin API's certificate)") || !strings.Contains(err.Error(), crt+".missing") {
		t.Errorf("tls=2 with a missing file: %v, want an error naming it", err)
	}
}

func TestNewMasterRejectsBadInput(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	inst, _ := conf.Parse("server://:1/b:2")
	if _, err := newMaster(inst, log, masterOptions{runtime: fakeRuntime{}}); err == nil {
		t.Error("server URL accepted")
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	m, _ := conf.Parse("master://" + busy.Addr().String() + "/api?data=" + t.TempDir())
	if _, err := newMaster(m, log, masterOptions{runtime: fakeRuntime{}}); err == nil || !strings.Contains(err.Error(), "listen") {
		t.Errorf("busy port: %v", err)
	}
}

func writeCert(t *testing.T, dir string) (crtFile, keyFile string) {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "burrow-test-files"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(k)
	crtFile, keyFile = filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	if err := errors.Join(
		os.WriteFile(crtFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600),
		os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600),
	); err != nil {
		t.Fatal(err)
	}
	return crtFile, keyFile
}
