package daemon

import (
	"log/slog"
	"os"
	"syscall"
	"testing"
	"time"
)

// TestWatchSignals: the first signal cancels (a graceful stop), the second
// exits at once; closing done ends the watch without either.
func TestWatchSignals(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	sigs := make(chan os.Signal, 1)
	done := make(chan struct{})
	cancelled, exited := make(chan struct{}), make(chan struct{})
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		watchSignals(sigs, done, func() { close(cancelled) }, log, func() { close(exited) })
	}()
	sigs <- syscall.SIGTERM
	select {
	case <-cancelled:
	case <-time.After(2 * time.Second):
		t.Fatal("first signal: not cancelled")
	}
	select {
	case <-exited:
		t.Fatal("exited on the first signal")
	default:
	}
	sigs <- os.Interrupt
	select {
	case <-exited:
	case <-time.After(2 * time.Second):
		t.Fatal("second signal: no exit")
	}
	<-ended

	// No signal: done ends the watch, nothing called.
	done2 := make(chan struct{})
	ended2 := make(chan struct{})
	go func() {
		defer close(ended2)
		watchSignals(make(chan os.Signal), done2, func() { t.Error("cancelled") }, log, func() { t.Error("exited") })
	}()
	close(done2)
	select {
	case <-ended2:
	case <-time.After(2 * time.Second):
		t.Fatal("watch did not end with done")
	}
	close(done)
}
