package bridge

// The wire protocol between an agent and the bridge.
//
// An agent opens one TCP (optionally TLS) connection and writes a hello:
//
//	"BRRW" | version u8 | length u16 | key-len u8 key | name-len u8 name | agent-version-len u8 agent-version [| flow u8]
//
// Hello version 2 adds the flow byte: which direction the agent can carry
// (any, or reverse only for an agent without targets), and the bridge's ok
// reply to it ends with the flow the server runs (reverse: the bridge opens
// links; forward: the agent listens for users and opens them). A server
// and an agent that cannot agree are refused with StatusModeMismatch.
//
// A bridge refuses an agent that came on another carrier (see carrier.go)
// with StatusCarrierMismatch, whose reply ends with the bridge's carrier
// and WebSocket path: carrier u8 | path-len u8 path.
//
// The bridge answers with a hello reply and, when it is ok, both ends run an
// smux session over the connection. The bridge opens one stream per link and
// writes a link header first:
//
//	version u8 | length u16 | network u8 | flags u8 | target-len u8 target | instance-len u8 instance | source-len u8 source
//
// The agent answers every link with a verdict before any payload:
//
//	status u8 | length u16 | reason
//
// The first stream of a session is its control stream (network 'c', no
// verdict). Its first message is the ready marker (u32 0): the bridge has
// pooled the session, and only then does the agent count itself connected.
// smux has no reset, so a stream the bridge closes reaches the agent as a
// FIN, like a half-close; when the bridge closes a link the agent has not
// ended (or resets it), it writes the stream's id (u32) on the control
// stream and the agent resets that link's target connection. The other way,
// the agent reports a failed target with a versioned reset message (see
// control.go), so that the bridge resets the user's connection.
//
// All integers are big-endian. Every length is bounded; anything longer,
// shorter, or of another version is refused with a reason.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Magic opens every agent connection.
const Magic = "BRRW"

// ProtocolVersion is the version of the hello and link header formats.
const ProtocolVersion = 1

// HelloVersionFlow is the hello version with the flow byte (see above);
// bridges accept hellos of ProtocolVersion to MaxHelloVersion.
const HelloVersionFlow = 2

// MaxHelloVersion is the newest hello version a bridge accepts (see
// workwire.go for versions 3 and 4); a newer one is refused with
// StatusVersionMismatch, and the agent says hello again with an older one.
const MaxHelloVersion = HelloVersionReuse

// Flow is the direction a tunnel carries users (a server's mode).
type Flow uint8

// Flows.
const (
	FlowAny     Flow = 0 // an agent that follows the bridge
	FlowReverse Flow = 1 // users reach the server; the bridge opens links to the agent (server mode 1)
	FlowForward Flow = 2 // users reach the agent; it opens links to the server, which dials (server mode 2)
)

func (f Flow) String() string {
	switch f {
	case FlowAny:
		return "any"
	case FlowReverse:
		return "reverse"
	case FlowForward:
		return "forward"
	}
	return fmt.Sprintf("flow(%d)", uint8(f))
}

// Size limits of the wire formats.
const (
	MaxFieldLen    = 255 // any single string field in a hello or link header
	MaxHelloBody   = 3*(1+MaxFieldLen) + 1
	MaxLinkBody    = 2 + 3*(1+MaxFieldLen)
	MaxReasonLen   = 1024 // hello-reply message and verdict reason
	helloPrefixLen = len(Magic) + 1 + 2
	linkPrefixLen  = 1 + 2
	replyPrefixLen = 1 + 2
)

// ErrMalformed is wrapped by every decode error caused by the peer's bytes.
var ErrMalformed = errors.New("malformed message")

// Hello is what an agent says first.
type Hello struct {
	Version      uint8
	Key          string // secret: never log it
	AgentName    string
	AgentVersion string
	Flow         Flow   // HelloVersionFlow and later
	Token        string // a work connection's session token (WorkVersion only); secret
}

