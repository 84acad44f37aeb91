// Package fdlink is the wire of the fd link: the AF_UNIX SOCK_SEQPACKET
// socketpair a plugin process inherits from the host. It moves sockets
// between host and plugin with SCM_RIGHTS; bytes of user traffic never
// cross it.
//
// Every message is one datagram of at most MaxMessage bytes: a version
// byte, an op byte, and a body (a protobuf message from plugins/sdk/proto),
// carrying exactly the number of descriptors its op requires (one for every
// op defined here). A message with another version, an unknown op or a
// wrong descriptor count is refused: its descriptors are closed and Recv
// returns a *MalformedError, after which the link stays usable.
//
// Ops:
//
//	L host -> plugin  FdListen + a listening TCP socket or a bound UDP socket
//	H plugin -> host  FdLink + an accepted connection (Handoff)
//	D plugin -> host  FdLink + one end of a new socketpair (Dial); the host
//	                  answers on that socket with a verdict (WriteVerdict),
//	                  then joins it to a link through an agent
//	F plugin -> host  FdLink + one end of a new socketpair (Forward); the
//	                  host answers on that socket with a verdict and closes
//	                  it, then accepts on the instance's listener itself
package fdlink

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// Version is the fd link wire version, the first byte of every message.
const Version = 1

// MaxMessage bounds one message, header included.
const MaxMessage = 64 << 10

// headerLen is the version and op bytes.
const headerLen = 2

// MaxBody is the largest body a message can carry.
const MaxBody = MaxMessage - headerLen

// Ops.
const (
	OpListen  byte = 'L'
	OpHandoff byte = 'H'
	OpDial    byte = 'D'
	OpForward byte = 'F'
)

// fdsFor is how many descriptors each known op carries.
func fdsFor(op byte) (int, bool) {
	switch op {
	case OpListen, OpHandoff, OpDial, OpForward:
		return 1, true
	}
	return 0, false
}

// maxFDs is how many descriptors Recv can take in one message; more are
// truncated by the kernel (MSG_CTRUNC), and the message is refused.
const maxFDs = 4

// MalformedError is a message Recv refused. The link is still usable.
type MalformedError struct {
	Op     byte
	Reason string
}

func (e *MalformedError) Error() string {
	if e.Op == 0 {
		return "fd link: malformed message: " + e.Reason
	}
	return fmt.Sprintf("fd link: malformed message (op %q): %s", e.Op, e.Reason)
}

// Message is one received message. File is the descriptor it carried, owned
// by the receiver, who must close it.
type Message struct {
	Op   byte
	Body []byte
	File *os.File
}

// Conn is one end of an fd link. Send and Recv may be used concurrently;
// Sends are serialised.
type Conn struct {
	c   *net.UnixConn
	wmu sync.Mutex
	rmu sync.Mutex
	buf []byte
	oob []byte
}

// New wraps c, a SOCK_SEQPACKET unix socket.
func New(c *net.UnixConn) *Conn {
	return &Conn{c: c, buf: make([]byte, MaxMessage+1), oob: make([]byte, syscall.CmsgSpace(maxFDs*4))}
}

// FromFile adopts f, an inherited fd link descriptor; f is closed.
func FromFile(f *os.File) (*Conn, error) {
	defer f.Close()
	c, err := net.FileConn(f)
	if err != nil {
		return nil, fmt.Errorf("fd link: %w", err)
	}
	uc, ok := c.(*net.UnixConn)
	if !ok {
		_ = c.Close()
		return nil, fmt.Errorf("fd link: descriptor is a %T, not a unix socket", c)
	}
	return New(uc), nil
}

// Pair returns a new fd link: the host's end, and the plugin's end as a
// file for exec.Cmd.ExtraFiles (close it once the child has started).
func Pair() (*Conn, *os.File, error) {
	mine, theirs, err := socketpair(syscall.SOCK_SEQPACKET)
	if err != nil {
		return nil, nil, err
	}
	return New(mine), theirs, nil
}

