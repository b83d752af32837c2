package engineio

import (
	"bufio"
	"net"
	"net/http"
)

// wsReadBufferSize is the read buffer of a WebSocket connection. gorilla
// reuses a hijacked reader larger than 256 bytes, so this is the smallest
// size that lets the session own the reader (and see what it buffers).
const wsReadBufferSize = 512

// hijacker hands gorilla's Upgrader a bufio.Reader of our own, so that the
// session knows whether bytes are buffered: the idle poller may only park a
// connection whose reader holds nothing.
type hijacker struct {
	http.ResponseWriter
	br *bufio.Reader // set by Hijack; nil when net/http's reader was kept
	// progress, when set, counts what is read from the connection (the
	// probe of an upgrade), which Hijack then wraps in a countingConn.
	progress *probeProgress
}

func (h *hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	if brw.Reader.Buffered() > 0 {
		// The client sent data ahead of the handshake; gorilla refuses that
		// with the reader it sees, so it must see this one.
		return conn, brw, nil
	}
	if h.progress != nil {
		if tc, ok := tcpConnOf(conn); ok {
			h.progress.tcp.Store(tc)
		}
		conn = &countingConn{Conn: conn, progress: h.progress}
	}
	h.br = bufio.NewReaderSize(conn, wsReadBufferSize)
	return conn, bufio.NewReadWriter(h.br, brw.Writer), nil
}

// TCPWrapper is implemented by a net.Conn that wraps a *net.TCPConn and
// passes its bytes through unchanged and unbuffered: a listener's
// connection accounting, say. A WebSocket on such a connection is parked
// on the idle poller and written (vectored) through the TCP connection
// itself, as if it were not wrapped; it is still closed through the
// wrapper. (A *tls.Conn is not one: it buffers and transforms.)
type TCPWrapper interface {
	WrappedTCPConn() *net.TCPConn
}

// tcpConnOf returns the TCP connection under conn: conn itself, or what a
// TCPWrapper wraps.
func tcpConnOf(conn net.Conn) (*net.TCPConn, bool) {
	switch c := conn.(type) {
	case *net.TCPConn:
		return c, true
	case TCPWrapper:
		tc := c.WrappedTCPConn()
		return tc, tc != nil
	}
	return nil, false
}