// HelloStatus is the bridge's answer to a hello.
type HelloStatus uint8

// Hello statuses.
const (
	StatusOK              HelloStatus = 0
	StatusUnknownKey      HelloStatus = 1
	StatusVersionMismatch HelloStatus = 2
	StatusBadHello        HelloStatus = 3
	StatusTLSRequired     HelloStatus = 4
	StatusModeMismatch    HelloStatus = 5
	// StatusCarrierMismatch: the agent came over another carrier than the
	// bridge's (type=); the message names the one it expects.
	StatusCarrierMismatch HelloStatus = 6
)

func (s HelloStatus) String() string {
	switch s {
	case StatusOK:
		return "ok"
	case StatusUnknownKey:
		return "unknown key"
	case StatusVersionMismatch:
		return "version mismatch"
	case StatusBadHello:
		return "bad hello"
	case StatusTLSRequired:
		return "tls required"
	case StatusModeMismatch:
		return "mode mismatch"
	case StatusCarrierMismatch:
		return "carrier mismatch"
	default:
		return fmt.Sprintf("status %d", uint8(s))
	}
}

// HelloReply is the bridge's answer to a hello.
type HelloReply struct {
	Status  HelloStatus
	Message string
	Flow    Flow // in an ok reply to a HelloVersionFlow hello
	// Carrier and Path are the bridge's carrier and its WebSocket path,
	// in a StatusCarrierMismatch reply (after the message: carrier u8 |
	// path-len u8 path), so an agent can follow it.
	Carrier CarrierType
	Path    string
	// In an ok reply to a HelloVersionPool hello: the most idle work
	// connections the agent may keep (the bridge's max=), and the token
	// its work connections present.
	PoolMax int
	Token   string
}

// Network is the kind of traffic a link carries.
type Network uint8

// Link networks.
const (
	NetworkTCP Network = 't'
	NetworkUDP Network = 'u'
	// NetworkControl marks the session's control stream, which the bridge
	// opens first: it carries aborts, each the 4-byte id of a stream the
	// bridge closed before the agent ended it (smux has no reset).
	NetworkControl Network = 'c'
)

// validNetwork reports whether n is a network a link header may carry.
func validNetwork(n Network) bool {
	return n == NetworkTCP || n == NetworkUDP || n == NetworkControl
}

// ParseNetwork maps "tcp"/"udp" to a Network.
func ParseNetwork(s string) (Network, error) {
	switch s {
	case "tcp":
		return NetworkTCP, nil
	case "udp":
		return NetworkUDP, nil
	}
	return 0, fmt.Errorf("unsupported network %q", s)
}

func (n Network) String() string {
	switch n {
	case NetworkTCP:
		return "tcp"
	case NetworkUDP:
		return "udp"
	case NetworkControl:
		return "control"
	}
	return fmt.Sprintf("network(%d)", uint8(n))
}

// LinkFlags modify how the agent serves a link.
type LinkFlags uint8

// Link flags.
const (
	// FlagProxyProtocol asks the agent to send a PROXY protocol v1 header
	// with Source to the target before any payload.
	FlagProxyProtocol LinkFlags = 1 << 0
)

// LinkHeader opens every stream.
type LinkHeader struct {
	Network  Network
	Flags    LinkFlags
	Target   string // host:port; "" means the agent's default target
	Instance string // the instance the link serves, for the agent's logs
	Source   string // the user's address, for PROXY protocol and logs
}

// Verdict is the agent's answer to a link header.
type Verdict struct {
	OK     bool
	Reason string // why the link failed, e.g. the dial error
	// NotAllowed marks a refusal by the agent's policy (the target is
	// neither one of its own nor in its allow= list), as opposed to a
	// target it could not reach. It travels as status 2.
	NotAllowed bool
}

