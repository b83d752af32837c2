package socketio

// SetConnectQueuedHook sets a function called on a connection's goroutine
// once a socket's CONNECT packet is queued (nil: none).
func SetConnectQueuedHook(fn func(*Socket)) {
	if fn == nil {
		connectQueued.Store(nil)
		return
	}
	connectQueued.Store(&fn)
}
