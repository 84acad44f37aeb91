package web

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// The CORS headers NodePass sends on every response.
const (
	corsOrigin  = "*"
	corsMethods = "GET, PATCH, POST, PUT, DELETE, OPTIONS"
	corsHeaders = "Content-Type, Authorization, X-API-Key, Cache-Control"
)

// cors sets the CORS headers on every response and answers OPTIONS with an
// empty 200 before authentication and routing.
func cors(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("Access-Control-Allow-Origin", corsOrigin)
	h.Set("Access-Control-Allow-Methods", corsMethods)
	h.Set("Access-Control-Allow-Headers", corsHeaders)
	if c.Request.Method == http.MethodOptions {
		c.AbortWithStatus(http.StatusOK)
		return
	}
	c.Next()
}