// AppendHello encodes h after b.
func AppendHello(b []byte, h Hello) ([]byte, error) {
	if err := checkFields("hello", map[string]string{"key": h.Key, "agent name": h.AgentName, "agent version": h.AgentVersion}); err != nil {
		return b, err
	}
	body := 3 + len(h.Key) + len(h.AgentName) + len(h.AgentVersion)
	if h.Version >= HelloVersionFlow {
		body++
	}
	b = append(b, Magic...)
	b = append(b, h.Version)
	b = binary.BigEndian.AppendUint16(b, uint16(body))
	b = appendField(b, h.Key)
	b = appendField(b, h.AgentName)
	b = appendField(b, h.AgentVersion)
	if h.Version >= HelloVersionFlow {
		b = append(b, byte(h.Flow))
	}
	return b, nil
}

// ReadHello decodes a hello. A hello of another version is returned with
// only Version set and ErrVersion, so the bridge can say which it speaks.
func ReadHello(r io.Reader) (Hello, error) {
	var prefix [helloPrefixLen]byte
	if _, err := io.ReadFull(r, prefix[:]); err != nil {
		return Hello{}, fmt.Errorf("read hello: %w", truncated(err))
	}
	if string(prefix[:len(Magic)]) != Magic {
		if string(prefix[:len(Magic)]) == "GET " {
			return Hello{}, fmt.Errorf("read hello: %w: %w", ErrMalformed, ErrHTTPRequest)
		}
		return Hello{}, fmt.Errorf("read hello: %w: bad magic %q", ErrMalformed, prefix[:len(Magic)])
	}
	h := Hello{Version: prefix[len(Magic)]}
	if (h.Version < ProtocolVersion || h.Version > MaxHelloVersion) && h.Version != WorkVersion {
		return h, fmt.Errorf("read hello: %w: agent speaks %d, bridge speaks %d to %d", ErrVersion, h.Version, ProtocolVersion, MaxHelloVersion)
	}
	n := int(binary.BigEndian.Uint16(prefix[len(Magic)+1:]))
	if h.Version == WorkVersion {
		return readWorkHello(r, h, n)
	}
	if n > MaxHelloBody {
		return h, fmt.Errorf("read hello: %w: body of %d bytes exceeds %d", ErrMalformed, n, MaxHelloBody)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return h, fmt.Errorf("read hello body: %w", truncatedBody(err))
	}
	d := decoder{buf: body}
	h.Key = d.field()
	h.AgentName = d.field()
	h.AgentVersion = d.field()
	if h.Version >= HelloVersionFlow {
		h.Flow = Flow(d.byte())
		if d.err == nil && h.Flow > FlowForward {
			d.err = fmt.Errorf("%w: unknown flow %d", ErrMalformed, h.Flow)
		}
	}
	if err := d.finish(); err != nil {
		return h, fmt.Errorf("read hello: %w", err)
	}
	return h, nil
}

// ErrHTTPRequest is wrapped when an HTTP request arrives where a hello
// was due: a WebSocket agent (type=2) at a bridge of another carrier.
var ErrHTTPRequest = errors.New("an HTTP request (a WebSocket agent?) where a hello was due")

// ErrVersion means the peer speaks another protocol version.
var ErrVersion = errors.New("protocol version mismatch")

// AppendHelloReply encodes r after b; an over-long message is cut.
func AppendHelloReply(b []byte, r HelloReply) []byte {
	return appendStatus(b, uint8(r.Status), r.Message)
}

// ReadHelloReply decodes a hello reply.
func ReadHelloReply(r io.Reader) (HelloReply, error) {
	status, msg, err := readStatus(r)
	if err != nil {
		return HelloReply{}, fmt.Errorf("read hello reply: %w", err)
	}
	return HelloReply{Status: HelloStatus(status), Message: msg}, nil
}

