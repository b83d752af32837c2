package control

import "strings"

// BreakBus makes the NATS server close control's connection for good, the
// way an Emit to a room of 4,000 characters once did: a PUB line over the
// server's control-line limit (4 KB), after which nats.go does not
// reconnect.
func BreakBus(s *Server) error { return s.nc.Publish(strings.Repeat("x", 5000), nil) }
