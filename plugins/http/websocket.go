package http

import (
	"net/http"
	"strings"
	"time"
)

// WebSocket (and any other HTTP/1.1 Upgrade) goes through
// httputil.ReverseProxy's own upgrade path: the request is sent upstream on
// a tunnel stream from host.Dial, and once the backend answers 101 the proxy
// hijacks the client connection and copies both ways between it and that
// same stream. The stream is the host's counted link, so every WebSocket
// byte (frames, pings, pongs, close frames) lands in the instance's
// counters exactly as it crosses the tunnel. The request context ends the
// copy: the proxy closes the stream when it is cancelled, which is how
// Stop ends an instance's sockets after its grace period.
//
// An upgraded connection never returns to the Transport's pool; it owns its
// stream until either side closes.

// serveUpgrade proxies one upgrade request and keeps the instance's count
// of live upgraded connections.
func (in *instance) serveUpgrade(w http.ResponseWriter, r *http.Request) {
	in.upgrades.Add(1)
	defer in.upgrades.Add(-1)
	start := time.Now()
	in.log.Debug("upgrade", "protocol", upgradeType(r.Header), "host", r.Host, "path", r.URL.Path)
	in.proxy.ServeHTTP(w, r)
	in.log.Debug("upgraded connection closed", "host", r.Host, "path", r.URL.Path, "lasted", time.Since(start).Round(time.Millisecond))
}

// upgradeType returns the protocol r's headers ask to switch to
// ("websocket"), or "" when the request is not an upgrade. Like the proxy,
// it needs "Upgrade" among the Connection tokens.
func upgradeType(h http.Header) string {
	for _, v := range h.Values("Connection") {
		for tok := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), "upgrade") {
				return h.Get("Upgrade")
			}
		}
	}
	return ""
}
