package framework

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// This file is the master's admin API client: requests with X-API-Key,
// the instance object of the API and the checks of its JSON shape.

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
	Source  string `json:"source"` // Burrow extension: "api" or "file" (a config file's, under Name)
	Name    string `json:"name"`
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
