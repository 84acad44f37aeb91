package framework

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// This file drives a master: `burrow master://...` with a shared bridge and
// a data directory, its API key read from the log, an HTTP client for the
// admin API (X-API-Key) and a Server-Sent Events reader.

// Log lines of the master's CLI contract.
const (
	LogMasterStarted = "Master started: "
	LogKeyCreated    = "API Key created: "
	LogKeyLoaded     = "API Key loaded: "
)

// masterReady bounds how long a master may take to log its key (generous:
// the binary may be built with -race and auto-start instances).
const masterReady = 15 * time.Second

// apiTimeout bounds one API request (not SSE streams).
const apiTimeout = 20 * time.Second

var keyLine = regexp.MustCompile(`API Key (created|loaded): ([0-9a-f]{32})\b`)

// Master is one burrow master process with its ports, data directory and
// the API key it logged on its current run.
type Master struct {
	*Process
	f          *Framework
	Port       int    // API port
	BridgePort int    // shared bridge port
	DataDir    string // data= directory (absolute)
	Root       string // http://127.0.0.1:PORT/api/v1

	mu        sync.Mutex
	key       string
	created   bool // the current run logged "API Key created"
	transport *http.Transport
	client    *http.Client
}

// Master starts `burrow "master://127.0.0.1:PORT/api?log=debug&bridge=127.0.0.1:BPORT&data=DIR"`
// and waits until it logs its API key. extraQuery is appended to the URL's
// query ("tls=1", ...).
func (f *Framework) Master(name string, extraQuery ...string) *Master {
	f.t.Helper()
	m := &Master{
		f: f, Port: f.Port(), BridgePort: f.Port(),
		DataDir: filepath.Join(f.dir, sanitize(name)+"-data"),
	}
	m.Root = fmt.Sprintf("http://127.0.0.1:%d/api/v1", m.Port)
	q := []string{"log=debug", fmt.Sprintf("bridge=127.0.0.1:%d", m.BridgePort), "data=" + m.DataDir}
	q = append(q, extraQuery...)
	url := fmt.Sprintf("master://127.0.0.1:%d/api?%s", m.Port, strings.Join(q, "&"))
	m.transport = &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 16}
	m.client = &http.Client{Transport: m.transport, Timeout: apiTimeout}
	f.addCloser(func() error { m.transport.CloseIdleConnections(); return nil })
	m.Process = f.Burrow(name, url)
	m.MustWaitReady()
	return m
}

// BridgeAddr is the shared bridge's address.
func (m *Master) BridgeAddr() string { return Addr(m.BridgePort) }

// Key is the API key the current run logged.
func (m *Master) Key() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.key
}

// SetKey replaces the key the client sends (after a key rotation).
func (m *Master) SetKey(key string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.key = key
}

// KeyCreated reports whether the current run logged "API Key created"
// (rather than "API Key loaded").
func (m *Master) KeyCreated() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.created
}

// WaitReady waits until the current run logged "Master started" and its
// API key, and records the key.
func (m *Master) WaitReady() error {
	if err := m.WaitLog(LogMasterStarted, masterReady); err != nil {
		return err
	}
	if err := m.WaitLog("API Key ", masterReady); err != nil {
		return err
	}
	var match []string
	for range 200 { // bounded: the rest of the line follows within moments
		if match = keyLine.FindStringSubmatch(m.RunOutput()); match != nil {
			break
		}
		time.Sleep(pollInterval)
	}
	if match == nil {
		return fmt.Errorf("%s logged no 32-hex API key; last lines:\n%s", m.name, tail(m.RunOutput(), 15))
	}
	m.mu.Lock()
	m.key, m.created = match[2], match[1] == "created"
	m.mu.Unlock()
	return nil
}

// MustWaitReady is WaitReady failing the test.
func (m *Master) MustWaitReady() {
	m.f.t.Helper()
	if err := m.WaitReady(); err != nil {
		m.f.t.Fatalf("e2e: %v", err)
	}
}

// Terminate sends SIGTERM and waits (at most timeout) for a clean exit.
func (m *Master) Terminate(timeout time.Duration) error {
	if err := m.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	code, err := m.Wait(timeout)
	if err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("%s exited with code %d after SIGTERM", m.name, code)
	}
	return nil
}

