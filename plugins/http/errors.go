package http

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/burrowproject/burrow/plugins/sdk"
)

// This file holds the pages the proxy answers with itself. Each says what
// actually went wrong: no route is a 404, an offline agent or a refused
// dial is a 502 with the agent's reason, a backend too slow for its
// headers is a 504. Nothing is dressed up as something else.

// writeError writes a short plain-text page: the status line, a blank line
// and one sentence.
func writeError(w http.ResponseWriter, status int, msg string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Del("Content-Length")
	w.WriteHeader(status)
	_, _ = fmt.Fprintf(w, "%d %s\n\n%s\n", status, http.StatusText(status), msg)
}

// notFound answers a request no instance serves.
func notFound(w http.ResponseWriter, host string) {
	writeError(w, http.StatusNotFound, fmt.Sprintf("No site is configured for host %q on this address.", printable(NormalizeHost(host))))
}

// unauthorized asks for basic auth.
func unauthorized(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Basic realm="burrow", charset="UTF-8"`)
	writeError(w, http.StatusUnauthorized, "This site needs a user name and password.")
}

// classify maps a proxy error to a status and a sentence for the page.
// timeout is the instance's header timeout, named in the 504 text.
func classify(err error, timeout time.Duration) (int, string) {
	var le *sdk.LinkError
	var ne net.Error
	switch {
	case errors.Is(err, sdk.ErrNoAgent):
		return http.StatusBadGateway, "The agent for this site is offline: no agent is connected to the server."
	case errors.Is(err, sdk.ErrSlotsFull):
		return http.StatusServiceUnavailable, "This site has reached its connection limit; try again shortly."
	case errors.As(err, &le):
		target := le.Target
		if target == "" {
			target = "the backend"
		}
		return http.StatusBadGateway, fmt.Sprintf("The agent could not reach %s: %s", printable(target), printable(le.Reason))
	case errors.As(err, &ne) && ne.Timeout():
		return http.StatusGatewayTimeout, fmt.Sprintf("The backend did not send response headers within %v.", timeout)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return http.StatusBadGateway, "The backend closed the connection without a complete response."
	case errors.Is(err, context.Canceled):
		return http.StatusServiceUnavailable, "The request was cancelled before the backend answered."
	}
	return http.StatusBadGateway, "The backend connection failed: " + printable(err.Error())
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
