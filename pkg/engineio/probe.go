package engineio

import (
	"net"
	"sync/atomic"
)

// probeProgress tells a polling GET that arrives during an upgrade whether
// the probe has handled everything its client sent so far. A client that
// writes "2probe" and "5" back to back and then GETs has upgraded before
// that GET: the GET waits until the probe has caught up (upgraded, or
// still probing with nothing unread), rather than find the session
// halfway and get a noop.
type probeProgress struct {
	tcp  atomic.Pointer[net.TCPConn] // the TCP connection under the WebSocket, for its receive queue; set by Hijack
	read atomic.Int64                // bytes read from the WebSocket: by its reader, read by GETs
	done int64                       // guarded by Session.mu; the bytes of read the probe has handled
	wake chan struct{}               // guarded by Session.mu; closed (and replaced) when done moves or the probe ends
}

func newProbeProgress() *probeProgress { return &probeProgress{wake: make(chan struct{})} }

// countingConn is the connection of a probe: what is read from it is
// counted in its probeProgress. It wraps the hijacked connection, not only
// its reader, because gorilla resets the reader it is given onto the
// connection it is given.
type countingConn struct {
	net.Conn
	progress *probeProgress
}

func (c *countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.progress.read.Add(int64(n))
	return n, err
}

// WrappedTCPConn makes countingConn a TCPWrapper: it passes the bytes
// through unchanged and unbuffered.
func (c *countingConn) WrappedTCPConn() *net.TCPConn {
	tc, _ := tcpConnOf(c.Conn)
	return tc
}

// movedLocked records that the probe has handled all it read but what its
// read buffer still holds, and wakes the GETs waiting for it. Called by the
// probe's reader, with Session.mu held.
func (p *probeProgress) movedLocked(buffered int) {
	p.done = p.read.Load() - int64(buffered)
	close(p.wake)
	p.wake = make(chan struct{})
}

// unreadLocked reports whether the probe's client has sent bytes that the
// probe has not handled yet: read into its buffer, or still in the
// kernel's receive queue.
func (p *probeProgress) unreadLocked() bool {
	if p.read.Load() > p.done {
		return true
	}
	tc := p.tcp.Load()
	return tc != nil && kernelUnread(tc)
}
