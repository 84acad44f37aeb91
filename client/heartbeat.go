package client

import (
	"encoding/binary"
	"sync"
	"time"

	"github.com/burrowproject/burrow/bridge"
)

// controlWriteTimeout bounds one heartbeat write on the control stream.
const controlWriteTimeout = time.Second

// startHeartbeat measures the round trip to the bridge over the session's
// control stream (pings every bridge.HeartbeatInterval, answers to the
// bridge's pings) until the session ends. Its goroutine joins wg.
func (a *Agent) startHeartbeat(sess *bridge.Tunnel, wg *sync.WaitGroup) *bridge.Heartbeat {
	var mu sync.Mutex
	send := func(msg uint32) error {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], msg)
		mu.Lock()
		defer mu.Unlock()
		_ = sess.Control.SetWriteDeadline(time.Now().Add(controlWriteTimeout))
		_, err := sess.Control.Write(b[:])
		return err
	}
	hb := bridge.NewHeartbeat(send)
	a.hb.Store(hb)
	wg.Go(func() { hb.Run(sess.CloseChan()) })
	return hb
}

// Ping is the tunnel's last measured round trip in milliseconds, 0 while
// it is down or not measured yet.
func (a *Agent) Ping() int {
	if hb := a.hb.Load(); hb != nil && a.up.Load() {
		return bridge.PingMillis(hb.RTT())
	}
	return 0
}
