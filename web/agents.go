package web

import (
	"net/http"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/burrowproject/burrow/bridge"
	"github.com/burrowproject/burrow/conf"
	"github.com/burrowproject/burrow/server/instances"
)

// AgentLister reports the connected agents. Implementations must be safe
// for concurrent use and cheap to call.
type AgentLister interface {
	Agents() []bridge.AgentInfo
}

// listAgents is GET <root>/agents (Burrow extension).
func (s *server) listAgents(c *gin.Context) {
	list := []bridge.AgentInfo{}
	if s.opts.Agents != nil {
		list = append(list, s.opts.Agents.Agents()...)
	}
	c.JSON(http.StatusOK, list)
}

// PoolInfo is one agent pool: the instances that link through it (by
// their agent= key) and how many agents are connected to it. Pool is the
// same key hash as bridge.AgentInfo's KeyID, never the key.
type PoolInfo struct {
	Pool      string   `json:"pool"`
	Agents    int      `json:"agents"`
	Instances []string `json:"instances"` // instance ids, oldest first
}

// listPools is GET <root>/pools (Burrow extension): every pool an instance
// names or an agent is connected to, sorted by pool.
func (s *server) listPools(c *gin.Context) {
	byPool := map[string]*PoolInfo{}
	get := func(pool string) *PoolInfo {
		p := byPool[pool]
		if p == nil {
			p = &PoolInfo{Pool: pool, Instances: []string{}}
			byPool[pool] = p
		}
		return p
	}
	for _, v := range s.m.List() {
		if v.ID == instances.KeyID {
			continue
		}
		in, err := conf.Parse(v.URL)
		if err != nil || in.Params.Agent == "" {
			continue
		}
		p := get(bridge.KeyID(in.Params.Agent))
		p.Instances = append(p.Instances, v.ID)
	}
	if s.opts.Agents != nil {
		for _, a := range s.opts.Agents.Agents() {
			get(a.KeyID).Agents++
		}
	}
	out := make([]PoolInfo, 0, len(byPool))
	for _, p := range byPool {
		out = append(out, *p)
	}
	slices.SortFunc(out, func(a, b PoolInfo) int { return strings.Compare(a.Pool, b.Pool) })
	c.JSON(http.StatusOK, out)
}
