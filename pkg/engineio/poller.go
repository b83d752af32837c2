package engineio

import (
	"bufio"
	"net"

	"github.com/gorilla/websocket"
)

// idlePoller parks idle WebSocket connections without a goroutine: the
// kernel tells when one has bytes to read, and a short-lived goroutine reads
// what is there. An idle connection then costs its buffers and structs, not
// a blocked goroutine's stack. Where no poller exists (other systems, TLS
// connections), each WebSocket session has a reader goroutine instead.
type idlePoller interface {
	// park registers s; ready is called (on a new goroutine) once conn is
	// readable. It reports false when s cannot be parked.
	park(s *Session, conn net.Conn) bool
	// rearm waits for the next readability of a parked session.
	rearm(s *Session) bool
	// forget unregisters s; call it before closing the connection.
	forget(s *Session)
	close()
}

// startReader runs the session's WebSocket reads: parked on the poller
// when possible, else on a reader goroutine. It is called on a goroutine
// the server tracks, which it may return from.
func (s *Session) startReader(conn *websocket.Conn, br *bufio.Reader) {
	s.readBuf = br
	if s.srv.poller != nil && br != nil && br.Buffered() == 0 && s.srv.poller.park(s, conn.NetConn()) {
		return
	}
	s.readWebSocket(conn)
}

// onReadable runs on a fresh goroutine when a parked connection has bytes:
// it reads every message that is there, then parks the connection again.
func (s *Session) onReadable() {
	// The previous reader re-armed the connection holding pollMu and was
	// done with the read buffer then: taking pollMu makes that hand-over
	// (made by the kernel) visible to the memory model and the race detector.
	s.pollMu.Lock()
	s.pollMu.Unlock()
	s.mu.Lock()
	conn := s.ws
	s.mu.Unlock()
	if conn == nil {
		return
	}
	for {
		if !s.readMessage(conn) {
			return
		}
		if s.readBuf.Buffered() == 0 {
			break
		}
	}
	if !s.srv.poller.rearm(s) {
		// Could not wait on the kernel: fall back to a reader goroutine.
		s.readWebSocket(conn)
	}
}
