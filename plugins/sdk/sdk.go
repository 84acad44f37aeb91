// Package sdk is the contract between Burrow's server and a protocol handler.
//
// A handler (tcp, udp, http, or anyone's custom protocol) implements Handler.
// The server gives it a Host: the only way a handler reaches the network it
// serves (listeners bound by the host) and the agents behind the tunnel
// (Handoff and Dial). The same Handler runs linked into the server
// (in-process backend) or as a go-plugin process (process backend); a handler
// cannot tell which, and must not care.
//
// The host, not the handler, counts every byte, enforces an instance's
// connection slots and rate limit, and checks that each link request names
// one of the instance's own targets. A handler therefore cannot under-report
// traffic or reach agents it was not configured for.
package sdk

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"time"
)

// Version is the semantic version of this contract. A handler reports the
// version it was built against in its Descriptor.
const Version = "1.5.0"

// Capability flags a handler advertises in its Descriptor.
const (
	CapHandoff       = "handoff"        // gives accepted connections back to the host
	CapDial          = "dial"           // opens links and stays in the byte stream
	CapUDP           = "udp"            // needs a host-bound UDP socket
	CapNeedsListener = "needs_listener" // needs a host-bound TCP listener
	// CapSharedListener: instances with the same listen address share one
	// listener (e.g. http routing by host name). The host hands every such
	// instance the same listener; the handler serves it once and closes it
	// only when its last instance on it stops.
	CapSharedListener = "shared_listener"
)

// Param describes one query parameter a handler understands.
type Param struct {
	Name    string // query key, e.g. "read"
	Type    string // "string", "int", "bool", "duration", "list"
	Default string // as written into an instance's config; "" = no default
	Help    string // one line for docs and the API
}

// Descriptor tells the host what a handler is.
type Descriptor struct {
	Name         string   // handler name, e.g. "tcp"
	Version      string   // the handler's own version
	SDKVersion   string   // the sdk.Version it was built against
	Schemes      []string // URL schemes it serves
	Capabilities []string // Cap* flags
	Params       []Param  // parameters beyond the common ones
}

// InstanceSpec is one configured instance as a handler sees it.
type InstanceSpec struct {
	ID      string            // instance id, unique in the server
	URL     string            // the normalised instance URL
	Scheme  string            // e.g. "tcp"
	Listen  string            // host:port the host binds for this instance
	Targets []string          // host:port targets; may be patterns for some handlers
	Agent   string            // agent pool key name (agent=) the instance links through
	Params  map[string]string // every query parameter, defaults filled in
}

// LinkRequest asks the host for a link through an agent.
type LinkRequest struct {
	Instance string            // an instance this handler was started with
	Network  string            // "tcp" or "udp"
	Target   string            // one of the instance's targets; "" lets the host pick
	Meta     map[string]string // e.g. MetaClientAddr for PROXY protocol and logs
}

// Well-known LinkRequest.Meta keys.
const (
	MetaClientAddr = "client_addr" // the user's remote address, host:port
	MetaHost       = "host"        // the HTTP host name a request was routed by
	MetaRequestID  = "request_id"  // names the request in the host's log lines and its error pages
)

// HandoffOptions tune what the host does with a handed-off connection.
type HandoffOptions struct {
	// FailReply is written to the connection when the link cannot be opened,
	// before it is closed (e.g. an HTTP 502 page). Empty means close silently.
	FailReply []byte
	// Upgrade, when set (since sdk 1.2.0), is the protocol an HTTP/1.1
	// client asked to switch to, and the preamble is its request head. The
	// host then becomes a byte pipe only once the backend answers 101
	// Switching Protocols for that protocol; any other answer reaches the
	// client as one response with Connection: close and the connection
	// ends (see internal/upgrade). Empty: the host joins at once, as before.
	Upgrade string
	// Pending, with Upgrade, are the bytes the client sent after its request
	// head; the host writes them to the backend only after the 101.
	Pending []byte
	// HeadTimeout, with Upgrade, bounds the wait for the backend's response
	// head; 0 means 60s.
	HeadTimeout time.Duration
}

