package main

import (
	"context"
	"errors"
	"log/slog"

	"github.com/burrowproject/burrow/conf"
)

// runMaster runs the daemon with its admin API.
func runMaster(ctx context.Context, inst *conf.Instance, log *slog.Logger) error {
	return errors.New("master mode is not available in this build yet")
}
