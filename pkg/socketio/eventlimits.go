package socketio

import (
	"sync/atomic"

	"golang.org/x/time/rate"
)

// Defaults of the limits on what one socket may send (Config).
const (
	// DefaultMaxEventNameLen is Config.MaxEventNameLen's default, in bytes:
	// as long as a namespace's name may be.
	DefaultMaxEventNameLen = 256
	// DefaultEventRate is Config.EventRate's default, events a second;
	// Config.EventBurst's is five times the rate (500): a page may send a
	// few hundred events at once (test/browser's echo page sends 200
	// right after other events) and never see one dropped.
	DefaultEventRate = 100
)

// eventLimits are the server's limits on a socket's events, and what they
// dropped.
type eventLimits struct {
	maxName int        // <= 0: no bound
	rate    rate.Limit // 0: no limit
	burst   int

	droppedRate atomic.Uint64
	droppedName atomic.Uint64
}

func (l *eventLimits) init(cfg Config) {
	l.maxName = cfg.MaxEventNameLen
	if cfg.EventRate > 0 {
		l.rate, l.burst = rate.Limit(cfg.EventRate), cfg.EventBurst
		if l.burst <= 0 {
			l.burst = 5 * cfg.EventRate
		}
	}
}

// admitEvent reports whether the socket's client event named name is to be
// handled. One that is not is dropped, whatever it is (with an ack id or
// not), and counted: no handler sees it, and the client's own ack timeout
// fires if it asked for one. The socket and its connection go on. It runs
// on the connection's message path, never concurrently for one socket.
func (s *Socket) admitEvent(name string) bool {
	l := &s.ns.srv.events
	if l.maxName > 0 && len(name) > l.maxName {
		l.droppedName.Add(1)
		return false
	}
	if l.rate == 0 {
		return true
	}
	if s.eventRate == nil {
		// Made on the first event: a socket that sends none costs nothing.
		s.eventRate = rate.NewLimiter(l.rate, l.burst)
	}
	if !s.eventRate.Allow() {
		l.droppedRate.Add(1)
		return false
	}
	return true
}