// Handler is a protocol handler. Its lifecycle is Describe, then Validate and
// Start per instance, then Stop. Every method must be safe for concurrent use.
type Handler interface {
	// Describe reports what the handler is; it has no side effects.
	Describe(ctx context.Context) (Descriptor, error)
	// Validate checks an instance's parameters without side effects. Its error
	// text is shown to the API caller verbatim.
	Validate(ctx context.Context, spec InstanceSpec) error
	// Start runs an instance until Stop. It returns once the instance serves.
	Start(ctx context.Context, spec InstanceSpec, host Host) error
	// Stop ends an instance: it stops accepting and closes what it owns.
	// What the host serves for the instance (Forwarder.Forward, handed-off
	// connections) ends when the host removes the instance after Stop.
	Stop(ctx context.Context, instanceID string) error
}

// Host is what a handler may ask of the server.
type Host interface {
	// Listener returns the TCP listener the host bound for the instance.
	Listener(ctx context.Context, instanceID string) (net.Listener, error)
	// PacketConn returns the UDP socket the host bound for the instance.
	PacketConn(ctx context.Context, instanceID string) (net.PacketConn, error)
	// Handoff gives c to the host together with the bytes already read from
	// it. The handler must not use c again. The host checks req and returns
	// at once; it then opens a link for req, writes preamble to it, and
	// copies both ways. A request the host refuses (unknown instance, target
	// not allowed, slots full) is returned as an error; a link that fails
	// later is logged by the host. Either way the host writes
	// opts.FailReply (if any) to c before closing it.
	Handoff(ctx context.Context, c net.Conn, req LinkRequest, preamble []byte, opts HandoffOptions) error
	// Dial opens a link through an agent and returns it once the agent has
	// dialed the target. For "udp" each Write is one datagram and each Read
	// returns one. Errors carry the agent's reason (see LinkError).
	Dial(ctx context.Context, req LinkRequest) (net.Conn, error)
	// Logger returns the logger for an instance's log stream.
	Logger(instanceID string) *slog.Logger
}

// Forwarder is a Host that can serve a whole listener for a handler. Both
// of Burrow's hosts are (since sdk 1.1.0; udp sockets since 1.5.0); a
// handler checks with a type assertion, so hosts written against 1.0 (test
// fakes, say) still satisfy Host.
type Forwarder interface {
	// Forward hands the instance's listener to the host: from now on the
	// host accepts on it itself and treats every connection as
	// Handoff(c, req, nil, opts) with the client's address in Meta, and the
	// handler sees none of them. A handler whose connections need no
	// reading (plain forwarding) uses it to stay off the connection path,
	// which out of process saves two process wake-ups and a descriptor
	// pass per connection. With Network "udp" (sdk 1.5.0) it hands over the
	// instance's UDP socket instead: the host groups its datagrams by sender
	// into sessions, each a datagram link as Dial opens it, bounded by the
	// instance's idle=, sessions= and persource= (the udp scheme's
	// parameters), and sends replies back to each sender; a udp forward
	// takes no Target, Meta or options. It lasts until the host removes the
	// instance (or, out of process, until the plugin process ends; the
	// restarted plugin asks again when the instance starts on it; a udp
	// socket's sessions outlive the forward and the next one goes on with
	// them: they end when idle, or when the instance is removed). Asking
	// again replaces the previous request. ctx bounds the call only. A request the host refuses
	// (unknown instance, target not allowed, no listener of its own: a
	// shared listener cannot be forwarded; no udp socket; hosts before
	// 1.5.0 refuse udp) is an error.
	Forward(ctx context.Context, req LinkRequest, opts HandoffOptions) error
}

// LinkError reports why a link could not be opened.
type LinkError struct {
	Instance string
	Target   string
	Reason   string // e.g. "agent offline", or the agent's dial error text
	Err      error  // the underlying error, if any
}

func (e *LinkError) Error() string {
	target := e.Target
	if target == "" {
		target = "default target"
	}
	return "link to " + target + ": " + e.Reason
}

func (e *LinkError) Unwrap() error { return e.Err }

// Sentinel errors a Host returns, wrapped in a LinkError where it applies.
var (
	ErrUnknownInstance  = errors.New("unknown instance")
	ErrTargetNotAllowed = errors.New("target not allowed for this instance")
	ErrNoAgent          = errors.New("agent offline")
	ErrSlotsFull        = errors.New("instance connection slots full")
)