// Start starts the master again after it exited (or restarts it: SIGTERM,
// then SIGKILL) and waits until it is ready.
func (m *Master) Start() {
	m.f.t.Helper()
	m.transport.CloseIdleConnections()
	m.Process.Restart()
	m.MustWaitReady()
}

// ---- API client ----

// Response is one API answer.
type Response struct {
	Method, Path string
	Status       int
	Header       http.Header
	Body         []byte
}

func (r *Response) String() string {
	return fmt.Sprintf("%s %s -> %d %s %q", r.Method, r.Path, r.Status, r.Header.Get("Content-Type"), truncate(string(r.Body), 400))
}

// JSON decodes the body into v.
func (r *Response) JSON(v any) error {
	if err := json.Unmarshal(r.Body, v); err != nil {
		return fmt.Errorf("%s: decode body: %w", r, err)
	}
	return nil
}

// ErrorMessage is the "error" field of a JSON error body ("" if none).
func (r *Response) ErrorMessage() string {
	var e struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal(r.Body, &e)
	return e.Error
}

// NoKey as the key of DoKey sends no X-API-Key header.
const NoKey = "\x00none"

// Do sends a request with the master's current key. body is nil (no
// body), a string or []byte (sent verbatim) or a value encoded as JSON.
// path is relative to the API root ("/instances") unless it starts with
// "http" or "//" (then "//x" means http://127.0.0.1:PORT/x).
func (m *Master) Do(method, path string, body any) (*Response, error) {
	return m.DoKey(m.Key(), method, path, body)
}

// DoKey is Do with another key (NoKey: no header at all).
func (m *Master) DoKey(key, method, path string, body any) (*Response, error) {
	return m.DoHeaders(method, path, body, m.keyHeader(key))
}

func (m *Master) keyHeader(key string) http.Header {
	h := http.Header{}
	if key != NoKey {
		h.Set("X-API-Key", key)
	}
	return h
}

// DoHeaders sends a request with exactly the given headers.
func (m *Master) DoHeaders(method, path string, body any, hdr http.Header) (*Response, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, m.url(path), rd)
	if err != nil {
		return nil, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if rd != nil && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := m.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("%s %s: read body: %w", method, path, err)
	}
	return &Response{Method: method, Path: path, Status: resp.StatusCode, Header: resp.Header, Body: data}, nil
}

func (m *Master) url(path string) string {
	switch {
	case strings.HasPrefix(path, "http"):
		return path
	case strings.HasPrefix(path, "//"):
		return fmt.Sprintf("http://127.0.0.1:%d%s", m.Port, path[1:])
	}
	return m.Root + path
}

// MustDo is Do failing the test on a transport error or a status other
// than want.
func (m *Master) MustDo(want int, method, path string, body any) *Response {
	m.f.t.Helper()
	r, err := m.Do(method, path, body)
	if err != nil {
		m.f.t.Fatalf("e2e: %v", err)
	}
	if r.Status != want {
		m.f.t.Fatalf("e2e: %s; want status %d", r, want)
	}
	return r
}

// Instance is the instance object of the API and of SSE events.
type Instance struct {
	ID      string `json:"id"`
	Alias   string `json:"alias"`
	Type    string `json:"type"`
	Status  string `json:"status"`
	URL     string `json:"url"`
	Config  string `json:"config"`
	Restart bool   `json:"restart"`
	Meta    Meta   `json:"meta"`
	Mode    int    `json:"mode"`
	Ping    int    `json:"ping"`
	Pool    int    `json:"pool"`
	TCPs    int    `json:"tcps"`
	UDPs    int    `json:"udps"`
	TCPRx   int64  `json:"tcprx"`
	TCPTx   int64  `json:"tcptx"`
	UDPRx   int64  `json:"udprx"`
	UDPTx   int64  `json:"udptx"`
	Reason  string `json:"reason"` // Burrow extension
}

// Meta is an instance's metadata.
type Meta struct {
	Peer Peer              `json:"peer"`
	Tags map[string]string `json:"tags"`
}

