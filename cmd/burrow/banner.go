package main

import (
	"log/slog"
	"net"
	"strings"

	"github.com/burrowproject/burrow/conf"
	"github.com/burrowproject/burrow/web"
)

// Placeholders of the agent command line the master prints.
const (
	agentKeyPlaceholder   = "AGENT_KEY"   // the agent= of the instances it serves
	allowPlaceholder      = "HOST:PORT"   // what it may reach
	publicHostPlaceholder = "SERVER_HOST" // the bridge listens on every address
)

// newBridgeInfo describes a shared bridge listening on addr whose
// certificate has fingerprint fp, for /info and the banner. pin says
// agents should pin it (a self-signed certificate); otherwise they verify
// it by the system roots and the command line carries no fp=.
// carrier are the agent's parameters for a bridge that is not TCP.
func newBridgeInfo(addr, fp string, pin bool, carrier ...string) *web.BridgeInfo {
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
	for _, c := range carrier { // a bridge on another carrier than TCP: "type=2", "wspath=/t"
		q += c + "&"
	}
	// Single quotes: the line is logged as a quoted slog value, where
	// double quotes would be escaped and no longer paste into a shell.
	agent := "burrow 'client://" + agentKeyPlaceholder + "@" + net.JoinHostPort(host, port) + q + "allow=" + allowPlaceholder + "'"
	return &web.BridgeInfo{Addr: addr, TLS: true, FP: fp, Agent: agent}
}

// banner is what the master prints when it serves; the e2e framework
// reads its "Master started: ", "API: ", "API Key created: ",
// "API Key loaded: " and "Agent: " lines.
type banner struct {
	addr, root string // API address and root
	tls        conf.TLSMode
	fp         string // the API certificate's fingerprint (tls=1, 2)
	data       string // data= directory
	key        string // the API key
	created    bool   // the key was created at this start
	bridge     *web.BridgeInfo
}

func (b banner) print(log *slog.Logger) {
	log.Info("Master started: " + b.addr + b.root)
	base := "http://"
	if b.tls != conf.TLSOff {
		base = "https://"
	}
	api := base + b.addr + b.root
	switch b.tls {
	case conf.TLSOff:
		log.Info("API: " + api + " tls=0 (plain HTTP; tls=1 or tls=2 make it HTTPS)")
	case conf.TLSSelfSigned:
		also := ""
		if b.bridge != nil && b.bridge.FP == b.fp {
			also = "; the bridge serves it too"
		}
		log.Info("API: "+api+" tls=1 certificate fp="+b.fp+" (self-signed, kept in the data directory"+also+")", "fp", b.fp)
	case conf.TLSFiles:
		log.Info("API: "+api+" tls=2 certificate fp="+b.fp+" (the crt= and key= files)", "fp", b.fp)
	}
	// The whole key is printed once, when it is created; later starts show
	// a masked form, and `burrow key -data DIR` prints it on demand.
	key := "$(burrow key -data " + shellQuote(b.data) + ")"
	if b.created {
		key = b.key
		log.Info("API Key created: " + key)
	} else {
		log.Info("API Key loaded: " + maskKey(b.key) + " (print it with: burrow key -data " + shellQuote(b.data) + ")")
	}
	curl := "curl"
	if b.tls == conf.TLSSelfSigned {
		curl = "curl -k" // curl cannot pin a certificate's fingerprint; check fp= above
	}
	// No quotes: slog's text output escapes double quotes, and the line
	// must paste into a shell as it is.
	log.Info("Try: " + curl + " -H X-API-Key:" + key + " " + api + "/instances")
	if b.bridge != nil {
		log.Info("Agent: "+b.bridge.Agent, "fp", b.bridge.FP)
		if note := bridgeReach(b.bridge.Addr); note != "" {
			log.Info(note)
		}
	}
}

// bridgeReach says who can dial a bridge listening on addr when the agent
// line alone would not: a loopback bridge takes only this machine's agents;
// on every address, the agent line names the server by a placeholder.
func bridgeReach(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	ip := net.ParseIP(host)
	switch {
	case host == "localhost" || (ip != nil && ip.IsLoopback()):
		return "The bridge " + addr + " accepts only agents on this machine; to accept agents from elsewhere, start the master with bridge=0.0.0.0:" + port
	case host == "" || (ip != nil && ip.IsUnspecified()):
		return "In the agent line, replace " + publicHostPlaceholder + " with this server's public name or address"
	}
	return ""
}

// maskKey shows the first and last four characters of an API key.
func maskKey(key string) string {
	if len(key) <= 8 {
		return "********"
	}
	return key[:4] + "…" + key[len(key)-4:]
}

// shellQuote quotes s for a POSIX shell when it needs quoting.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:@%+=,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
