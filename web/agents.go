package web

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

// AgentInfo describes one connected agent session. Pool identifies the
// agent key it connected with without revealing it (e.g. a short hash).
type AgentInfo struct {
	ID        string    `json:"id"`        // session id
	Pool      string    `json:"pool"`      // agent pool (never the key itself)
	Name      string    `json:"name"`      // agent name (its host name)
	Addr      string    `json:"addr"`      // remote address
	Version   string    `json:"version"`   // agent software version
	Connected time.Time `json:"connected"` // when the session was established
	Streams   int       `json:"streams"`   // open streams (links)
	BytesIn   int64     `json:"bytes_in"`  // tunnel bytes received from the agent
	BytesOut  int64     `json:"bytes_out"` // tunnel bytes sent to the agent
}

// AgentLister reports the connected agents. Implementations must be safe
// for concurrent use and cheap to call.
type AgentLister interface {
	Agents() []AgentInfo
}

// listAgents is GET <root>/agents (Burrow extension).
func (s *server) listAgents(c *gin.Context) {
	list := []AgentInfo{}
	if s.opts.Agents != nil {
		list = append(list, s.opts.Agents.Agents()...)
	}
	c.JSON(http.StatusOK, list)
}
