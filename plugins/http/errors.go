package http

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"

	"github.com/burrowproject/burrow/internal/upgrade"
	"github.com/burrowproject/burrow/plugins/sdk"
)

// This file holds the pages the proxy answers with itself. Each names the
// class of what went wrong, truthfully: no route is a 404, an offline
// agent or an unreachable backend a 502, a backend too slow a 504. Users
// never see the detail (the agent's dial error names internal addresses
// and allow lists); they get a request id, in the page and in the
// X-Request-Id header, and the instance's log line with the same id has
// the detail.

// newRequestID returns a fresh id naming one answer in pages and logs.
func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// writeError writes a short plain-text page: the status, one sentence and
// the request id.
func writeError(w http.ResponseWriter, status int, msg, id string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Set(upgrade.RequestIDHeader, id)
	h.Del("Content-Length")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, upgrade.PageBody(status, msg, id))
}

// notFound answers a request no instance serves.
func notFound(w http.ResponseWriter, host string) {
	writeError(w, http.StatusNotFound, fmt.Sprintf("No site is configured for host %q on this address.", printable(NormalizeHost(host))), newRequestID())
}

// unauthorized asks for basic auth.
func unauthorized(w http.ResponseWriter, id string) {
	w.Header().Set("WWW-Authenticate", `Basic realm="burrow", charset="UTF-8"`)
	writeError(w, http.StatusUnauthorized, "This site needs a user name and password.", id)
}

// Classes of link failure, as users read them.
const (
	msgAgentOffline = "The agent for this site is offline."
	msgNotAllowed   = "The agent is not allowed to reach this site's backend."
	msgRefused      = "The backend refused the connection."
	msgUnreachable  = "The backend could not be reached."
	msgDialTimeout  = "The backend could not be reached in time."
)

// classify maps a proxy error to a status and the sentence naming its
// class for the page.
func classify(err error) (int, string) {
	var le *sdk.LinkError
	var ne net.Error
	switch {
	case errors.Is(err, sdk.ErrNoAgent):
		return http.StatusBadGateway, msgAgentOffline
	case errors.Is(err, sdk.ErrSlotsFull):
		return http.StatusServiceUnavailable, "This site has reached its connection limit; try again shortly."
	case errors.As(err, &le):
		return classifyLink(le)
	case errors.As(err, &ne) && ne.Timeout():
		return http.StatusGatewayTimeout, "The backend did not answer in time."
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return http.StatusBadGateway, "The backend closed the connection without a complete response."
	case errors.Is(err, context.Canceled):
		return http.StatusServiceUnavailable, "The request was cancelled before the backend answered."
	}
	return http.StatusBadGateway, "The backend connection failed."
}

// classifyLink names the class of a link the agent could not open, from
// its verdict.
func classifyLink(le *sdk.LinkError) (int, string) {
	reason := strings.ToLower(le.Reason)
	switch {
	case errors.Is(le, sdk.ErrTargetNotAllowed), strings.Contains(reason, "not allowed"):
		return http.StatusBadGateway, msgNotAllowed
	case strings.Contains(reason, "refused"):
		return http.StatusBadGateway, msgRefused
	case strings.Contains(reason, "timeout"), strings.Contains(reason, "timed out"), strings.Contains(reason, "deadline"):
		return http.StatusGatewayTimeout, msgDialTimeout
	}
	return http.StatusBadGateway, msgUnreachable
}

// printable keeps a page single-line ASCII-printable text.
func printable(s string) string {
	const max = 300
	if len(s) > max {
		s = s[:max] + "..."
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}
