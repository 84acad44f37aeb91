package web

import (
	_ "embed"
	"net/http"

	"github.com/gin-gonic/gin"
)

// docsPage is a self-contained page (no external assets) that renders
// openapi.json and can send requests with an X-API-Key.
//
//go:embed docs/index.html
var docsPage []byte

// docs serves the documentation page (public, any method).
func (s *server) docs(c *gin.Context) {
	c.Header("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'")
	c.Data(http.StatusOK, "text/html; charset=utf-8", docsPage)
}
