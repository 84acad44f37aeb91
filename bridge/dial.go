package bridge

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"time"

	"github.com/xtaci/smux"
)

// DialConfig configures the agent's end of a tunnel.
type DialConfig struct {
	Addr         string        // bridge host:port
	Key          string        // agent key; secret
	AgentName    string        // shown in the bridge's agent list
	AgentVersion string        // shown in the bridge's agent list
	TLS          *tls.Config   // nil = plain TCP
	Dialer       *net.Dialer   // nil = default
	Mux          *smux.Config  // nil = MuxConfig()
	Timeout      time.Duration // for connect + TLS + hello; 0 = DefaultHandshakeTimeout
}

// RefusedError is the bridge's refusal of a hello.
type RefusedError struct {
	Status  HelloStatus
	Message string
}

func (e *RefusedError) Error() string {
	if e.Message == "" || e.Message == e.Status.String() {
		return "bridge refused the agent: " + e.Status.String()
	}
	return "bridge refused the agent: " + e.Status.String() + ": " + e.Message
}

// Dial connects to a bridge, says hello, and on acceptance returns the
// agent's smux session: the bridge opens streams on it, the agent accepts.
func Dial(ctx context.Context, cfg DialConfig) (*smux.Session, error) {
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = DefaultHandshakeTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	d := cfg.Dialer
	if d == nil {
		d = &net.Dialer{}
	}
	raw, err := d.DialContext(ctx, "tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("dial bridge %s: %w", cfg.Addr, err)
	}
	if tc, ok := raw.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	stop := context.AfterFunc(ctx, func() { _ = raw.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	conn := raw
	if cfg.TLS != nil {
		tc := tls.Client(raw, cfg.TLS)
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = raw.Close()
			return nil, fmt.Errorf("tls handshake with bridge %s: %w", cfg.Addr, err)
		}
		conn = tc
	}
	hello, err := AppendHello(nil, Hello{Version: ProtocolVersion, Key: cfg.Key, AgentName: cfg.AgentName, AgentVersion: cfg.AgentVersion})
	if err != nil {
		_ = raw.Close()
		return nil, err
	}
	if _, err := conn.Write(hello); err != nil {
		_ = raw.Close()
		return nil, fmt.Errorf("send hello to bridge %s: %w", cfg.Addr, err)
	}
	reply, err := ReadHelloReply(conn)
	if err != nil {
		_ = raw.Close()
		return nil, fmt.Errorf("read hello reply from bridge %s: %w", cfg.Addr, err)
	}
	if reply.Status != StatusOK {
		_ = raw.Close()
		return nil, &RefusedError{Status: reply.Status, Message: reply.Message}
	}
	if !stop() {
		_ = raw.Close()
		return nil, fmt.Errorf("handshake with bridge %s: %w", cfg.Addr, ctx.Err())
	}
	mc := cfg.Mux
	if mc == nil {
		mc = MuxConfig()
	}
	sess, err := smux.Server(newTunnelConn(conn), mc)
	if err != nil {
		_ = raw.Close()
		return nil, fmt.Errorf("start tunnel session: %w", err)
	}
	return sess, nil
}
