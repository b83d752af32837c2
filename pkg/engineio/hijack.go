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
	h.br = bufio.NewReaderSize(conn, wsReadBufferSize)
	return conn, bufio.NewReadWriter(h.br, brw.Writer), nil
}
