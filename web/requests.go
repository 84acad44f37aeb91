package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/burrowproject/burrow/conf"
	"github.com/burrowproject/burrow/server/events"
	"github.com/burrowproject/burrow/server/inspect"
	"github.com/burrowproject/burrow/server/instances"
)

// The HTTP inspector's endpoints (Burrow extension): an http instance with
// inspect= keeps its recent requests in the master's memory (package
// inspect); these list them, stream new ones, show one in full and replay
// one through the instance.

// defaultRequestLimit is GET .../requests without limit=.
const defaultRequestLimit = 100

// Requests is the body of GET <root>/instances/{id}/requests.
type Requests struct {
	ID      string            `json:"id"`
	Inspect string            `json:"inspect"` // the instance's inspect= ("1" or "body")
	Records []inspect.Summary `json:"records"` // newest first
	inspect.Stats
}

// inspected checks that id is an http instance that records requests and
// returns its parsed URL and view; otherwise it answers 404, 400 or 409.
func (s *server) inspected(c *gin.Context) (*conf.Instance, instances.View, bool) {
	id := c.Param("id")
	v, err := s.m.Get(id)
	if err != nil || id == instances.KeyID {
		fail(c, http.StatusNotFound, msgNotFound)
		return nil, v, false
	}
	inst, err := conf.Parse(v.URL)
	if err != nil || inst.Scheme != conf.SchemeHTTP {
		fail(c, http.StatusBadRequest, fmt.Sprintf("Instance %s is not an http instance: only http instances record requests", id))
		return nil, v, false
	}
	if inst.Params.Inspect == conf.InspectOff {
		fail(c, http.StatusConflict, fmt.Sprintf("Instance %s does not record requests: add inspect=1 (or inspect=body) to its URL", id))
		return nil, v, false
	}
	return inst, v, true
}

// listRequests is GET <root>/instances/{id}/requests?limit=N.
func (s *server) listRequests(c *gin.Context) {
	inst, v, ok := s.inspected(c)
	if !ok {
		return
	}
	limit := defaultRequestLimit
	if q := c.Query("limit"); q != "" {
		n, err := strconv.Atoi(q)
		if err != nil || n < 1 || n > inspect.DefaultPerInstance {
			fail(c, http.StatusBadRequest, fmt.Sprintf("Invalid limit: want 1 to %d", inspect.DefaultPerInstance))
			return
		}
		limit = n
	}
	list, stats := s.inspector.List(v.ID, limit)
	c.JSON(http.StatusOK, Requests{ID: v.ID, Inspect: inst.Params.Inspect.String(), Records: list, Stats: stats})
}

// getRequest is GET <root>/instances/{id}/requests/{rid}: one record in full.
func (s *server) getRequest(c *gin.Context) {
	_, v, ok := s.inspected(c)
	if !ok {
		return
	}
	r, found := s.inspector.Get(v.ID, c.Param("rid"))
	if !found {
		fail(c, http.StatusNotFound, msgRecordGone(v.ID, c.Param("rid")))
		return
	}
	c.JSON(http.StatusOK, r)
}

func msgRecordGone(id, rid string) string {
	return fmt.Sprintf("Record %s of instance %s is not kept (the master keeps the last %d requests of each instance)", rid, id, inspect.DefaultPerInstance)
}

// replayRequest is POST <root>/instances/{id}/requests/{rid}/replay.
func (s *server) replayRequest(c *gin.Context) {
	inst, v, ok := s.inspected(c)
	if !ok {
		return
	}
	if v.Status != instances.StatusRunning {
		fail(c, http.StatusConflict, fmt.Sprintf("Instance %s is not running (%s): start it to replay its requests", v.ID, v.Status))
		return
	}
	t := inspect.Target{Listen: inst.Listen, TLS: inst.Params.TLS != conf.TLSOff || inst.Params.Crt != "", Auth: inst.Params.Auth}
	res, err := s.inspector.Replay(c.Request.Context(), v.ID, c.Param("rid"), t)
	switch {
	case errors.Is(err, inspect.ErrGone):
		fail(c, http.StatusNotFound, msgRecordGone(v.ID, c.Param("rid")))
	case errors.Is(err, inspect.ErrNotReplayable):
		fail(c, http.StatusConflict, "Record "+c.Param("rid")+": "+err.Error())
	case errors.Is(err, inspect.ErrBusy):
		fail(c, http.StatusServiceUnavailable, err.Error())
	case err != nil:
		s.log.Warn("replay failed", "instance", v.ID, "record", c.Param("rid"), "err", err)
		fail(c, http.StatusBadGateway, "Replay failed: the instance's entry could not be reached")
	default:
		c.JSON(http.StatusOK, res)
	}
}

// streamRequests is GET <root>/instances/{id}/requests/stream: SSE,
// "retry: 3000", then one "event: request" per new record (its summary)
// and a comment every Heartbeat, until the client leaves, the master stops
// or the key is rotated (an "event: shutdown"), or the instance is deleted.
func (s *server) streamRequests(c *gin.Context) {
	_, v, ok := s.inspected(c)
	if !ok {
		return
	}
	bus, err := s.m.SubscribeAs(c.GetHeader("X-API-Key")) // ends with the key and the master
	if err != nil {
		fail(c, http.StatusUnauthorized, msgKeyInvalid)
		return
	}
	defer bus.Close()
	recs := s.inspector.Subscribe(v.ID)
	defer recs.Close()
	send, ok := openSSE(c)
	if !ok {
		return
	}
	write := func(b []byte) bool {
		if !send(b) {
			return false
		}
		c.Writer.Flush()
		return true
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
		case ev, open := <-bus.Events():
			if !open || ev.Type == events.Shutdown {
				write([]byte("event: shutdown\ndata: {}\n\n"))
				return
			}
			if iv, isView := ev.Instance.(instances.View); ev.Type == events.Delete && isView && iv.ID == v.ID {
				return
			}
		case r, open := <-recs.C():
			if !open {
				return // too slow, or the instance was deleted
			}
			data, err := json.Marshal(r)
			if err != nil {
				return
			}
			if !write(append(append([]byte("event: request\ndata: "), data...), '\n', '\n')) {
				return
			}
		}
	}
}
