package client

import (
	"sync"

	"github.com/burrowproject/burrow/bridge"
)

// startHeartbeat measures the round trip to the bridge over the session's
// control stream (pings every bridge.HeartbeatInterval, answers to the
// bridge's pings) until the session ends. Its goroutine joins wg.
func (a *Agent) startHeartbeat(sess *bridge.Tunnel, wg *sync.WaitGroup) *bridge.Heartbeat {
	// The agent's half travels as control messages (bridge.ControlFor), on
	// the tunnel's one writer of them.
	hb := bridge.NewHeartbeat(func(marker uint32) error { return sess.Send(bridge.ControlFor(marker)) })
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
