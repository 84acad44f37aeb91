package http

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httputil"
	"strings"

	"github.com/burrowproject/burrow/internal/upgrade"
	"github.com/burrowproject/burrow/plugins/sdk"
)

// A WebSocket upgrade leaves the plugin as soon as it is routed: the
// request is checked and rewritten like any other (auth, X-Forwarded-*,
// hostrewrite), then the client connection is hijacked and handed to the
// host with the rewritten head as its preamble, the protocol asked for
// (HandoffOptions.Upgrade) and the bytes the client sent after its head
// (Pending). The host opens the link, waits for the agent's verdict
// (answering a 502 page if the backend cannot be reached) and then for the
// backend's answer (internal/upgrade): only a 101 for websocket makes the
// connection a byte pipe, which the host copies and counts itself, so
// frames never cross the plugin. Any other answer reaches the user as one
// response with Connection: close and the connection ends there; a request
// pipelined behind it is never forwarded (the client sends it again on a
// new connection, parsed and checked like any other).
//
// Only GET requests without a body, in HTTP/1.1, asking for websocket can
// switch; other Upgrade requests (h2c, HTTP/1.0, ...) are proxied as
// ordinary requests without their Upgrade header. A connection that cannot
// be hijacked falls back to httputil.ReverseProxy, which checks the 101
// itself.

// switchable reports whether an upgrade request to protocol may switch.
func switchable(r *http.Request, protocol string) bool {
	return strings.EqualFold(protocol, "websocket") && r.Method == http.MethodGet && r.ProtoMajor == 1 && r.ProtoMinor >= 1 &&
		r.ContentLength == 0 && len(r.TransferEncoding) == 0
}

// upgradeFailMsg is what the user reads when the link for an upgrade
// cannot be opened; the host's log line has the reason.
const upgradeFailMsg = "The backend could not be reached: its agent is offline or the connection failed."

// serveUpgrade hands one upgrade request's connection to the host.
func (in *instance) serveUpgrade(w http.ResponseWriter, r *http.Request, ri *routeInfo) {
	id := requestID(ri.is)
	hj, ok := w.(http.Hijacker)
	if !ok {
		in.proxy.ServeHTTP(w, r)
		return
	}
	head, err := in.upstreamHead(r)
	if err != nil {
		in.log.Warn("upgrade request not forwarded", "request_id", id, "err", err)
		writeError(w, http.StatusBadRequest, "The upgrade request could not be forwarded.", id)
		return
	}
	conn, brw, err := hj.Hijack()
	if err != nil {
		in.log.Debug("hijack for upgrade failed", "err", err)
		return
	}
	// Bytes the client sent after its request head (an eager first frame,
	// or a pipelined request) are in the server's buffer and, on a checked
	// connection, in the checker's: they wait for the backend's 101.
	var pending []byte
	if n := brw.Reader.Buffered(); n > 0 {
		rest, _ := brw.Reader.Peek(n)
		pending = append(pending, rest...)
	}
	var held []byte
	switch hc := conn.(type) {
	case *headConn:
		conn, held = hc.release()
	case *tlsHeadConn:
		conn, held = hc.release()
	}
	pending = append(pending, held...)
	in.log.Debug("upgrade handed to the host", "request_id", id, "host", r.Host, "path", r.URL.Path)
	req := sdk.LinkRequest{Instance: in.id, Network: "tcp", Target: ri.target.addr,
		Meta: map[string]string{sdk.MetaClientAddr: ri.client, sdk.MetaHost: ri.host, sdk.MetaRequestID: id}}
	opts := sdk.HandoffOptions{FailReply: upgrade.Page(http.StatusBadGateway, upgradeFailMsg, id),
		Upgrade: "websocket", Pending: pending, HeadTimeout: in.set.headerTimeout}
	if err := in.host.Handoff(in.ctx, conn, req, head, opts); err != nil {
		in.log.Warn("upgrade not handed off", "request_id", id, "host", r.Host, "err", err)
	}
}

// upstreamHead is the request head the backend receives: the same rewrite
// as proxied requests, hop-by-hop headers dropped, and exactly
// "Connection: Upgrade" and "Upgrade: websocket".
func (in *instance) upstreamHead(r *http.Request) ([]byte, error) {
	out := r.Clone(r.Context())
	out.RequestURI, out.Body, out.ContentLength = "", nil, 0
	upgrade.RemoveHopByHop(out.Header)
	out.Header.Set("Connection", "Upgrade")
	out.Header.Set("Upgrade", "websocket")
	for _, h := range []string{"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Real-Ip"} {
		out.Header.Del(h)
	}
	if _, ok := out.Header["User-Agent"]; !ok {
		out.Header["User-Agent"] = []string{""} // Request.Write would add Go's own
	}
	in.rewrite(&httputil.ProxyRequest{In: r, Out: out})
	var head bytes.Buffer
	if err := out.Write(&head); err != nil {
		return nil, fmt.Errorf("write upgrade request head: %w", err)
	}
	return head.Bytes(), nil
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