// Peer is meta.peer.
type Peer struct {
	SID   string `json:"sid"`
	Type  string `json:"type"`
	Alias string `json:"alias"`
}

// Counters returns tcprx, tcptx, udprx, udptx.
func (in Instance) Counters() [4]int64 { return [4]int64{in.TCPRx, in.TCPTx, in.UDPRx, in.UDPTx} }

// Create posts a URL (and optional alias) and fails the test unless the
// answer is 201 with a well-formed instance.
func (m *Master) Create(url, alias string) Instance {
	m.f.t.Helper()
	body := map[string]string{"url": url}
	if alias != "" {
		body["alias"] = alias
	}
	r := m.MustDo(http.StatusCreated, http.MethodPost, "/instances", body)
	return m.mustInstance(r)
}

// Get returns an instance, failing the test unless the answer is 200.
func (m *Master) Get(id string) Instance {
	m.f.t.Helper()
	return m.mustInstance(m.MustDo(http.StatusOK, http.MethodGet, "/instances/"+id, nil))
}

// Patch sends a PATCH and returns the instance of the 200 answer.
func (m *Master) Patch(id string, body any) Instance {
	m.f.t.Helper()
	return m.mustInstance(m.MustDo(http.StatusOK, http.MethodPatch, "/instances/"+id, body))
}

// List returns GET /instances.
func (m *Master) List() []Instance {
	m.f.t.Helper()
	r := m.MustDo(http.StatusOK, http.MethodGet, "/instances", nil)
	var raws []json.RawMessage
	if err := r.JSON(&raws); err != nil {
		m.f.t.Fatalf("e2e: %v", err)
	}
	out := make([]Instance, 0, len(raws))
	for _, raw := range raws {
		in, err := DecodeInstance(raw)
		if err != nil {
			m.f.t.Fatalf("e2e: GET /instances: %v", err)
		}
		out = append(out, in)
	}
	return out
}

func (m *Master) mustInstance(r *Response) Instance {
	m.f.t.Helper()
	in, err := DecodeInstance(r.Body)
	if err != nil {
		m.f.t.Fatalf("e2e: %s: %v", r, err)
	}
	return in
}

