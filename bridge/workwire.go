package bridge

// The wire of the pool of work connections (hello versions 3 and 4).
//
// An agent that keeps a pool says hello with HelloVersionPool (the body of
// a HelloVersionFlow hello). The bridge's ok reply adds, after the flow
// byte:
//
//	pool-max u16 | token-len u8 token
//
// pool-max is the most idle work connections the bridge keeps for the
// session (its max=; 0: it keeps none), token a random secret that names
// the session (TokenLen bytes). It travels on the session's connection,
// which is TLS unless the bridge runs tls=0, so the agent key is never sent
// again. The agent then opens work connections, each TCP (TLS like the
// session) with a work hello and nothing else:
//
//	"BRRW" | WorkVersion u8 | length u16 | token
//
// To a session of hello version 3 the bridge answers nothing. A session
// of HelloVersionAck (4: the body and reply of version 3) hears one status
// byte on each of its work connections once the bridge has decided what
// to do with it:
//
//	ack u8: 0 pooled (idle in the session's pool) | 1 pool full (closed)
//
// Only then is the agent's dial over, so an agent refilling its pool keeps
// no more work handshakes waiting at the bridge than it dials at once. A
// full pool (the session already holds max= idle ones) is no failure: the
// agent dials again once a link takes one. Any other byte is malformed; a
// connection closed before its ack failed (an unknown token, an ended
// session). A pooled work connection waits, idle, until the
// bridge takes it for a link and writes the link header (and the user's
// first bytes) on it; the agent answers with the verdict, as on a stream,
// and from then on the connection carries the link's bytes and nothing
// else. Its end is TCP's: a FIN is the orderly end, an RST (or a TLS
// connection reset under its records) the abort, both ways. (In a session
// of HelloVersionReuse a TLS work connection carries its link in frames
// instead and outlives it: see frames.go.) A work
// connection dies with its session: when the session ends, the bridge
// closes the idle ones and resets those that carry links, and so does the
// agent.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// HelloVersionPool is the hello version of an agent that keeps a pool of
// work connections (see above) and expects no ack of its work hellos.
const HelloVersionPool = 3

// HelloVersionAck is the hello version of an agent that keeps a pool and
// reads the bridge's ack of each work hello (see above). Its hello and
// the bridge's ok reply are those of HelloVersionPool.
const HelloVersionAck = 4

// WorkAck is the bridge's answer to a work hello in a session of
// HelloVersionAck.
type WorkAck uint8

// Work acks.
const (
	WorkPooled   WorkAck = 0 // the connection waits, idle, in the session's pool
	WorkPoolFull WorkAck = 1 // the pool holds max= idle connections: this one is closed
)

func (a WorkAck) String() string {
	switch a {
	case WorkPooled:
		return "pooled"
	case WorkPoolFull:
		return "pool full"
	}
	return fmt.Sprintf("work ack %d", uint8(a))
}

// ErrPoolFull is DialWork's error when the bridge's pool for the session
// is full: no failure, but no connection either until a link takes one.
var ErrPoolFull = errors.New("the bridge's pool for this session is full")

// ReadWorkAck reads the bridge's ack of a work hello.
func ReadWorkAck(r io.Reader) (WorkAck, error) {
	var b [1]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return 0, fmt.Errorf("read work ack: the bridge closed the work connection before its ack: %w", err)
	}
	a := WorkAck(b[0])
	if a != WorkPooled && a != WorkPoolFull {
		return 0, fmt.Errorf("read work ack: %w: %s", ErrMalformed, a)
	}
	return a, nil
}

// WorkVersion marks the hello of a work connection.
const WorkVersion = 0x81

// TokenLen is the length of a session token.
const TokenLen = 16

// MaxPool bounds the pool-max a bridge sends (NodePass's max= is at most
// this here).
const MaxPool = 1<<16 - 1

// AppendWorkHello encodes a work connection's hello with token after b.
func AppendWorkHello(b []byte, token string) []byte {
	b = append(b, Magic...)
	b = append(b, WorkVersion)
	b = binary.BigEndian.AppendUint16(b, uint16(len(token)))
	return append(b, token...)
}

// readWorkHello reads the body of a work hello of n bytes after its prefix.
func readWorkHello(r io.Reader, h Hello, n int) (Hello, error) {
	if n != TokenLen {
		return h, fmt.Errorf("read work hello: %w: token of %d bytes, want %d", ErrMalformed, n, TokenLen)
	}
	var tok [TokenLen]byte
	if _, err := io.ReadFull(r, tok[:]); err != nil {
		return h, fmt.Errorf("read work hello: %w", truncatedBody(err))
	}
	h.Token = string(tok[:])
	return h, nil
}

func appendPoolReply(b []byte, r HelloReply) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(min(max(r.PoolMax, 0), MaxPool)))
	return appendField(b, r.Token)
}

func readPoolReply(r io.Reader, reply HelloReply) (HelloReply, error) {
	var p [3]byte
	if _, err := io.ReadFull(r, p[:]); err != nil {
		return reply, fmt.Errorf("read hello reply pool: %w", truncatedBody(err))
	}
	reply.PoolMax = int(binary.BigEndian.Uint16(p[:2]))
	if reply.PoolMax == 0 && p[2] == 0 {
		return reply, nil // no pool
	}
	if p[2] != TokenLen {
		return reply, fmt.Errorf("read hello reply: %w: token of %d bytes, want %d", ErrMalformed, p[2], TokenLen)
	}
	var tok [TokenLen]byte
	if _, err := io.ReadFull(r, tok[:]); err != nil {
		return reply, fmt.Errorf("read hello reply token: %w", truncatedBody(err))
	}
	reply.Token = string(tok[:])
	return reply, nil
}
