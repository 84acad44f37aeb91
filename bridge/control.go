package bridge

// The agent's messages on the control stream.
//
// The bridge writes stream ids on the control stream (the ready marker,
// then aborts); the agent writes the other way, one message per link whose
// target failed:
//
//	version u8 | kind u8 | length u16 | body
//
// kind 'p' (ping) and 'o' (pong): no body; the agent's half of the
// heartbeat (heartbeat.go).
//
// kind 'r' (reset): body = stream id u32 | reason-len u8 reason. The link's
// target connection failed (reset by the backend, a write error): the
// bridge resets the user's connection instead of ending it cleanly, and
// answers with an abort of that stream id, after which the agent closes
// the stream. smux has no reset of its own, and a FIN would be read as an
// orderly end. A message of another kind is skipped by its length, so
// later kinds do not break older bridges; another version, or a length
// beyond MaxControlBody, is refused.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// ControlVersion is the version of the agent's control messages.
const ControlVersion = 1

// MaxControlBody bounds the body of one control message.
const MaxControlBody = 4 + 1 + MaxFieldLen

// ControlKind is the kind of an agent's control message.
type ControlKind uint8

// Control message kinds.
const (
	ControlReset ControlKind = 'r' // a link's target failed: reset the user
	ControlPing  ControlKind = 'p' // heartbeat: answer with a pong (no body)
	ControlPong  ControlKind = 'o' // heartbeat: the answer to the bridge's ping (no body)
)

// marker is the heartbeat marker of a ping or pong (0 for other kinds).
func (k ControlKind) marker() uint32 {
	switch k {
	case ControlPing:
		return PingMarker
	case ControlPong:
		return PongMarker
	}
	return 0
}

// ControlFor is the agent's control message for a heartbeat marker.
func ControlFor(marker uint32) ControlMessage {
	if marker == PongMarker {
		return ControlMessage{Kind: ControlPong}
	}
	return ControlMessage{Kind: ControlPing}
}

// ControlMessage is one message from the agent on the control stream.
type ControlMessage struct {
	Kind   ControlKind
	Stream uint32 // the link's stream id
	Reason string // what failed, for the bridge's log; cut to MaxFieldLen
}

// ErrUnknownControl is returned for a well-formed message of a kind this
// bridge does not know; the message was consumed and the stream stays in
// sync.
var ErrUnknownControl = errors.New("unknown control message kind")

// AppendControl encodes m after b; an over-long reason is cut.
func AppendControl(b []byte, m ControlMessage) []byte {
	reason := m.Reason
	if len(reason) > MaxFieldLen {
		reason = reason[:MaxFieldLen]
	}
	b = append(b, ControlVersion, byte(m.Kind))
	if m.Kind == ControlPing || m.Kind == ControlPong {
		return binary.BigEndian.AppendUint16(b, 0)
	}
	b = binary.BigEndian.AppendUint16(b, uint16(4+1+len(reason)))
	b = binary.BigEndian.AppendUint32(b, m.Stream)
	return appendField(b, reason)
}

// ReadControl decodes one control message. io.EOF before its first byte
// is an orderly end of the stream.
func ReadControl(r io.Reader) (ControlMessage, error) {
	var prefix [4]byte
	if _, err := io.ReadFull(r, prefix[:]); err != nil {
		return ControlMessage{}, fmt.Errorf("read control message: %w", truncated(err))
	}
	if prefix[0] != ControlVersion {
		return ControlMessage{}, fmt.Errorf("read control message: %w: version %d, want %d", ErrVersion, prefix[0], ControlVersion)
	}
	n := int(binary.BigEndian.Uint16(prefix[2:]))
	if n > MaxControlBody {
		return ControlMessage{}, fmt.Errorf("read control message: %w: body of %d bytes exceeds %d", ErrMalformed, n, MaxControlBody)
	}
	var buf [MaxControlBody]byte
	body := buf[:n]
	if _, err := io.ReadFull(r, body); err != nil {
		return ControlMessage{}, fmt.Errorf("read control message body: %w", truncatedBody(err))
	}
	m := ControlMessage{Kind: ControlKind(prefix[1])}
	if (m.Kind == ControlPing || m.Kind == ControlPong) && n == 0 {
		return m, nil
	}
	if m.Kind != ControlReset {
		return m, fmt.Errorf("read control message: %w %d", ErrUnknownControl, prefix[1])
	}
	if n < 5 {
		return ControlMessage{}, fmt.Errorf("read control message: %w: reset body of %d bytes", ErrMalformed, n)
	}
	m.Stream = binary.BigEndian.Uint32(body)
	d := decoder{buf: body[4:]}
	m.Reason = d.field()
	if err := d.finish(); err != nil {
		return ControlMessage{}, fmt.Errorf("read control message: %w", err)
	}
	return m, nil
}
