package upgrade

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"strings"
	"time"
)

// The pieces of an HTTP proxy's answer the gate shares with the http
// handler: its error pages, hop-by-hop header removal and the lingering
// close that keeps a last answer from being lost to a reset.

// RequestIDHeader names the request id on the proxy's own error pages.
const RequestIDHeader = "X-Request-Id"

// PageBody is the text of an error page: status, one sentence naming the
// class of failure, and the request id the operator's log line carries.
func PageBody(status int, msg, requestID string) string {
	return fmt.Sprintf("%d %s\n\n%s\nRequest id: %s\n", status, http.StatusText(status), msg, requestID)
}

// Page is a complete HTTP/1.1 error response that closes the connection.
func Page(status int, msg, requestID string) []byte {
	body := PageBody(status, msg, requestID)
	return fmt.Appendf(nil, "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\n"+
		"Connection: close\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n%s: %s\r\n\r\n%s",
		status, http.StatusText(status), len(body), RequestIDHeader, requestID, body)
}

// RemoveHopByHop deletes the hop-by-hop headers of h (RFC 9110 7.6.1):
// those named by Connection, and the standard ones.
func RemoveHopByHop(h http.Header) {
	for _, v := range h["Connection"] {
		for tok := range strings.SplitSeq(v, ",") {
			if t := textproto.TrimString(tok); t != "" {
				h.Del(t)
			}
		}
	}
	for _, k := range [...]string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
		"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"} {
		h.Del(k)
	}
}

// Lingering close bounds: how long and how much Linger drains.
const (
	lingerTime = time.Second
	lingerMax  = 256 << 10
)

// Linger closes c after its last answer: it ends c's write side, then reads
// and discards what the client still sends (a pipelined request, never
// forwarded) until the client closes, for at most a second and 256 KiB.
// Closing a socket with unread bytes would send a reset, which can destroy
// the answer before the client reads it.
func Linger(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
		_ = c.SetReadDeadline(time.Now().Add(lingerTime))
		_, _ = io.CopyN(io.Discard, c, lingerMax)
	}
	_ = c.Close()
}