// Socketpair returns a connected pair of unix sockets of type typ
// (syscall.SOCK_STREAM or SOCK_SEQPACKET): one as a conn for this process,
// one as a file to send to the other side. Both are close-on-exec.
func Socketpair(typ int) (*net.UnixConn, *os.File, error) { return socketpair(typ) }

func socketpair(typ int) (*net.UnixConn, *os.File, error) {
	fds, err := cloexecSocketpair(typ)
	if err != nil {
		return nil, nil, fmt.Errorf("socketpair: %w", err)
	}
	mf := os.NewFile(uintptr(fds[0]), "fdlink")
	theirs := os.NewFile(uintptr(fds[1]), "fdlink-peer")
	c, err := net.FileConn(mf)
	_ = mf.Close()
	if err != nil {
		_ = theirs.Close()
		return nil, nil, fmt.Errorf("socketpair: %w", err)
	}
	return c.(*net.UnixConn), theirs, nil
}

// Close closes the link; the peer reads EOF.
func (c *Conn) Close() error { return c.c.Close() }

// SetReadDeadline sets the deadline for Recv.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.c.SetReadDeadline(t) }

// Send sends one message with op, body and the descriptor fd.
func (c *Conn) Send(op byte, body []byte, fd int) error {
	want, ok := fdsFor(op)
	if !ok {
		return fmt.Errorf("fd link: unknown op %q", op)
	}
	if want != 1 || fd < 0 {
		return fmt.Errorf("fd link: op %q needs one descriptor", op)
	}
	if len(body) > MaxBody {
		return fmt.Errorf("fd link: op %q body of %d bytes exceeds %d", op, len(body), MaxBody)
	}
	msg := make([]byte, 0, headerLen+len(body))
	msg = append(msg, Version, op)
	msg = append(msg, body...)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	n, _, err := c.c.WriteMsgUnix(msg, syscall.UnixRights(fd), nil)
	if err != nil {
		return fmt.Errorf("fd link: send %q: %w", op, err)
	}
	if n != len(msg) {
		return fmt.Errorf("fd link: send %q: short write", op)
	}
	return nil
}

// SendFile is Send with the descriptor of f; f stays open.
func (c *Conn) SendFile(op byte, body []byte, f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = c.Send(op, body, int(fd)) }); err != nil {
		return err
	}
	return serr
}

// SendConn is Send with the descriptor of a socket (a net.Conn, Listener or
// PacketConn implementing syscall.Conn); the socket stays open.
func (c *Conn) SendConn(op byte, body []byte, s syscall.Conn) error {
	rc, err := s.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = c.Send(op, body, int(fd)) }); err != nil {
		return err
	}
	return serr
}

// Recv reads one message. It returns io.EOF when the peer closed the link,
// a *MalformedError for a message it refused (the link is still usable),
// and other errors when the link failed.
func (c *Conn) Recv() (Message, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	n, oobn, flags, _, err := c.c.ReadMsgUnix(c.buf, c.oob)
	if err != nil {
		if errors.Is(err, net.ErrClosed) {
			return Message{}, io.EOF
		}
		return Message{}, err
	}
	files, ferr := parseRights(c.oob[:oobn])
	closeAll := func() {
		for _, f := range files {
			_ = f.Close()
		}
	}
	if n == 0 && oobn == 0 {
		return Message{}, io.EOF
	}
	bad := func(op byte, reason string) (Message, error) {
		closeAll()
		return Message{}, &MalformedError{Op: op, Reason: reason}
	}
	switch {
	case ferr != nil:
		return bad(0, ferr.Error())
	case flags&syscall.MSG_CTRUNC != 0:
		return bad(0, "too many descriptors")
	case n > MaxMessage || flags&syscall.MSG_TRUNC != 0:
		return bad(0, fmt.Sprintf("longer than %d bytes", MaxMessage))
	case n < headerLen:
		return bad(0, "shorter than its header")
	case c.buf[0] != Version:
		return bad(c.buf[1], fmt.Sprintf("wire version %d, want %d", c.buf[0], Version))
	}
	op := c.buf[1]
	want, ok := fdsFor(op)
	if !ok {
		return bad(op, "unknown op")
	}
	if len(files) != want {
		return bad(op, fmt.Sprintf("carries %d descriptors, want %d", len(files), want))
	}
	msg := Message{Op: op, Body: append([]byte(nil), c.buf[headerLen:n]...)}
	if want == 1 {
		msg.File = files[0]
	}
	return msg, nil
}

