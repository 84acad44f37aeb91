package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/burrowproject/burrow/server/instances"
)

// maxBody caps request bodies.
const maxBody = 1 << 20

// readObject decodes the request body, which must be one JSON object, into v.
// Unknown fields are ignored; the Content-Type is not checked.
func readObject(c *gin.Context, v any) error {
	data, err := io.ReadAll(io.LimitReader(c.Request.Body, maxBody+1))
	if err != nil {
		return err
	}
	if len(data) > maxBody {
		return errors.New("body too large")
	}
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '{' {
		return errors.New("body is not a JSON object")
	}
	return json.Unmarshal(data, v)
}

// urlBody is the body of POST and PUT /instances.
type urlBody struct {
	URL   string `json:"url"`
	Alias string `json:"alias"`
}

func (s *server) listInstances(c *gin.Context) {
	c.JSON(http.StatusOK, s.m.List())
}

func (s *server) createInstance(c *gin.Context) {
	var body urlBody
	if err := readObject(c, &body); err != nil || body.URL == "" {
		fail(c, http.StatusBadRequest, msgBadBody)
		return
	}
	v, err := s.m.Create(c, body.URL, body.Alias)
	if err != nil {
		s.failErr(c, err)
		return
	}
	c.JSON(http.StatusCreated, v)
}

func (s *server) getInstance(c *gin.Context) {
	v, err := s.m.Get(c.Param("id"))
	if err != nil {
		s.failErr(c, err)
		return
	}
	c.JSON(http.StatusOK, v)
}

func (s *server) patchInstance(c *gin.Context) {
	id := c.Param("id")
	if !s.m.Exists(id) {
		fail(c, http.StatusNotFound, msgNotFound)
		return
	}
	var p instances.Patch
	if err := readObject(c, &p); err != nil {
		fail(c, http.StatusBadRequest, msgBadBody)
		return
	}
	v, err := s.m.Patch(c, id, p)
	if err != nil {
		s.failErr(c, err)
		return
	}
	c.JSON(http.StatusOK, v)
}

func (s *server) putInstance(c *gin.Context) {
	id := c.Param("id")
	if id == instances.KeyID {
		fail(c, http.StatusForbidden, "Forbidden: API Key")
		return
	}
	if !s.m.Exists(id) {
		fail(c, http.StatusNotFound, msgNotFound)
		return
	}
	var body urlBody
	if err := readObject(c, &body); err != nil || body.URL == "" {
		fail(c, http.StatusBadRequest, msgBadBody)
		return
	}
	v, err := s.m.Replace(c, id, body.URL)
	if err != nil {
		s.failErr(c, err)
		return
	}
	c.JSON(http.StatusOK, v)
}

func (s *server) deleteInstance(c *gin.Context) {
	if err := s.m.Delete(c, c.Param("id")); err != nil {
		s.failErr(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
