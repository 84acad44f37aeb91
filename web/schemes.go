package web

import (
	"context"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/burrowproject/burrow/conf"
)

// SchemeInfo describes one instance scheme the master can run, for forms
// that build instance URLs. Kind is "server" or "client" for the NodePass
// pair ends (their parameters are conf's), "handler" for tcp, udp, http
// and plugins, whose own parameters come from their descriptor.
type SchemeInfo struct {
	Scheme  string      `json:"scheme"`
	Kind    string      `json:"kind"`
	Plugin  bool        `json:"plugin"`  // served by a plugin process
	Version string      `json:"version"` // the handler's version ("" for server and client)
	Params  []ParamInfo `json:"params"`  // the handler's parameters beyond the common ones
	Error   string      `json:"error"`   // why the handler could not describe itself, else ""
}

// ParamInfo is one parameter of a handler's descriptor.
type ParamInfo struct {
	Name    string `json:"name"`
	Type    string `json:"type"` // string, int, bool, duration, list
	Default string `json:"default"`
	Help    string `json:"help"`
}

// SchemeLister lists the handler schemes the runtime serves, sorted by
// scheme. It may launch plugin processes to ask them; ctx bounds that.
type SchemeLister interface {
	Schemes(ctx context.Context) []SchemeInfo
}

// describeTimeout bounds GET /schemes (plugins launched to describe themselves).
const describeTimeout = 15 * time.Second

// listSchemes is GET <root>/schemes (Burrow extension): server, client,
// then every handler scheme with its descriptor.
func (s *server) listSchemes(c *gin.Context) {
	list := []SchemeInfo{
		{Scheme: conf.SchemeServer, Kind: "server", Params: []ParamInfo{}},
		{Scheme: conf.SchemeClient, Kind: "client", Params: []ParamInfo{}},
	}
	if s.opts.Schemes != nil {
		ctx, cancel := context.WithTimeout(c.Request.Context(), describeTimeout)
		defer cancel()
		for _, h := range s.opts.Schemes.Schemes(ctx) {
			h.Kind = "handler"
			if h.Params == nil {
				h.Params = []ParamInfo{}
			}
			list = append(list, h)
		}
	}
	c.JSON(http.StatusOK, list)
}
