package edge

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// errDraining is Ready's answer while the edge drains.
var errDraining = errors.New("draining")

// CheckDrainWindow checks a drain window against the shutdown timeout
// that bounds the whole drain: not negative, and shorter, so that the last
// clients told to go still have time to get their queued packets.
func CheckDrainWindow(window, shutdownTimeout time.Duration) error {
	if window < 0 {
		return errors.New("must not be negative")
	}
	if window >= shutdownTimeout {
		return fmt.Errorf("must be shorter than the drain timeout (%v)", shutdownTimeout)
	}
	return nil
}

// drain is the first half of a graceful stop, before Shutdown: Ready says
// "draining" from now on, new handshakes are refused (HTTP 503), and the
// open sessions are closed one by one over DrainWindow, each after its
// queued packets, with an Engine.IO close (the close packet to a polling
// client's pending GET, a close frame on a WebSocket) that the official
// clients answer by reconnecting ("transport close"; see docs/protocol.md,
// "Drain"). Meanwhile the edge stays on the bus: emits still reach the
// sockets not yet closed, and the requests of open sessions are served
// (a polling client's POST may come on a new TCP connection, which is why
// the listener stays open until Shutdown). It returns once every session
// has been told, or when ctx ends (Shutdown then closes the rest at once).
func (e *Edge) drain(ctx context.Context) {
	e.mu.Lock()
	if e.cluster != nil {
		// Losing NATS from now on is part of stopping (a Ctrl-C reaches
		// control too), not a warning; the edge stays on the bus meanwhile.
		e.cluster.leave()
	}
	e.mu.Unlock()
	n := e.sio.Engine().Stats().Sessions
	e.log.Info("edge: draining", "sessions", n, "window", e.cfg.DrainWindow, "timeout", e.cfg.ShutdownTimeout)
	start := time.Now()
	if err := e.sio.Engine().Drain(ctx, e.cfg.DrainWindow); err != nil {
		e.log.Warn("edge: drain cut short by the drain timeout; closing the rest at once", "err", err)
		return
	}
	e.log.Info("edge: drained", "sessions", n, "took", time.Since(start).Round(time.Millisecond))
}
