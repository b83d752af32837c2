// Package daemon is what the edge and control binaries share around their
// service: the logger from --log-level, and a run until SIGINT or SIGTERM
// with the optional debug (pprof) server beside it.
package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/switchboard-rt/switchboard/internal/debugsrv"
)

// Logger is a text logger on stderr at level ("debug", "info", "warn" or
// "error").
func Logger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})), nil
}

// Run calls run with a context that ends on SIGINT or SIGTERM, serving Go
// profiles on debugAddr (empty: off) meanwhile; the debug server has stopped
// when Run returns.
func Run(debugAddr string, log *slog.Logger, run func(context.Context) error) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	_, wait, err := debugsrv.Start(ctx, debugAddr, log)
	if err != nil {
		stop()
		return fmt.Errorf("--debug-addr: %w", err)
	}
	defer wait()
	defer stop() // before wait: ending ctx stops the debug server
	return run(ctx)
}