// WaitInstance polls GET /instances/{id} until cond holds (bounded by
// timeout) and returns the last instance seen.
func (m *Master) WaitInstance(id string, timeout time.Duration, what string, cond func(Instance) bool) Instance {
	m.f.t.Helper()
	var last Instance
	var lastErr error
	deadline := time.Now().Add(timeout)
	for range int(timeout/(50*time.Millisecond)) + 2 {
		r, err := m.Do(http.MethodGet, "/instances/"+id, nil)
		switch {
		case err != nil:
			lastErr = err
		case r.Status != http.StatusOK:
			lastErr = errors.New(r.String())
		default:
			in, err := DecodeInstance(r.Body)
			if err != nil {
				lastErr = err
				break
			}
			last, lastErr = in, nil
			if cond(in) {
				return in
			}
		}
		if !time.Now().Before(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	m.f.t.Fatalf("e2e: instance %s on %s: not %s within %v; last seen %+v (error %v)", id, m.name, what, timeout, last, lastErr)
	return last
}

// DecodeInstance checks that raw is a complete instance object (every
// field present with its JSON type, numbers integers, alias and meta never
// null) and decodes it.
func DecodeInstance(raw []byte) (Instance, error) {
	if err := CheckInstanceJSON(raw); err != nil {
		return Instance{}, err
	}
	var in Instance
	err := json.Unmarshal(raw, &in)
	return in, err
}

// instanceFields are the fields every instance object carries, by JSON type.
var instanceFields = map[string]string{
	"id": "string", "alias": "string", "type": "string", "status": "string", "url": "string",
	"config": "string", "restart": "bool", "meta": "object",
	"mode": "int", "ping": "int", "pool": "int", "tcps": "int", "udps": "int",
	"tcprx": "int", "tcptx": "int", "udprx": "int", "udptx": "int",
}

// CheckInstanceJSON checks the shape of an instance object (spec section 5).
func CheckInstanceJSON(raw []byte) error {
	obj, err := decodeObject(raw)
	if err != nil {
		return fmt.Errorf("instance %s: %w", truncate(string(raw), 300), err)
	}
	var problems []string
	for name, kind := range instanceFields {
		v, ok := obj[name]
		if !ok {
			problems = append(problems, name+" missing")
			continue
		}
		if msg := checkKind(v, kind); msg != "" {
			problems = append(problems, name+" "+msg)
		}
	}
	if meta, ok := obj["meta"].(map[string]any); ok {
		peer, ok := meta["peer"].(map[string]any)
		if !ok {
			problems = append(problems, "meta.peer is not an object")
		} else {
			for _, k := range []string{"sid", "type", "alias"} {
				if _, ok := peer[k].(string); !ok {
					problems = append(problems, "meta.peer."+k+" is not a string")
				}
			}
		}
		tags, ok := meta["tags"].(map[string]any)
		if !ok {
			problems = append(problems, "meta.tags is not an object")
		}
		for k, v := range tags {
			if _, ok := v.(string); !ok {
				problems = append(problems, "meta.tags."+k+" is not a string")
			}
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("instance %s: %s", truncate(string(raw), 300), strings.Join(problems, "; "))
	}
	return nil
}

// CheckIntegers checks that each named field of a JSON object is present
// and an integer (no fraction, no exponent, not quoted).
func CheckIntegers(raw []byte, fields ...string) error {
	obj, err := decodeObject(raw)
	if err != nil {
		return err
	}
	var problems []string
	for _, name := range fields {
		v, ok := obj[name]
		if !ok {
			problems = append(problems, name+" missing")
		} else if msg := checkKind(v, "int"); msg != "" {
			problems = append(problems, name+" "+msg)
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s: %s", truncate(string(raw), 300), strings.Join(problems, "; "))
	}
	return nil
}

func decodeObject(raw []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		return nil, err
	}
	if obj == nil {
		return nil, errors.New("null, want an object")
	}
	return obj, nil
}

func checkKind(v any, kind string) string {
	switch kind {
	case "string":
		if _, ok := v.(string); !ok {
			return fmt.Sprintf("is %T (%v), want a string", v, v)
		}
	case "bool":
		if _, ok := v.(bool); !ok {
			return fmt.Sprintf("is %T (%v), want a boolean", v, v)
		}
	case "object":
		if _, ok := v.(map[string]any); !ok {
			return fmt.Sprintf("is %T (%v), want an object", v, v)
		}
	case "int":
		n, ok := v.(json.Number)
		if !ok {
			return fmt.Sprintf("is %T (%v), want an integer", v, v)
		}
		if _, err := strconv.ParseInt(n.String(), 10, 64); err != nil {
			return fmt.Sprintf("is %s, want an integer", n)
		}
	}
	return ""
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// ---- Server-Sent Events ----

// SSEFrame is one block of an event stream (lines up to a blank line).
type SSEFrame struct {
	Retry    string   // value of a "retry:" line
	Event    string   // value of an "event:" line
	Data     []string // values of "data:" lines
	ID       *string  // value of an "id:" line, if any
	Comments []string // comment lines (": ..."), without the colon
	Received time.Time
}

// SSEEvent is the decoded data of an instance event.
type SSEEvent struct {
	Frame    int // index of its frame in the stream
	Type     string
	Time     string
	Instance *Instance // nil when the payload's instance is null
	Logs     string
	Raw      string // the data line
	Received time.Time
}

// SSE reads one GET /events stream in the background, keeping every frame.
type SSE struct {
	Header http.Header
	Status int

	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	frames  []SSEFrame
	events  []SSEEvent
	bad     []string // payload problems (shape, types)
	err     error    // why the stream ended (io.EOF: closed by the master)
	ended   bool
	changed chan struct{}
}

// Subscribe opens GET /events with the master's current key. It fails the
// test unless the answer is 200. The stream is closed at cleanup.
func (m *Master) Subscribe() *SSE {
	m.f.t.Helper()
	s, r, err := m.SubscribeKey(m.Key())
	if err != nil {
		m.f.t.Fatalf("e2e: GET /events: %v", err)
	}
	if s == nil {
		m.f.t.Fatalf("e2e: %s; want 200", r)
	}
	return s
}

// SubscribeKey opens GET /events with key. A non-200 answer is returned as
// a Response (the stream is nil).
func (m *Master) SubscribeKey(key string) (*SSE, *Response, error) {
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.Root+"/events", nil)
	if err != nil {
		cancel()
		return nil, nil, err
	}
	req.Header = m.keyHeader(key)
	req.Header.Set("Accept", "text/event-stream")
	// No client timeout: the stream lives until closed; the dial and the
	// response headers are bounded by the transport.
	client := &http.Client{Transport: m.transport}
	type result struct {
		resp *http.Response
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		resp, err := client.Do(req)
		ch <- result{resp, err}
	}()
	var res result
	select {
	case res = <-ch:
	case <-time.After(apiTimeout):
		cancel()
		res = <-ch
		if res.err == nil {
			res.resp.Body.Close()
		}
		return nil, nil, fmt.Errorf("GET /events: no response headers within %v", apiTimeout)
	}
	if res.err != nil {
		cancel()
		return nil, nil, res.err
	}
	resp := res.resp
	if resp.StatusCode != http.StatusOK {
		defer cancel()
		defer resp.Body.Close()
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return nil, &Response{Method: http.MethodGet, Path: "/events", Status: resp.StatusCode, Header: resp.Header, Body: data}, nil
	}
	s := &SSE{Header: resp.Header, Status: resp.StatusCode, cancel: cancel, done: make(chan struct{}), changed: make(chan struct{})}
	go s.read(resp.Body)
	m.f.addCloser(func() error { s.Close(); return nil })
	return s, nil, nil
}

// Close ends the stream and waits for the reader.
func (s *SSE) Close() {
	s.cancel()
	select {
	case <-s.done:
	case <-time.After(mockStopWait):
	}
}

func (s *SSE) read(body io.ReadCloser) {
	defer close(s.done)
	defer body.Close()
	br := bufio.NewReaderSize(body, 64<<10)
	var cur SSEFrame
	var has bool
	var err error
	for {
		var line string
		line, err = br.ReadString('\n')
		if err != nil {
			break
		}
		line = strings.TrimSuffix(line, "\n")
		if line == "" {
			if has {
				cur.Received = time.Now()
				s.add(cur)
			}
			cur, has = SSEFrame{}, false
			continue
		}
		has = true
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "":
			cur.Comments = append(cur.Comments, value)
		case "retry":
			cur.Retry = value
		case "event":
			cur.Event = value
		case "data":
			cur.Data = append(cur.Data, value)
		case "id":
			v := value
			cur.ID = &v
		default:
			s.mu.Lock()
			s.bad = append(s.bad, fmt.Sprintf("unknown line %q", line))
			s.mu.Unlock()
		}
	}
	s.mu.Lock()
	s.err, s.ended = err, true
	s.notifyLocked()
	s.mu.Unlock()
}

func (s *SSE) add(fr SSEFrame) {
	s.mu.Lock()
	defer s.mu.Unlock()
	idx := len(s.frames)
	s.frames = append(s.frames, fr)
	if len(fr.Data) > 0 {
		ev, problems := decodeEvent(fr)
		ev.Frame = idx
		s.events = append(s.events, ev)
		s.bad = append(s.bad, problems...)
	}
	s.notifyLocked()
}

func (s *SSE) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// decodeEvent decodes and checks one event's data (spec section 8).
func decodeEvent(fr SSEFrame) (SSEEvent, []string) {
	raw := strings.Join(fr.Data, "\n")
	ev := SSEEvent{Raw: raw, Received: fr.Received}
	var problems []string
	bad := func(format string, args ...any) {
		problems = append(problems, fmt.Sprintf(format, args...)+" in "+truncate(raw, 300))
	}
	if len(fr.Data) != 1 {
		bad("%d data lines, want 1", len(fr.Data))
	}
	if fr.Event != "instance" {
		bad("event name %q, want instance", fr.Event)
	}
	if fr.ID != nil {
		bad("id: field present")
	}
	if len(raw)+len("event: instance\ndata: \n\n") >= 64<<10 {
		bad("event of %d bytes, want < 64 KiB", len(raw))
	}
	var p map[string]json.RawMessage
	if err := json.Unmarshal([]byte(raw), &p); err != nil {
		bad("data is not a JSON object: %v", err)
		return ev, problems
	}
	for _, k := range []string{"type", "time", "instance", "logs"} {
		if _, ok := p[k]; !ok {
			bad("key %q missing", k)
		}
	}
	if err := json.Unmarshal(p["type"], &ev.Type); err != nil {
		bad("type is not a string")
	}
	if err := json.Unmarshal(p["time"], &ev.Time); err != nil {
		bad("time is not a string")
	} else if _, err := time.Parse(time.RFC3339Nano, ev.Time); err != nil {
		bad("time %q is not RFC 3339", ev.Time)
	}
	if err := json.Unmarshal(p["logs"], &ev.Logs); err != nil || string(p["logs"]) == "null" {
		bad("logs is not a string")
	}
	if ev.Type != "log" && ev.Logs != "" {
		bad("logs %q in a %s event, want empty", ev.Logs, ev.Type)
	}
	switch inst := p["instance"]; {
	case string(inst) == "null" || inst == nil:
		if ev.Type != "shutdown" {
			bad("instance is null in a %s event", ev.Type)
		}
	default:
		if ev.Type == "shutdown" {
			bad("instance is not null in a shutdown event")
		}
		in, err := DecodeInstance(inst)
		if err != nil {
			bad("%v", err)
		} else {
			ev.Instance = &in
		}
	}
	return ev, problems
}

// Frames returns a copy of every frame so far.
func (s *SSE) Frames() []SSEFrame {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]SSEFrame(nil), s.frames...)
}

