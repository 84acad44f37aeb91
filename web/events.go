package web

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/burrowproject/burrow/server/events"
)

const (
	// maxEvent keeps every SSE event below NodePassDash's 64 KiB line limit.
	maxEvent = 60 * 1024
	// sseWriteTimeout bounds one write to a stream; a client that does not
	// read for that long is disconnected.
	sseWriteTimeout = 30 * time.Second
	// sseBatch is how many queued events are written before a flush.
	sseBatch = 64
)

// ssePayload is the JSON of one event.
type ssePayload struct {
	Type     events.Type `json:"type"`
	Time     string      `json:"time"`
	Instance any         `json:"instance"`
	Logs     string      `json:"logs"`
}

// encodeEvent renders one event as "event: instance\ndata: <json>\n\n",
// shortening the log text if the event would not fit maxEvent.
func encodeEvent(ev events.Event) ([]byte, error) {
	p := ssePayload{Type: ev.Type, Time: ev.Time.Format(time.RFC3339Nano), Instance: ev.Instance, Logs: ev.Logs}
	for {
		data, err := json.Marshal(p)
		if err != nil {
			return nil, err
		}
		if len(data) <= maxEvent || p.Logs == "" {
			out := make([]byte, 0, len(data)+24)
			out = append(out, "event: instance\ndata: "...)
			out = append(out, data...)
			return append(out, '\n', '\n'), nil
		}
		p.Logs = p.Logs[:len(p.Logs)/2]
	}
}

// events streams the instance events: "retry: 3000", the initial burst
// (the key record and every instance), then live events and a comment line
// every Heartbeat, until the client leaves, the stream is ended (shutdown)
// or the subscriber is dropped for being too slow.
func (s *server) events(c *gin.Context) {
	w := c.Writer
	sub, err := s.m.SubscribeAs(c.GetHeader("X-API-Key"))
	if err != nil { // the key was rotated after authenticate let the request in
		fail(c, http.StatusUnauthorized, msgKeyInvalid)
		return
	}
	defer sub.Close()
	write, ok := openSSE(c)
	if !ok {
		return
	}
	heartbeat := time.NewTicker(s.opts.Heartbeat)
	defer heartbeat.Stop()
	ctx := c.Request.Context()
	for {
		select {
		case <-ctx.Done():
			return
		case <-heartbeat.C:
			if !write([]byte(": ping\n\n")) {
				return
			}
			w.Flush()
		case ev, ok := <-sub.Events():
			for n := 0; ok; n++ {
				if !s.writeEvent(write, ev) || ev.Type == events.Shutdown {
					w.Flush()
					return
				}
				if n == sseBatch {
					break
				}
				select {
				case ev, ok = <-sub.Events():
				default:
					ok = false
				}
			}
			w.Flush()
			if sub.Err() != nil && len(sub.Events()) == 0 {
				return // dropped (too slow) or closed, nothing left to send
			}
		}
	}
}

// openSSE starts an event stream on c: its headers, 200 and "retry:
// 3000", flushed. write sends b with a deadline (a client that does not
// read for sseWriteTimeout is disconnected); the caller flushes.
func openSSE(c *gin.Context) (write func([]byte) bool, ok bool) {
	w := c.Writer
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("Connection", "keep-alive")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	write = func(b []byte) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(sseWriteTimeout))
		_, err := w.Write(b)
		return err == nil
	}
	if !write([]byte("retry: 3000\n\n")) {
		return nil, false
	}
	w.Flush()
	return write, true
}

func (s *server) writeEvent(write func([]byte) bool, ev events.Event) bool {
	b, err := encodeEvent(ev)
	if err != nil {
		s.log.Error("Encode SSE event", "type", ev.Type, "err", err)
		return true
	}
	return write(b)
}
