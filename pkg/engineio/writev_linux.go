//go:build linux

package engineio

import (
	"net"
	"syscall"
	"unsafe"
)

// sysWriter makes non-blocking writev calls with an iovec array it keeps.
type sysWriter struct {
	iov []syscall.Iovec
}

// maxIovec is the kernel's limit on one writev's buffers (IOV_MAX).
const maxIovec = 1024

// writev writes as much of bufs to raw as the socket takes now, without
// waiting. n is what was written; an error means the connection cannot be
// written without waiting (EAGAIN, an expired deadline) or at all.
func (w *sysWriter) writev(raw syscall.RawConn, bufs [][]byte) (n int, err error) {
	w.iov = w.iov[:0]
	for _, b := range bufs[:min(len(bufs), maxIovec)] {
		if len(b) == 0 {
			continue
		}
		v := syscall.Iovec{Base: &b[0]}
		v.SetLen(len(b))
		w.iov = append(w.iov, v)
	}
	if len(w.iov) == 0 {
		return 0, nil
	}
	var errno syscall.Errno
	ctlErr := raw.Write(func(fd uintptr) bool {
		for {
			r, _, e := syscall.Syscall(syscall.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&w.iov[0])), uintptr(len(w.iov)))
			if e == syscall.EINTR {
				continue
			}
			n, errno = int(r), e
			return true // never wait: a pool writer does not block
		}
	})
	clear(w.iov) // no pointer into the frames is kept
	if ctlErr != nil {
		return 0, ctlErr
	}
	if errno != 0 {
		return 0, errno
	}
	return n, nil
}

func (w *sysWriter) release() { w.iov = nil }

// rawConnOf returns the raw connection of a plain (or plainly wrapped) TCP
// connection, which pool writers write without blocking.
func rawConnOf(conn net.Conn) syscall.RawConn {
	tc, ok := tcpConnOf(conn)
	if !ok {
		return nil
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}
