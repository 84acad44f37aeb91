package web

import (
	"context"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

const (
	maxTCPing     = 10              // probes running at once
	tcpingQueue   = time.Second     // how long the 11th waits for a slot
	tcpingTimeout = 5 * time.Second // one connect
)

// TCPingResult is the body of GET /tcping.
type TCPingResult struct {
	Target    string  `json:"target"`
	Connected bool    `json:"connected"`
	Latency   int64   `json:"latency"` // ms
	Error     *string `json:"error"`   // null on success
}

// tcpingHandler makes one TCP connection from the master to ?target=.
func (s *server) tcpingHandler(c *gin.Context) {
	target := c.Query("target")
	if target == "" {
		fail(c, http.StatusBadRequest, msgTargetRequired)
		return
	}
	c.JSON(http.StatusOK, s.probe(c.Request.Context(), target))
}

func (s *server) probe(ctx context.Context, target string) TCPingResult {
	res := TCPingResult{Target: target}
	failed := func(msg string) TCPingResult {
		res.Error = &msg
		return res
	}
	wait := time.NewTimer(tcpingQueue)
	defer wait.Stop()
	select {
	case s.tcping <- struct{}{}:
		defer func() { <-s.tcping }()
	case <-wait.C:
		return failed("too many requests")
	case <-ctx.Done():
		return failed(ctx.Err().Error())
	}
	ctx, cancel := context.WithTimeout(ctx, tcpingTimeout)
	defer cancel()
	start := time.Now()
	conn, err := s.opts.Dialer.DialContext(ctx, "tcp", target)
	if err != nil {
		return failed(err.Error())
	}
	res.Latency = time.Since(start).Milliseconds()
	_ = conn.Close()
	res.Connected = true
	return res
}