// AppendHelloReplyFor encodes r as the answer to a hello of helloVersion:
// an ok reply to a HelloVersionFlow hello ends with the flow byte.
func AppendHelloReplyFor(b []byte, r HelloReply, helloVersion uint8) []byte {
	b = AppendHelloReply(b, r)
	switch {
	case r.Status == StatusOK && helloVersion >= HelloVersionFlow:
		b = append(b, byte(r.Flow))
	case r.Status == StatusCarrierMismatch:
		b = append(b, byte(r.Carrier))
		if len(r.Path) > MaxFieldLen {
			r.Path = ""
		}
		b = appendField(b, r.Path)
	}
	if r.Status == StatusOK && helloVersion >= HelloVersionPool {
		b = appendPoolReply(b, r)
	}
	return b
}

// ReadHelloReplyFor decodes the answer to a hello of helloVersion.
func ReadHelloReplyFor(r io.Reader, helloVersion uint8) (HelloReply, error) {
	reply, err := ReadHelloReply(r)
	if err == nil && reply.Status == StatusCarrierMismatch {
		var c [2]byte
		if _, err := io.ReadFull(r, c[:]); err != nil || c[0] > byte(CarrierHTTP2) {
			return reply, fmt.Errorf("read hello reply: %w: carrier mismatch without a known carrier", ErrMalformed)
		}
		path := make([]byte, c[1])
		if _, err := io.ReadFull(r, path); err != nil {
			return reply, fmt.Errorf("read hello reply: %w: carrier path cut short", ErrMalformed)
		}
		reply.Carrier, reply.Path = CarrierType(c[0]), string(path)
		return reply, nil
	}
	if err != nil || reply.Status != StatusOK || helloVersion < HelloVersionFlow {
		return reply, err
	}
	var f [1]byte
	if _, err := io.ReadFull(r, f[:]); err != nil {
		return reply, fmt.Errorf("read hello reply flow: %w", truncatedBody(err))
	}
	reply.Flow = Flow(f[0])
	if reply.Flow != FlowReverse && reply.Flow != FlowForward {
		return reply, fmt.Errorf("read hello reply: %w: flow %d", ErrMalformed, f[0])
	}
	if helloVersion >= HelloVersionPool {
		return readPoolReply(r, reply)
	}
	return reply, nil
}

// AppendLinkHeader encodes h after b.
func AppendLinkHeader(b []byte, h LinkHeader) ([]byte, error) {
	if !validNetwork(h.Network) {
		return b, fmt.Errorf("encode link header: unsupported network %d", h.Network)
	}
	if err := checkFields("link header", map[string]string{"target": h.Target, "instance": h.Instance, "source": h.Source}); err != nil {
		return b, err
	}
	body := 2 + 3 + len(h.Target) + len(h.Instance) + len(h.Source)
	b = append(b, ProtocolVersion)
	b = binary.BigEndian.AppendUint16(b, uint16(body))
	b = append(b, byte(h.Network), byte(h.Flags))
	b = appendField(b, h.Target)
	b = appendField(b, h.Instance)
	return appendField(b, h.Source), nil
}

// ReadLinkHeader decodes a link header.
func ReadLinkHeader(r io.Reader) (LinkHeader, error) {
	var prefix [linkPrefixLen]byte
	if _, err := io.ReadFull(r, prefix[:]); err != nil {
		return LinkHeader{}, fmt.Errorf("read link header: %w", truncated(err))
	}
	if prefix[0] != ProtocolVersion {
		return LinkHeader{}, fmt.Errorf("read link header: %w: version %d, want %d", ErrVersion, prefix[0], ProtocolVersion)
	}
	n := int(binary.BigEndian.Uint16(prefix[1:]))
	if n < 2 || n > MaxLinkBody {
		return LinkHeader{}, fmt.Errorf("read link header: %w: body of %d bytes outside 2..%d", ErrMalformed, n, MaxLinkBody)
	}
	var buf [MaxLinkBody]byte
	body := buf[:n]
	if _, err := io.ReadFull(r, body); err != nil {
		return LinkHeader{}, fmt.Errorf("read link header body: %w", truncatedBody(err))
	}
	h := LinkHeader{Network: Network(body[0]), Flags: LinkFlags(body[1])}
	if !validNetwork(h.Network) {
		return LinkHeader{}, fmt.Errorf("read link header: %w: unknown network %d", ErrMalformed, body[0])
	}
	d := decoder{buf: body[2:]}
	h.Target = d.field()
	h.Instance = d.field()
	h.Source = d.field()
	if err := d.finish(); err != nil {
		return LinkHeader{}, fmt.Errorf("read link header: %w", err)
	}
	return h, nil
}

