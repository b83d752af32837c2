//go:build !linux

package engineio

// newIdlePoller returns nil: every WebSocket session gets a reader goroutine.
func newIdlePoller(*Server) idlePoller { return nil }
