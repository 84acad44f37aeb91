package bridge

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/burrowproject/burrow/internal/netx"
)

// The front of the HTTP carriers (WebSocket, HTTP/2): the bridge's TCP
// listener. Each connection holds a handshake slot of the guard, exactly
// as a TCP agent's does, while its TLS (when its first byte opens it) and
// HTTP handshake run under the handshake timeout; a Burrow hello instead
// of an HTTP request (a TCP agent) goes to the ordinary handshake, which
// refuses it with the carrier this bridge expects.

// frontConn is an HTTP carrier's connection after TLS: its slot and
// whether TLS protects it.
type frontConn struct {
	net.Conn
	sh  *shared
	tls bool
}

// serveFront accepts connections of a WebSocket or HTTP/2 bridge on ln
// until ctx ends.
func (s *Server) serveFront(ctx context.Context, ln net.Listener) error {
	var (
		tc   *tls.Config
		h    frontHandler
		stop func()
	)
	if s.cfg.TLS != nil {
		tc = s.cfg.TLS.Clone()
	}
	if s.cfg.Carrier == CarrierWebSocket {
		h, stop = s.newWSFront()
		if tc != nil {
			tc.NextProtos = []string{"http/1.1"}
		}
	} else {
		h, stop = s.newH2Front(ctx)
		if tc != nil {
			tc.NextProtos = []string{"h2"}
		}
	}
	defer stop()
	netx.AcceptLoop(ctx, ln, s.log, func(c net.Conn) {
		sh := s.admitShared(c, c.RemoteAddr())
		if sh == nil {
			return
		}
		if !s.track(c) {
			sh.release()
			_ = c.Close()
			return
		}
		go func() {
			defer s.wg.Done()
			defer s.untrack(c)
			s.front(c, sh, tc, h)
		}()
	})
	return nil
}

// frontHandler takes an HTTP carrier's connection after TLS; it returns
// when it is done with it (the WebSocket front once http.Server has it).
type frontHandler func(fc *frontConn)

// front runs TLS on c when it opens with it, then hands it to h, or to the
// ordinary handshake when it starts with a hello.
func (s *Server) front(c net.Conn, sh *shared, tc *tls.Config, h frontHandler) {
	_ = c.SetDeadline(time.Now().Add(s.cfg.HandshakeTimeout))
	br := bufio.NewReaderSize(c, 16)
	var conn net.Conn = &peekedConn{Conn: c, r: br}
	first, err := br.Peek(1)
	if err != nil {
		s.frontFailed(c, sh, fmt.Errorf("closed before its first byte: %w", err))
		return
	}
	secured := false
	if first[0] == tlsHandshakeRecord && tc != nil {
		t := tls.Server(conn, tc)
		if err := t.Handshake(); err != nil {
			s.frontFailed(c, sh, fmt.Errorf("TLS handshake: %w", err))
			return
		}
		conn, secured = t, true
	}
	br2 := bufio.NewReaderSize(conn, 16)
	conn = &peekedConn{Conn: conn, r: br2}
	head, err := br2.Peek(len(Magic))
	if err != nil {
		s.frontFailed(c, sh, fmt.Errorf("closed before a request: %w", err))
		return
	}
	if string(head) == Magic { // a TCP agent: the handshake says which carrier to use
		sh.release()
		_ = c.SetDeadline(time.Time{})
		s.accept(&carriedConn{Conn: conn, kind: CarrierTCP, tls: secured})
		return
	}
	if !secured && s.cfg.TLS != nil && !s.cfg.AllowPlain {
		_ = c.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = c.Write(httpRefusal(fmt.Sprintf("this bridge requires TLS: use wss:// or https:// (remove tls=0 from the agent URL); it carries agents over %s (type=%d)", s.cfg.Carrier, s.cfg.Carrier)))
		s.frontFailed(c, sh, errors.New("plain HTTP to a bridge that requires TLS"))
		return
	}
	h(&frontConn{Conn: conn, sh: sh, tls: secured})
}

// frontFailed ends a front connection that failed before its HTTP
// handshake.
func (s *Server) frontFailed(c net.Conn, sh *shared, err error) {
	_ = c.Close()
	if ok, suppressed := s.guard.logSource(addrIP(c.RemoteAddr())); ok { // while the slot is held
		s.log.Warn("agent handshake failed", "remote", c.RemoteAddr().String(), "carrier", s.cfg.Carrier.String(), "err", err, "suppressed", suppressed)
	}
	if sh.release() {
		s.refused(RefusedFailed)
	}
}
