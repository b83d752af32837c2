//go:build linux

package engineio

import (
	"net"
	"sync"
	"syscall"
)

// epoll is the Linux idlePoller: one epoll instance, one goroutine waiting
// on it. Connections are registered EPOLLONESHOT, so exactly one reader runs
// per readiness, and only that reader re-arms. An event names its session by
// file descriptor and a generation, so a recycled descriptor's stale event
// is ignored.
//
// The system calls for one session are serialized by the session's pollMu
// and made under the read lock of mu, which only keeps the epoll descriptor
// open: thousands of sessions parking, re-arming and closing at once never
// queue behind each other's system calls.
type epoll struct {
	srv  *Server
	epfd int
	wake [2]int // pipe: writing to wake[1] ends the wait loop

	mu       sync.RWMutex
	sessions map[int32]*Session // guarded by mu; by descriptor
	gen      int32              // guarded by mu
	closed   bool               // guarded by mu; epfd is closed once set and no reader holds mu
}

func newIdlePoller(srv *Server) idlePoller {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil
	}
	p := &epoll{srv: srv, epfd: epfd, sessions: make(map[int32]*Session)}
	if err := syscall.Pipe2(p.wake[:], syscall.O_CLOEXEC|syscall.O_NONBLOCK); err != nil {
		syscall.Close(epfd)
		return nil
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(p.wake[0]), Pad: -1}
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, p.wake[0], &ev); err != nil {
		p.closeFDs()
		return nil
	}
	srv.wg.Add(1)
	go p.loop()
	return p
}

func (p *epoll) closeFDs() {
	syscall.Close(p.epfd)
	syscall.Close(p.wake[0])
	syscall.Close(p.wake[1])
}

// fdOf returns the descriptor of a plain (or plainly wrapped) TCP
// connection.
func fdOf(conn net.Conn) (int, bool) {
	tc, ok := tcpConnOf(conn)
	if !ok {
		return 0, false
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return 0, false
	}
	fd := -1
	if rc.Control(func(f uintptr) { fd = int(f) }) != nil || fd < 0 {
		return 0, false
	}
	return fd, true
}

const epollFlags = syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT

func (p *epoll) park(s *Session, conn net.Conn) bool {
	fd, ok := fdOf(conn)
	if !ok {
		return false
	}
	s.pollMu.Lock()
	defer s.pollMu.Unlock()
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return false
	}
	p.gen++
	s.pollFD, s.pollGen = int32(fd), p.gen
	p.sessions[s.pollFD] = s
	p.mu.Unlock()

	p.mu.RLock()
	var err error = syscall.EBADF
	if !p.closed {
		ev := syscall.EpollEvent{Events: epollFlags, Fd: s.pollFD, Pad: s.pollGen}
		err = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, fd, &ev)
	}
	p.mu.RUnlock()
	if err != nil {
		p.mu.Lock()
		delete(p.sessions, s.pollFD)
		p.mu.Unlock()
		s.pollFD = -1
		return false
	}
	return true
}

func (p *epoll) rearm(s *Session) bool {
	s.pollMu.Lock()
	defer s.pollMu.Unlock()
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed || s.pollFD < 0 {
		return false
	}
	ev := syscall.EpollEvent{Events: epollFlags, Fd: s.pollFD, Pad: s.pollGen}
	return syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_MOD, int(s.pollFD), &ev) == nil
}

func (p *epoll) forget(s *Session) {
	s.pollMu.Lock()
	defer s.pollMu.Unlock()
	if s.pollFD < 0 {
		return
	}
	p.mu.RLock()
	if !p.closed {
		_ = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, int(s.pollFD), nil)
	}
	p.mu.RUnlock()
	p.mu.Lock()
	delete(p.sessions, s.pollFD)
	p.mu.Unlock()
	s.pollFD = -1
}

func (p *epoll) close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	p.mu.Unlock()
	_, _ = syscall.Write(p.wake[1], []byte{0})
}

// loop waits for readable connections and starts a reader for each. It is
// tracked by the server's WaitGroup, so the readers it starts are counted
// before Shutdown's Wait can return.
func (p *epoll) loop() {
	defer p.srv.wg.Done()
	defer p.closeFDs()
	events := make([]syscall.EpollEvent, 256)
	for {
		n, err := syscall.EpollWait(p.epfd, events, -1)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			p.srv.log.Error("engineio: epoll wait", "err", err)
			return
		}
		for _, ev := range events[:n] {
			if ev.Pad == -1 {
				return // woken by close
			}
			p.mu.RLock()
			s := p.sessions[ev.Fd]
			if s != nil && s.pollGen != ev.Pad {
				s = nil // a recycled descriptor's stale event
			}
			p.mu.RUnlock()
			if s != nil {
				p.srv.wg.Add(1)
				go func() {
					defer p.srv.wg.Done()
					s.onReadable()
				}()
			}
		}
	}
}
