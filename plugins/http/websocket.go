package http

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httputil"
	"strings"

	"github.com/burrowproject/burrow/plugins/sdk"
)

// WebSocket (and any other HTTP/1.1 Upgrade) leaves the plugin as soon as it
// is routed: the request is checked and rewritten like any other (auth,
// X-Forwarded-*, hostrewrite), then the client connection is hijacked and
// handed to the host with the rewritten head as its preamble. The host opens
// the link, waits for the agent's verdict (answering upgradeFailReply if the
// backend cannot be reached), and from then on copies and counts every byte
// itself: the 101, frames, pings and close frames never cross the plugin,
// whichever backend runs the handler. A connection on which the upgrade was
// refused stays a raw pipe to the same backend until either side closes.
//
// HTTP/2 requests cannot be hijacked; they, and a host that refuses the
// hand-off, fall back to httputil.ReverseProxy's own upgrade path over a
// counted host.Dial stream.

// upgradeFailReply is what the user gets when the link for an upgrade
// cannot be opened.
var upgradeFailReply = []byte("HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain; charset=utf-8\r\n" +
	"Connection: close\r\nCache-Control: no-store\r\n\r\n" +
	"502 Bad Gateway\n\nThe connection could not be opened: the agent is offline or could not reach the backend.\n")

// serveUpgrade hands one upgrade request's connection to the host.
func (in *instance) serveUpgrade(w http.ResponseWriter, r *http.Request, ri *routeInfo) {
	hj, ok := w.(http.Hijacker)
	if !ok || r.ProtoMajor != 1 {
		in.proxy.ServeHTTP(w, r)
		return
	}
	head, err := in.upstreamHead(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, "The upgrade request could not be forwarded.")
		return
	}
	conn, brw, err := hj.Hijack()
	if err != nil {
		in.log.Debug("hijack for upgrade failed", "err", err)
		return
	}
	// Bytes the client sent after its request head (an eager first frame)
	// are already in the server's buffer: they follow the head.
	if n := brw.Reader.Buffered(); n > 0 {
		rest, _ := brw.Reader.Peek(n)
		head = append(head, rest...)
	}
	in.log.Debug("upgrade handed to the host", "protocol", upgradeType(r.Header), "host", r.Host, "path", r.URL.Path)
	req := sdk.LinkRequest{Instance: in.id, Network: "tcp", Target: ri.target.addr,
		Meta: map[string]string{sdk.MetaClientAddr: ri.client, sdk.MetaHost: ri.host}}
	if err := in.host.Handoff(in.ctx, conn, req, head, sdk.HandoffOptions{FailReply: upgradeFailReply}); err != nil {
		in.log.Warn("upgrade not handed off", "host", r.Host, "err", err)
	}
}

// upstreamHead is the request head the backend receives: the same rewrite
// as proxied requests, with the Upgrade and Connection headers kept.
func (in *instance) upstreamHead(r *http.Request) ([]byte, error) {
	out := r.Clone(r.Context())
	out.RequestURI, out.Body, out.ContentLength = "", nil, 0
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
