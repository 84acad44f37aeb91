package netx

import (
	"net"
	"testing"
	"time"
)

// A side that sends EOF and then stops reading (a tunnel stream whose far
// end closed completely) must not hold the join: the writes toward it fail
// after the stall bound and both ends close.
func TestJoinEndsWhenEndedPeerStopsReading(t *testing.T) {
	user, userPeer := tcpPair(t)
	link, linkPeer := tcpPair(t)
	// The link's far end sends EOF and never reads again.
	_ = linkPeer.(*net.TCPConn).CloseWrite()
	// The user keeps sending far more than socket buffers hold.
	go func() {
		buf := make([]byte, 64<<10)
		for range 1024 {
			_ = userPeer.SetWriteDeadline(time.Now().Add(5 * time.Second))
			if _, err := userPeer.Write(buf); err != nil {
				return
			}
		}
	}()
	done := make(chan struct{})
	go func() {
		defer close(done)
		Join(user, link, JoinOptions{Stall: 200 * time.Millisecond})
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Join still blocked 5s after the link's peer stopped reading (stall bound 200ms)")
	}
	_ = userPeer.Close()
	_ = linkPeer.Close()
}

func tcpPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(); _ = s.Close() })
	return c, s
}
