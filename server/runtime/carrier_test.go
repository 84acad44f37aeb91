package runtime_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/burrowproject/burrow/internal/testutil"
	"github.com/burrowproject/burrow/server/runtime"
)

// NodePass pairs on every carrier: a server:// with type=N and its client
// with type=N (a pair's client end, unverified with a warning) carry TCP;
// a client without type= follows the server's carrier; a WebSocket server
// takes plain ws:// only with tls=0 written.
func TestServerCarriers(t *testing.T) {
	t.Parallel()
	rt := runtime.New(runtime.Options{})
	echo := echoBoth(t)
	for _, c := range []struct{ name, server, client string }{
		{"quic", "type=1", "type=1"},
		{"ws", "type=2&wspath=/t", "type=2&wspath=/t"},
		{"ws-plain", "type=2&tls=0", "type=2&tls=0"},
		{"h2", "type=3", "type=3"},
		{"follow-quic", "type=1", ""},
		{"follow-ws", "type=2&wspath=/w", ""},
	} {
		bridgePort, user := port(t), "127.0.0.1:"+strconv.Itoa(port(t))
		srv := start(t, rt, "srv-"+c.name, fmt.Sprintf("server://k-%s@127.0.0.1:%d/%s?%s", c.name, bridgePort, user, c.server))
		start(t, rt, "cli-"+c.name, fmt.Sprintf("client://k-%s@127.0.0.1:%d/127.0.0.1:%d?%s", c.name, bridgePort, echo, c.client))
		testutil.Eventually(t, testutil.Wait, 10*time.Millisecond, func() bool { return srv.Stats().Pool == 1 }, c.name+": client connected")
		tcpEcho(t, user, 1000)
	}

	bridgePort := port(t)
	start(t, rt, "srv-wss", fmt.Sprintf("server://kw@127.0.0.1:%d/127.0.0.1:%d?type=2", bridgePort, port(t)))
	plain := start(t, rt, "cli-ws", fmt.Sprintf("client://kw@127.0.0.1:%d/127.0.0.1:%d?type=2&tls=0", bridgePort, echo))
	testutil.Eventually(t, testutil.Wait, 10*time.Millisecond, func() bool {
		err := plain.Health()
		return err != nil && strings.Contains(err.Error(), "this bridge requires TLS")
	}, "plain ws:// client refused by a type=2 server without tls=0")
}
