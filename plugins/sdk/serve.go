package sdk

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"github.com/burrowproject/burrow/plugins/sdk/fdlink"
)

// ServeOptions tune ServeWith. The zero value is what Serve uses.
type ServeOptions struct {
	// ProtocolVersion overrides the protocol version the plugin offers
	// (0 = ProtocolVersion). Only tests of version negotiation set it.
	ProtocolVersion int
	// Logger replaces the plugin's logger (JSON lines in hclog's format on
	// the process's original stderr, which the host re-logs).
	Logger *slog.Logger
}

// Serve runs h as a plugin process: it is the whole body of a handler
// plugin's main, e.g.
//
//	func main() { sdk.Serve(tcp.New()) }
//
// It serves h's control service with go-plugin (gRPC) and its end of the
// fd link the host passed, and returns when the plugin should exit: when
// the host closes the fd link (the host exited or let the plugin go) or
// go-plugin stops serving. main should return right after. A binary run by
// hand, without the host's handshake, prints an explanation and returns.
func Serve(h Handler) { ServeWith(h, ServeOptions{}) }

// ServeWith is Serve with options.
func ServeWith(h Handler, o ServeOptions) {
	// plugin.Serve swaps os.Stderr for a pipe streamed over gRPC; logs go
	// to the real one, which the host reads line by line.
	stderr := os.Stderr
	log := o.Logger
	if log == nil {
		log = NewLogger(stderr, os.Getenv(EnvLogLevel))
	}
	if os.Getenv(MagicCookieKey) != MagicCookieValue {
		fmt.Fprintln(stderr, "This binary is a Burrow handler plugin. The Burrow server runs it; it is not meant to be run by hand.")
		return
	}
	link, err := linkFromEnv()
	if err != nil {
		log.Error("plugin cannot start", "err", err)
		return
	}
	srv := NewPluginServer(h, link, log)
	linkDone := make(chan error, 1)
	go func() { linkDone <- srv.Run() }()
	served := make(chan struct{})
	go func() {
		defer close(served)
		plugin.Serve(&plugin.ServeConfig{
			HandshakeConfig:  HandshakeConfig(o.ProtocolVersion),
			VersionedPlugins: map[int]plugin.PluginSet{int(HandshakeConfig(o.ProtocolVersion).ProtocolVersion): srv.Plugins()},
			GRPCServer:       plugin.DefaultGRPCServer,
			Logger: hclog.New(&hclog.LoggerOptions{Name: "go-plugin", Output: stderr, JSONFormat: true,
				Level: hclog.LevelFromString(levelName(os.Getenv(EnvLogLevel)))}),
		})
	}()
	select {
	case err := <-linkDone:
		if err != nil {
			log.Error("fd link failed, exiting", "err", err)
		} else {
			log.Debug("fd link closed by the host, exiting")
		}
	case <-served:
		log.Debug("plugin server stopped, exiting")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		srv.Shutdown(ctx)
		cancel()
		_ = link.Close()
	}
}

// linkFromEnv adopts the fd link the host passed.
func linkFromEnv() (*fdlink.Conn, error) {
	v := os.Getenv(EnvFDLink)
	if v == "" {
		return nil, fmt.Errorf("no fd link: %s is not set (this plugin needs a Burrow server that passes one)", EnvFDLink)
	}
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 3 {
		return nil, fmt.Errorf("no fd link: %s=%q is not a descriptor number", EnvFDLink, v)
	}
	return fdlink.FromFile(os.NewFile(uintptr(fd), "fdlink"))
}

func levelName(s string) string {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "debug", "trace":
		return "debug"
	case "warn", "warning":
		return "warn"
	case "error":
		return "error"
	}
	return "info"
}

// hclogTime is the timestamp layout go-plugin's host parses in a plugin's
// JSON log lines.
const hclogTime = "2006-01-02T15:04:05.000000Z07:00"

// NewLogger returns a logger writing JSON lines with hclog's keys (@level,
// @message, @timestamp) to w, so that a go-plugin host re-logs each line at
// its level with its fields. level is debug, info, warn or error ("" =
// info).
func NewLogger(w io.Writer, level string) *slog.Logger {
	var lv slog.Level
	switch levelName(level) {
	case "debug":
		lv = slog.LevelDebug
	case "warn":
		lv = slog.LevelWarn
	case "error":
		lv = slog.LevelError
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: lv, ReplaceAttr: hclogKeys}))
}

func hclogKeys(groups []string, a slog.Attr) slog.Attr {
	if len(groups) > 0 {
		return a
	}
	switch a.Key {
	case slog.TimeKey:
		return slog.String("@timestamp", a.Value.Time().Format(hclogTime))
	case slog.LevelKey:
		lv, _ := a.Value.Any().(slog.Level)
		name := "info"
		switch {
		case lv < slog.LevelInfo:
			name = "debug"
		case lv >= slog.LevelError:
			name = "error"
		case lv >= slog.LevelWarn:
			name = "warn"
		}
		return slog.String("@level", name)
	case slog.MessageKey:
		return slog.String("@message", a.Value.String())
	}
	return a
}
