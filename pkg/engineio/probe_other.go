//go:build !linux

package engineio

import "net"

// kernelUnread reports false: only the probe's own read buffer is looked at.
func kernelUnread(*net.TCPConn) bool { return false }
