package edge

import "strings"

// BreakBus makes the NATS server close the edge's connection for good,
// the way an event name of 3,200 characters once did: a PUB line over the
// server's control-line limit (4 KB), after which nats.go does not
// reconnect.
func BreakBus(e *Edge) error {
	e.mu.Lock()
	c := e.cluster
	e.mu.Unlock()
	return c.nc.Publish(strings.Repeat("x", 5000), nil)
}
