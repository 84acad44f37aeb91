package framework

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// This file reads a master's Server-Sent Events stream (GET /events) and
// checks each event against the contract.

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
