// Package engineio implements the server side of the Engine.IO v4 protocol:
// the handshake, the HTTP long-polling and WebSocket transports, the upgrade
// from one to the other, and the heartbeat.
//
// It knows nothing of Socket.IO: a session carries opaque text and binary
// messages. The Socket.IO layer (package socketio) sits on top through the
// Handler and SessionHandler interfaces.
//
// # Concurrency
//
// Each WebSocket session has one reader goroutine (owned by the session, it
// runs the HTTP handler that accepted the connection) and at most one writer
// goroutine, started when there is something to write and gone when the
// outbound queue is empty. A long-polling session has no goroutine of its own:
// the pending GET request writes, POST requests read. Pings, pong deadlines and
// upgrade deadlines are driven by one scheduler goroutine per Server, not by a
// timer per session.
//
// SessionHandler.OnMessage is never called concurrently for one session, and
// always before OnClose. Session.Send may be called from any goroutine.
//
// # Deadlines
//
// Every request to the Engine.IO path sets its own read and write
// deadlines (Server.setDeadlines), whatever the HTTP server's timeouts: a
// long-polling GET may wait a heartbeat round, a POST body has
// Config.PostTimeout, a polling response Config.WriteTimeout. A WebSocket
// has none once hijacked but the writer's own, per write.
//
// Lock order: Server.mu before Session.mu; Session.dispatchMu before
// Session.mu; Session.mu before Scheduler.mu.
package engineio
