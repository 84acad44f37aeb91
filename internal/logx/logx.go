// Package logx builds the logger of a burrow process: one slog handler
// writing text (key=value) or JSON lines, at the level and in the format
// the instance URL's log= and log_format= name. Everything the process
// logs goes through it: the instance, a master's parts, the instances a
// master runs (through their own capturing handler, which forwards here)
// and the plugins' lines, which the plugin host re-emits.
package logx

import (
	"io"
	"log/slog"

	"github.com/burrowproject/burrow/conf"
)

// New returns the logger writing to w as p's log= and log_format= say.
func New(w io.Writer, p conf.Params) *slog.Logger {
	opts := &slog.HandlerOptions{Level: p.Log.SlogLevel()}
	if p.Format == conf.LogJSON {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
