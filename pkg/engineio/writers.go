package engineio

import (
	"sync"
	"syscall"
)

// writerPool writes the WebSocket frames of sessions that have some queued,
// from at most max goroutines, whatever the number of sessions. A session
// with frames is on the ready list at most once (Session.writing); a writer
// takes it off, writes everything it has queued with one non-blocking
// writev, and puts it back at the end of the list if more came meanwhile.
// So a burst of messages to many sockets costs one system call per socket
// per turn of the list, carrying all its frames, and no goroutine per
// socket: the more sockets, the more frames each write carries.
//
// A write the kernel cannot take at once (a full socket buffer: a slow
// reader), a failed one, and a session that is closing are handed to a
// goroutine of the session's own, the blocking writer (writeLoop), which
// writes the rest with the write deadline and returns the session to the
// pool once its queue is empty. A pool writer never waits on a client.
//
// Writers start when the list has work and end when it is empty. A session
// on the list counts in Server.wg until a writer is done with it, as a
// writer goroutine does, so Shutdown waits for its frames.
type writerPool struct {
	srv *Server
	max int

	mu      sync.Mutex
	ready   []*Session // guarded by mu; ready[head:] waits, in order
	head    int        // guarded by mu
	running int        // guarded by mu; writer goroutines

	// hold, write-locked by a test (HoldWriters), keeps writers that start
	// from taking sessions until it is released.
	hold sync.RWMutex
}

// push puts s, which has frames and a raw connection, on the ready list.
// The caller holds s.mu and has set s.writing.
func (p *writerPool) push(s *Session) {
	p.srv.wg.Add(1)
	p.mu.Lock()
	if p.head > 0 && len(p.ready) == cap(p.ready) {
		n := copy(p.ready, p.ready[p.head:])
		clear(p.ready[n:])
		p.ready, p.head = p.ready[:n], 0
	}
	p.ready = append(p.ready, s)
	start := p.running < p.max
	if start {
		p.running++
	}
	p.mu.Unlock()
	if start {
		go p.work()
	}
}

// pop takes the next ready session; when there is none it counts the
// calling writer out and returns nil.
func (p *writerPool) pop() *Session {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.head == len(p.ready) {
		p.ready, p.head = p.ready[:0], 0
		if cap(p.ready) > 4096 {
			p.ready = nil // a huge burst's list is not kept
		}
		p.running--
		return nil
	}
	s := p.ready[p.head]
	p.ready[p.head] = nil
	p.head++
	return s
}

func (p *writerPool) work() {
	p.hold.RLock()
	p.hold.RUnlock() // empty: it only waits for a test's HoldWriters
	var w rawWriter
	for {
		s := p.pop()
		if s == nil {
			w.release()
			return
		}
		p.serve(s, &w)
		p.srv.wg.Done()
	}
}

// serve writes what s has queued, once.
func (p *writerPool) serve(s *Session, w *rawWriter) {
	s.mu.Lock()
	switch {
	case s.state == stateClosed, len(s.queue) == 0 && s.state == stateOpen:
		// Gone, or nothing to write: off the pool until the next frame.
		s.writing = false
		s.mu.Unlock()
		return
	case len(s.queue) == 0 || s.raw == nil:
		// Closing: the blocking writer sends the close frame and tears
		// down. (No raw connection: it writes the frames too.)
		s.mu.Unlock()
		s.handOff(nil)
		return
	}
	raw := s.raw
	batch := s.takeQueueLocked()
	s.mu.Unlock()

	rest, ok := w.write(s.srv, raw, batch)
	s.srv.framesWritten.Add(uint64(len(batch) - len(rest))) // a frame partly written counts where it ends
	s.recycle(batch)
	if !ok {
		s.handOff(rest)
		return
	}
	s.mu.Lock()
	if len(s.queue) == 0 && s.state == stateOpen {
		s.writing = false
		s.mu.Unlock()
		return
	}
	p.push(s) // more came meanwhile (or it is closing): its next turn
	s.mu.Unlock()
}

// handOff starts the session's blocking writer, which writes rest (what a
// pool writer could not) and then the queue. s.writing stays set.
func (s *Session) handOff(rest [][]byte) {
	s.srv.handOffs.Add(1)
	s.srv.wg.Add(1)
	go s.runBlockingWriter(rest)
}

func (s *Session) runBlockingWriter(rest [][]byte) {
	defer s.srv.wg.Done()
	s.mu.Lock()
	conn := s.ws
	s.mu.Unlock()
	if conn == nil {
		s.mu.Lock()
		s.writing = false
		s.mu.Unlock()
		return
	}
	s.writeLoopFrom(conn, rest)
}

// recycle keeps an emptied batch as the session's next queue.
func (s *Session) recycle(batch []*Message) {
	clear(batch)
	s.mu.Lock()
	if s.spare == nil && cap(batch) <= 64 {
		s.spare = batch[:0]
	}
	s.mu.Unlock()
}

// rawWriter is a pool writer's scratch space for non-blocking writes.
type rawWriter struct {
	bufs [][]byte
	sys  sysWriter
}

func (w *rawWriter) release() {
	clear(w.bufs)
	w.bufs = w.bufs[:0]
	w.sys.release()
}

// write writes the frames of batch to raw without waiting. It reports
// whether they were all written; if not, rest is what remains (all of it
// when nothing could be written, or when the connection failed: the
// blocking writer then finds out why).
func (w *rawWriter) write(srv *Server, raw syscall.RawConn, batch []*Message) (rest [][]byte, ok bool) {
	w.bufs = w.bufs[:0]
	for _, m := range batch {
		w.bufs = append(w.bufs, m.frame())
	}
	bufs := w.bufs
	for len(bufs) > 0 {
		n, err := w.sys.writev(raw, bufs)
		if err != nil {
			break
		}
		srv.writes.Add(1)
		bufs = consume(bufs, n)
		if n == 0 {
			break
		}
	}
	if len(bufs) == 0 {
		clear(w.bufs)
		return nil, true
	}
	rest = make([][]byte, len(bufs))
	copy(rest, bufs)
	clear(w.bufs)
	return rest, false
}

// consume drops the first n bytes of bufs.
func consume(bufs [][]byte, n int) [][]byte {
	for len(bufs) > 0 && n >= len(bufs[0]) {
		n -= len(bufs[0])
		bufs = bufs[1:]
	}
	if len(bufs) > 0 && n > 0 {
		bufs[0] = bufs[0][n:]
	}
	return bufs
}
