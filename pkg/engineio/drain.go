package engineio

import (
	"context"
	"net/http"
	"time"
)

// ReasonServerDraining is the close reason of the sessions Drain closes.
const ReasonServerDraining = "server draining"

// errDraining answers a handshake while the server drains: 503, so that a
// balancer or a client tries another server, with the code of a refused
// request.
var errDraining = &protocolError{http.StatusServiceUnavailable, 4, "Server draining"}

// drainStep is the shortest wait between two closes of a drain: sessions
// whose turns fall closer together are closed in one go.
const drainStep = 5 * time.Millisecond

// Drain refuses new handshakes from now on (HTTP 503, {"code":4,
// "message":"Server draining"}) and closes the open sessions one by one,
// their turns spread evenly over window (the first at once, the last at
// window less one share), so that the clients, which reconnect on an
// Engine.IO close, do not all come back at the same moment. Each session
// is closed as Close does: its queue flushed, then the close packet (to
// the pending GET of a polling session) or the WebSocket close frame. The
// official clients see "transport close" and reconnect.
//
// Drain returns once every session it found has been closed (their
// flushes may still be under way: Shutdown waits for them), or when ctx
// ends, leaving the rest to Shutdown. Requests of open sessions are served
// meanwhile, WebSocket upgrades included. A zero or negative window closes
// every session at once. Drain is meant to be followed by Shutdown; it
// may be called once.
func (s *Server) Drain(ctx context.Context, window time.Duration) error {
	s.draining.Store(true)
	s.mu.Lock()
	all := make([]*Session, 0, len(s.sessions))
	for _, sess := range s.sessions {
		all = append(all, sess) // map order: no client is always first
	}
	s.mu.Unlock()
	if window < 0 {
		window = 0
	}
	n := len(all)
	turn := func(i int) time.Duration {
		return time.Duration(float64(window) * float64(i) / float64(n))
	}
	start := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for i := 0; i < n; {
		if wait := turn(i) - time.Since(start); wait > 0 {
			timer.Reset(max(wait, drainStep))
			select {
			case <-timer.C:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		for now := time.Since(start); i < n && turn(i) <= now; i++ {
			all[i].close(ReasonServerDraining, true)
		}
	}
	return nil
}

// Draining reports whether Drain has been called.
func (s *Server) Draining() bool { return s.draining.Load() }
