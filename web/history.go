package web

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/burrowproject/burrow/server/history"
)

// History is the body of GET <root>/instances/{id}/history.
type History struct {
	ID     string          `json:"id"`
	Range  history.Window  `json:"range"`
	Step   int64           `json:"step"` // bucket width, seconds
	Points []history.Point `json:"points"`
}

// instanceHistory is GET <root>/instances/{id}/history?range=1h|24h
// (Burrow extension): the instance's traffic in 5-second buckets over the
// last hour or 1-minute buckets over the last day, from the master's memory.
func (s *server) instanceHistory(c *gin.Context) {
	w, ok := history.ParseWindow(c.Query("range"))
	if !ok {
		fail(c, http.StatusBadRequest, "Invalid range: want 1h or 24h")
		return
	}
	id := c.Param("id")
	points, err := s.m.History(id, w)
	if err != nil {
		s.failErr(c, err)
		return
	}
	c.JSON(http.StatusOK, History{ID: id, Range: w, Step: int64(w.Step().Seconds()), Points: points})
}
