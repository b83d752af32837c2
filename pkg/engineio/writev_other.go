//go:build !linux

package engineio

import (
	"errors"
	"net"
	"syscall"
)

// sysWriter is not used where rawConnOf returns nil: every WebSocket
// session has a writer goroutine of its own while it has frames.
type sysWriter struct{}

func (*sysWriter) writev(syscall.RawConn, [][]byte) (int, error) {
	return 0, errors.New("engineio: no non-blocking writev here")
}

func (*sysWriter) release() {}

func rawConnOf(net.Conn) syscall.RawConn { return nil }