// parseRights turns SCM_RIGHTS control messages into files.
func parseRights(oob []byte) ([]*os.File, error) {
	if len(oob) == 0 {
		return nil, nil
	}
	cmsgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, fmt.Errorf("control message: %w", err)
	}
	var files []*os.File
	var bad error
	for i := range cmsgs {
		fds, err := syscall.ParseUnixRights(&cmsgs[i])
		if err != nil {
			bad = fmt.Errorf("control message: %w", err)
			continue
		}
		for _, fd := range fds {
			files = append(files, os.NewFile(uintptr(fd), "fdlink-received"))
		}
	}
	if bad != nil {
		for _, f := range files {
			_ = f.Close()
		}
		return nil, bad
	}
	return files, nil
}

// MaxReason bounds a verdict's reason text.
const MaxReason = 1024

// Verdict statuses.
const (
	verdictOK     = 0
	verdictRefuse = 1
)

// WriteVerdict writes the host's answer to a Dial on the link socket: ok
// when reason is "", otherwise a refusal with reason (truncated to
// MaxReason). It is one write, so one datagram on a SOCK_SEQPACKET link.
func WriteVerdict(w io.Writer, reason string) error {
	if reason == "" {
		_, err := w.Write([]byte{verdictOK})
		return err
	}
	if len(reason) > MaxReason {
		reason = reason[:MaxReason]
	}
	b := make([]byte, 0, 3+len(reason))
	b = append(b, verdictRefuse)
	b = binary.BigEndian.AppendUint16(b, uint16(len(reason)))
	b = append(b, reason...)
	_, err := w.Write(b)
	return err
}

// ReadVerdict reads a verdict from a link socket: "" and nil when the link
// is open, the host's reason when it refused, or an error when the verdict
// could not be read. packet says the socket is SOCK_SEQPACKET (the verdict
// is one datagram) rather than a stream.
func ReadVerdict(r io.Reader, packet bool) (reason string, err error) {
	if packet {
		buf := make([]byte, 3+MaxReason)
		n, err := r.Read(buf)
		if err != nil {
			return "", fmt.Errorf("read verdict: %w", err)
		}
		return parseVerdict(buf[:n])
	}
	var st [1]byte
	if _, err := io.ReadFull(r, st[:]); err != nil {
		return "", fmt.Errorf("read verdict: %w", err)
	}
	if st[0] == verdictOK {
		return "", nil
	}
	if st[0] != verdictRefuse {
		return "", fmt.Errorf("read verdict: unknown status %d", st[0])
	}
	var ln [2]byte
	if _, err := io.ReadFull(r, ln[:]); err != nil {
		return "", fmt.Errorf("read verdict: %w", err)
	}
	n := int(binary.BigEndian.Uint16(ln[:]))
	if n > MaxReason {
		return "", fmt.Errorf("read verdict: reason of %d bytes exceeds %d", n, MaxReason)
	}
	msg := make([]byte, n)
	if _, err := io.ReadFull(r, msg); err != nil {
		return "", fmt.Errorf("read verdict: %w", err)
	}
	return refusal(string(msg)), nil
}

func parseVerdict(b []byte) (string, error) {
	switch {
	case len(b) == 0:
		return "", errors.New("read verdict: empty")
	case b[0] == verdictOK && len(b) == 1:
		return "", nil
	case b[0] == verdictRefuse && len(b) >= 3:
		n := int(binary.BigEndian.Uint16(b[1:3]))
		if n != len(b)-3 {
			return "", errors.New("read verdict: bad length")
		}
		return refusal(string(b[3:])), nil
	}
	return "", errors.New("read verdict: malformed")
}

// refusal makes sure a refusal is never mistaken for success.
func refusal(s string) string {
	if s == "" {
		return "refused"
	}
	return s
}
