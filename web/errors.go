package web

import (
	"errors"
	"fmt"
	"net/http"
	"runtime/debug"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/burrowproject/burrow/server/instances"
)

// NodePass's error texts used by this package.
const (
	msgMethodNotAllowed = "Method not allowed"
	msgBadBody          = "Invalid request body"
	msgIDRequired       = "Instance ID is required"
	msgNotFound         = "Instance not found"
	msgTargetRequired   = "Target address required"
)

// fail aborts the request with status and {"error": msg}.
func fail(c *gin.Context, status int, msg string) {
	c.AbortWithStatusJSON(status, gin.H{"error": msg})
}

// failErr answers with the status matching err's kind.
func (s *server) failErr(c *gin.Context, err error) {
	var e *instances.Error
	if !errors.As(err, &e) {
		s.log.Error("API request failed", "method", c.Request.Method, "path", c.Request.URL.Path, "err", err)
		fail(c, http.StatusInternalServerError, "Internal server error")
		return
	}
	status := map[instances.Kind]int{
		instances.KindInvalid:     http.StatusBadRequest,
		instances.KindNotFound:    http.StatusNotFound,
		instances.KindConflict:    http.StatusConflict,
		instances.KindForbidden:   http.StatusForbidden,
		instances.KindUnavailable: http.StatusServiceUnavailable,
	}[e.Kind]
	if status == 0 {
		status = http.StatusInternalServerError
	}
	fail(c, status, e.Msg)
}

// notFound serves the dashboard's pages (they are not API routes, so no
// API prefix can collide with them) and answers other unknown paths with
// JSON. The empty id of
// "<root>/instances/" is a 400, like NodePass; "/instances/a/b" is an
// unknown instance.
func (s *server) notFound(c *gin.Context) {
	p := c.Request.URL.Path
	if s.ui.serve(c) {
		return
	}
	switch {
	case p == s.root+"/instances/":
		fail(c, http.StatusBadRequest, msgIDRequired)
	case strings.HasPrefix(p, s.root+"/instances/"):
		fail(c, http.StatusNotFound, msgNotFound)
	default:
		fail(c, http.StatusNotFound, "Not found")
	}
}

// methodNotAllowed answers 405, except that a wrong method on an unknown
// instance is 404 (the id is looked up first).
func (s *server) methodNotAllowed(c *gin.Context) {
	if id, ok := strings.CutPrefix(c.Request.URL.Path, s.root+"/instances/"); ok && !s.m.Exists(id) {
		fail(c, http.StatusNotFound, msgNotFound)
		return
	}
	fail(c, http.StatusMethodNotAllowed, msgMethodNotAllowed)
}

// recover turns a handler panic into a logged 500.
func (s *server) recover(c *gin.Context) {
	defer func() {
		if r := recover(); r != nil {
			if r == http.ErrAbortHandler {
				panic(r)
			}
			s.log.Error("API handler panic", "path", c.Request.URL.Path, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			if !c.Writer.Written() {
				fail(c, http.StatusInternalServerError, "Internal server error")
			}
		}
	}()
	c.Next()
}
