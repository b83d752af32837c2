package engineio

// Hooks for the protocol tests of package engineio_test. A client cannot see
// that its long-polling request reached the server; these let a test wait for
// that instead of sleeping.

// PollState reports whether session sid has a GET waiting for packets and a
// POST being read. Both are false for an unknown session.
func PollState(srv *Server, sid string) (getWaiting, postReading bool) {
	s := srv.Session(sid)
	if s == nil {
		return false, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pollWake != nil, s.posting
}

// HoldWriters keeps the writer pool's writers, once they start, from
// writing until release is called, so that a test can queue frames for
// many sessions and see how they are written once the writers run. The
// server must have a pool (Config.Writers > 0) and no writer running.
func HoldWriters(srv *Server) (release func()) {
	srv.writers.hold.Lock()
	return srv.writers.hold.Unlock
}
