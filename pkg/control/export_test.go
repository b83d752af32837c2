package control

import "strings"

// BreakBus makes the NATS server close control's connection for good, the
// way an Emit to a room of 4,000 characters once did: a PUB line over the
// server's control-line limit (4 KB), after which nats.go does not
// reconnect.
func BreakBus(s *Server) error { return s.nc.Publish(strings.Repeat("x", 5000), nil) }

// DropHeartbeatSubscription unsubscribes control's heartbeat subject at
// the NATS server behind its back, as a subscription that silently stopped
// would: the connection stays CONNECTED. restore subscribes it again.
func DropHeartbeatSubscription(s *Server) (restore func() error, err error) {
	if err := s.hbSub.Unsubscribe(); err != nil {
		return nil, err
	}
	return func() error {
		sub, err := s.nc.Subscribe(s.subj.Heartbeat(), s.onHeartbeat)
		if err != nil {
			return err
		}
		s.hbSub = sub
		return s.nc.Flush()
	}, nil
}
