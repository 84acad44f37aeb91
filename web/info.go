package web

import (
	"net"
	"net/http"
	"runtime"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/burrowproject/burrow/conf"
)

// APIVersion is the NodePass version whose master API Burrow implements;
// /info reports it as "ver" (NodePassDash requires >= 1.10.0).
const APIVersion = "v1.14.0"

// Info is the body of GET and POST /info. Every field is always present.
type Info struct {
	MID       string `json:"mid"`
	Alias     string `json:"alias"`
	OS        string `json:"os"`
	Arch      string `json:"arch"`
	Ver       string `json:"ver"`
	Name      string `json:"name"`
	Log       string `json:"log"`
	TLS       string `json:"tls"`
	Crt       string `json:"crt"`
	Key       string `json:"key"`
	Uptime    int64  `json:"uptime"`
	CPU       int    `json:"cpu"`
	MemTotal  int64  `json:"mem_total"`
	MemUsed   int64  `json:"mem_used"`
	SwapTotal int64  `json:"swap_total"`
	SwapUsed  int64  `json:"swap_used"`
	NetRx     int64  `json:"netrx"`
	NetTx     int64  `json:"nettx"`
	DiskR     int64  `json:"diskr"`
	DiskW     int64  `json:"diskw"`
	SysUp     int64  `json:"sysup"`
	// Burrow extensions.
	Burrow string      `json:"burrow"`           // Burrow's own version
	Bridge *BridgeInfo `json:"bridge,omitempty"` // the shared bridge; absent without one
}

// BridgeInfo describes the master's shared bridge for agents: where it
// listens, whether it serves TLS, the certificate's fingerprint and the
// ready agent command line (with fp= when agents should pin it).
type BridgeInfo struct {
	Addr  string `json:"addr"`
	TLS   bool   `json:"tls"`
	FP    string `json:"fp"`
	Agent string `json:"agent"`
}

func (s *server) info(c *gin.Context) Info {
	master := s.opts.Master
	mid, alias := s.m.MasterInfo()
	host, _, err := net.SplitHostPort(master.Listen)
	if err != nil {
		host = master.Listen
	}
	in := Info{
		MID: mid, Alias: alias, OS: runtime.GOOS, Arch: runtime.GOARCH, Ver: APIVersion, Name: host,
		Log: master.Query.Get("log"), TLS: strconv.Itoa(int(master.Params.TLS)),
		Uptime: int64(time.Since(s.opts.Started).Seconds()), Burrow: s.opts.Version, Bridge: s.opts.Bridge,
	}
	if master.Params.TLS == conf.TLSFiles {
		in.Crt, in.Key = master.Params.Crt, master.Params.KeyFile
	}
	hostStats(c.Request.Context()).fill(&in)
	return in
}

func (s *server) getInfo(c *gin.Context) {
	c.JSON(http.StatusOK, s.info(c))
}

// postInfo sets the master alias: {"alias": "..."} (≤ 256 bytes, "" clears).
func (s *server) postInfo(c *gin.Context) {
	var body struct {
		Alias *string `json:"alias"`
	}
	if err := readObject(c, &body); err != nil || body.Alias == nil {
		fail(c, http.StatusBadRequest, msgBadBody)
		return
	}
	if err := s.m.SetMasterAlias(*body.Alias); err != nil {
		s.failErr(c, err)
		return
	}
	c.JSON(http.StatusOK, s.info(c))
}
