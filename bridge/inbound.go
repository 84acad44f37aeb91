package bridge

import (
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/xtaci/smux"
)

// InboundFunc serves a link an agent opened (forward flow): st carries the
// user's bytes after the link header h (the user's network and address).
// It owns st and must close it.
type InboundFunc func(st *smux.Stream, h LinkHeader)

// agreeFlow settles the flow with an agent's hello: the server's, when the
// agent can carry it; otherwise why not.
func (s *Server) agreeFlow(h Hello) (Flow, string) {
	want := s.cfg.Flow
	if want == FlowAny {
		want = FlowReverse
	}
	switch {
	case want == FlowForward && h.Version < HelloVersionFlow:
		return 0, "this server runs in forward mode (mode=2); the agent's version cannot listen for users"
	case h.Flow != FlowAny && h.Flow != want:
		return 0, fmt.Sprintf("this server runs in %s mode (mode=%d); the agent can only carry %s (a forward-mode client needs a target address to listen on)", want, want, h.Flow)
	}
	return want, ""
}

// serveInbound accepts the links an agent opens on a forward-flow session
// and hands each, once its header is read, to the configured InboundFunc.
// The returned function waits for the accept loop and every link it
// started; call it after the session is closed.
func (s *Server) serveInbound(sess *session, flow Flow, log *slog.Logger) (wait func()) {
	if flow != FlowForward || s.cfg.Inbound == nil {
		return func() {}
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			st, err := sess.mux.AcceptStream()
			if err != nil {
				return
			}
			wg.Go(func() {
				_ = st.SetReadDeadline(time.Now().Add(s.cfg.HandshakeTimeout))
				h, err := ReadLinkHeader(st)
				_ = st.SetReadDeadline(time.Time{})
				if err != nil || h.Network == NetworkControl {
					log.Warn("bad link header from agent", "err", err, "network", h.Network.String())
					_ = st.Close()
					return
				}
				s.cfg.Inbound(st, h)
			})
		}
	})
	return wg.Wait
}
