// Package testlog gives tests a logger for the code they start.
package testlog

import (
	"io"
	"log/slog"
	"sync"
	"testing"
)

// New returns a logger that writes warnings and errors into the test's
// output while it runs, and drops what late goroutines (NATS callbacks
// after Close, say) log once the test has ended.
func New(t testing.TB) *slog.Logger {
	w := &writer{w: t.Output()}
	t.Cleanup(w.close) // registered first: runs after every other cleanup
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type writer struct {
	mu sync.Mutex
	w  io.Writer // guarded by mu; nil once the test ended
}

func (w *writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.w == nil {
		return len(p), nil
	}
	return w.w.Write(p)
}

func (w *writer) close() {
	w.mu.Lock()
	w.w = nil
	w.mu.Unlock()
}
