package bridge

import (
	"bufio"
	"crypto/tls"
	"net"
	"sync"
	"sync/atomic"
)

// tunnelReadBuffer is the read buffer under an smux session. smux reads
// each frame as a header and a body with two reads; buffering turns a
// burst of frames into one system call.
const tunnelReadBuffer = 256 << 10

// tunnelConn is the connection under an smux session: reads are buffered,
// frames go out with one writev where the kernel offers it, and bytes are
// counted for the agents list.
type tunnelConn struct {
	net.Conn
	r       *bufio.Reader
	tls     bool       // writes are TLS records: coalesce a frame's pieces
	wmu     sync.Mutex // guards wbuf
	wbuf    []byte
	in, out atomic.Int64
	dead    chan struct{} // closed at the first read error
	once    sync.Once
}

func newTunnelConn(c net.Conn) *tunnelConn {
	_, isTLS := c.(*tls.Conn)
	return &tunnelConn{Conn: c, r: bufio.NewReaderSize(c, tunnelReadBuffer), dead: make(chan struct{}), tls: isTLS}
}

// Read reads through the buffer. A read error means the tunnel is gone:
// smux fails the streams but keeps the session until its keepalive
// expires, so dead tells the owner to close it now.
func (c *tunnelConn) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.in.Add(int64(n))
	if err != nil {
		c.once.Do(func() { close(c.dead) })
	}
	return n, err
}

// alive reports whether no read has failed yet.
func (c *tunnelConn) alive() bool {
	select {
	case <-c.dead:
		return false
	default:
		return true
	}
}

func (c *tunnelConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.out.Add(int64(n))
	return n, err
}

// WriteBuffers lets smux send a frame header and body in one writev
// instead of copying them together first. On TLS, whose Write is one
// record per call (net.Buffers would write the 8-byte header as a record
// of its own), the pieces are copied into one buffer and written at once:
// full-size records, one write per frame.
func (c *tunnelConn) WriteBuffers(v [][]byte) (int, error) {
	if c.tls {
		c.wmu.Lock()
		defer c.wmu.Unlock()
		b := c.wbuf[:0]
		for _, p := range v {
			b = append(b, p...)
		}
		c.wbuf = b
		n, err := c.Conn.Write(b)
		c.out.Add(int64(n))
		return n, err
	}
	bufs := net.Buffers(v)
	n, err := bufs.WriteTo(c.Conn)
	c.out.Add(n)
	return int(n), err
}