// Events returns a copy of every event so far.
func (s *SSE) Events() []SSEEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]SSEEvent(nil), s.events...)
}

// Problems lists the payloads that broke the SSE contract so far.
func (s *SSE) Problems() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.bad...)
}

// Ended reports whether the stream has ended, and why (io.EOF when the
// master closed it).
func (s *SSE) Ended() (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ended, s.err
}

// Wait waits until cond holds for the events so far (or the stream ended
// and cond still does not hold), bounded by timeout.
func (s *SSE) Wait(timeout time.Duration, cond func([]SSEEvent) bool) ([]SSEEvent, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for range 1 << 20 { // bounded: each iteration waits for a change or the timer
		s.mu.Lock()
		evs := append([]SSEEvent(nil), s.events...)
		ended, err := s.ended, s.err
		changed := s.changed
		s.mu.Unlock()
		if cond(evs) {
			return evs, nil
		}
		if ended {
			return evs, fmt.Errorf("stream ended (%v) after %d events without the condition", err, len(evs))
		}
		select {
		case <-changed:
		case <-timer.C:
			return evs, fmt.Errorf("condition not met within %v (%d events)", timeout, len(evs))
		}
	}
	return nil, errors.New("sse wait: loop bound exceeded")
}

// WaitEnded waits until the master closes the stream.
func (s *SSE) WaitEnded(timeout time.Duration) error {
	select {
	case <-s.done:
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("stream still open after %v", timeout)
	}
}

// TCPUDPEcho starts an echo server for TCP and UDP on the same loopback
// port (a tunnel whose agent has one default target carries both), and
// returns its address.
func (f *Framework) TCPUDPEcho() string {
	f.t.Helper()
	addr := Addr(f.Port())
	l, err := net.Listen("tcp", addr)
	if err != nil {
		f.t.Fatalf("e2e: tcp+udp echo listen: %v", err)
	}
	s := &streamServer{l: l, conns: make(map[net.Conn]struct{}), handle: func(c net.Conn) {
		buf := make([]byte, 64<<10)
		_, _ = io.CopyBuffer(c, c, buf)
	}}
	s.wg.Go(s.acceptLoop)
	f.addCloser(func() error { return s.close("tcp+udp echo (tcp)") })
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		f.t.Fatalf("e2e: tcp+udp echo listen: %v", err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		buf := make([]byte, 64<<10)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				continue
			}
			_, _ = pc.WriteTo(buf[:n], from)
		}
	})
	f.addCloser(func() error {
		_ = pc.Close()
		return waitGroupTimeout(&wg, mockStopWait, "tcp+udp echo (udp)")
	})
	return addr
}
