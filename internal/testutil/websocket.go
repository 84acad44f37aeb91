package testutil

import (
	"net/http"

	"github.com/gorilla/websocket"
)

// EchoWebSocket sends every message back with its type until c fails;
// gorilla's default handler answers pings with pongs.
func EchoWebSocket(c *websocket.Conn) {
	for {
		mt, msg, err := c.ReadMessage()
		if err != nil {
			return
		}
		if err := c.WriteMessage(mt, msg); err != nil {
			return
		}
	}
}

// WebSocketEcho is an HTTP handler that upgrades and runs EchoWebSocket.
func WebSocketEcho() http.Handler {
	up := websocket.Upgrader{ReadBufferSize: 32 << 10, WriteBufferSize: 32 << 10}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return // Upgrade has answered with an HTTP error
		}
		defer c.Close()
		EchoWebSocket(c)
	})
}