// AppendVerdict encodes v after b; an over-long reason is cut.
func AppendVerdict(b []byte, v Verdict) []byte {
	status := uint8(0)
	switch {
	case v.OK:
	case v.NotAllowed:
		status = 2
	default:
		status = 1
	}
	return appendStatus(b, status, v.Reason)
}

// ReadVerdict decodes a verdict.
func ReadVerdict(r io.Reader) (Verdict, error) {
	status, reason, err := readStatus(r)
	if err != nil {
		return Verdict{}, fmt.Errorf("read verdict: %w", err)
	}
	if status > 2 {
		return Verdict{}, fmt.Errorf("read verdict: %w: status %d", ErrMalformed, status)
	}
	return Verdict{OK: status == 0, Reason: reason, NotAllowed: status == 2}, nil
}

func appendStatus(b []byte, status uint8, msg string) []byte {
	if len(msg) > MaxReasonLen {
		msg = msg[:MaxReasonLen]
	}
	b = append(b, status)
	b = binary.BigEndian.AppendUint16(b, uint16(len(msg)))
	return append(b, msg...)
}

func readStatus(r io.Reader) (uint8, string, error) {
	var prefix [replyPrefixLen]byte
	if _, err := io.ReadFull(r, prefix[:]); err != nil {
		return 0, "", truncated(err)
	}
	n := int(binary.BigEndian.Uint16(prefix[1:]))
	if n > MaxReasonLen {
		return 0, "", fmt.Errorf("%w: reason of %d bytes exceeds %d", ErrMalformed, n, MaxReasonLen)
	}
	if n == 0 {
		return prefix[0], "", nil
	}
	msg := make([]byte, n)
	if _, err := io.ReadFull(r, msg); err != nil {
		return 0, "", truncatedBody(err)
	}
	return prefix[0], string(msg), nil
}

func appendField(b []byte, s string) []byte {
	b = append(b, byte(len(s)))
	return append(b, s...)
}

func checkFields(what string, fields map[string]string) error {
	for name, v := range fields {
		if len(v) > MaxFieldLen {
			return fmt.Errorf("encode %s: %s is %d bytes, limit %d", what, name, len(v), MaxFieldLen)
		}
	}
	return nil
}

// truncated turns an EOF in the middle of a message's prefix into a
// malformed-message error; an EOF before its first byte stays io.EOF, an
// orderly close.
func truncated(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: truncated", ErrMalformed)
	}
	return err
}

// truncatedBody is truncated for the part after the prefix, where any EOF
// cuts the message short.
func truncatedBody(err error) error {
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return truncated(err)
}

// decoder reads length-prefixed fields from a bounded body.
type decoder struct {
	buf []byte
	err error
}

func (d *decoder) field() string {
	if d.err != nil {
		return ""
	}
	if len(d.buf) < 1 {
		d.err = fmt.Errorf("%w: missing field", ErrMalformed)
		return ""
	}
	n := int(d.buf[0])
	if len(d.buf) < 1+n {
		d.err = fmt.Errorf("%w: field of %d bytes overruns the body", ErrMalformed, n)
		return ""
	}
	s := string(d.buf[1 : 1+n])
	d.buf = d.buf[1+n:]
	return s
}

func (d *decoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if len(d.buf) < 1 {
		d.err = fmt.Errorf("%w: missing field", ErrMalformed)
		return 0
	}
	c := d.buf[0]
	d.buf = d.buf[1:]
	return c
}

func (d *decoder) finish() error {
	if d.err == nil && len(d.buf) != 0 {
		d.err = fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(d.buf))
	}
	return d.err
}
