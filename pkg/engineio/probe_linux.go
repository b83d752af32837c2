//go:build linux

package engineio

import (
	"net"
	"syscall"
	"unsafe"
)

// fionread is Linux's FIONREAD (TIOCINQ): the bytes a socket's receive
// queue holds.
const fionread = 0x541B

// kernelUnread reports whether conn's receive queue holds bytes.
func kernelUnread(conn *net.TCPConn) bool {
	rc, err := conn.SyscallConn()
	if err != nil {
		return false
	}
	var n int32
	var errno syscall.Errno
	if err := rc.Control(func(fd uintptr) {
		_, _, errno = syscall.Syscall(syscall.SYS_IOCTL, fd, fionread, uintptr(unsafe.Pointer(&n)))
	}); err != nil || errno != 0 {
		return false
	}
	return n > 0
}
