package netx

import (
	"testing"
	"time"

	"github.com/burrowproject/burrow/internal/testutil"
)

// A side that sends EOF and then stops reading (a tunnel stream whose far
// end closed completely) must not hold the join: the writes toward it fail
// after the stall bound and both ends close.
func TestJoinEndsWhenEndedPeerStopsReading(t *testing.T) {
	user, userPeer := testutil.TCPPair(t)
	link, linkPeer := testutil.TCPPair(t)
	// The link's far end sends EOF and never reads again.
	_ = linkPeer.CloseWrite()
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
