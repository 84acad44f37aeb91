package master

import (
	"net"

	"github.com/burrowproject/burrow/web"
)

// BridgeInfo describes the shared bridge for /info and the start banner.
type BridgeInfo = web.BridgeInfo

// Placeholders of the agent command line the master prints.
const (
	agentKeyPlaceholder   = "AGENT_KEY"   // the agent= of the instances it serves
	allowPlaceholder      = "HOST:PORT"   // what it may reach
	publicHostPlaceholder = "SERVER_HOST" // the bridge listens on every address
)

// NewBridgeInfo describes a shared bridge listening on addr whose
// certificate has fingerprint fp. pin says agents should pin it (a
// self-signed certificate); otherwise they verify it by the system roots
// and the command line carries no fp=.
// carrier are the agent's parameters for a bridge that is not TCP
// ("type=2", "wspath=/t").
func NewBridgeInfo(addr, fp string, pin bool, carrier ...string) *BridgeInfo {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		host, port = addr, ""
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = publicHostPlaceholder
	}
	q := "?"
	if pin {
		q += "fp=" + fp + "&"
	}
	for _, c := range carrier {
		q += c + "&"
	}
	// Single quotes: the line is logged as a quoted slog value, where
	// double quotes would be escaped and no longer paste into a shell.
	agent := "burrow 'client://" + agentKeyPlaceholder + "@" + net.JoinHostPort(host, port) + q + "allow=" + allowPlaceholder + "'"
	return &BridgeInfo{Addr: addr, TLS: true, FP: fp, Agent: agent}
}
