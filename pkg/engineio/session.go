package engineio

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
)

type sessionState uint8

const (
	stateOpen    sessionState = iota
	stateClosing              // server-initiated close: flushing the queue
	stateClosed
)

// Session is one Engine.IO connection, whatever its transport.
type Session struct {
	srv     *Server
	id      string
	req     RequestInfo
	handler SessionHandler // guarded by dispatchMu; set by open, then read-only

	// dispatchMu serializes calls into handler; handlerDone (guarded by it)
	// stops OnMessage calls once OnClose ran.
	dispatchMu  sync.Mutex
	handlerDone bool

	mu           sync.Mutex
	state        sessionState    // guarded by mu
	transport    string          // guarded by mu; changes once, on upgrade
	queue        []*Message      // guarded by mu; outbound packets not yet written
	queueBytes   int             // guarded by mu; queuedSize of queue
	spare        []*Message      // guarded by mu; an emptied queue kept while the writer runs
	pollWake     chan struct{}   // guarded by mu; non-nil while a GET waits for packets
	polling      bool            // guarded by mu; a GET is in progress
	posting      bool            // guarded by mu; a POST is in progress
	ws           *websocket.Conn // guarded by mu; the WebSocket once upgraded or opened directly
	raw          syscall.RawConn // guarded by mu; ws's TCP connection, for the writer pool; nil: no pool
	writing      bool            // guarded by mu; a writer has the queue: on the pool's list, in a pool writer, or a goroutine of its own
	probing      bool            // guarded by mu; the probe slot is taken: one WebSocket at a time may be probed
	probe        *websocket.Conn // guarded by mu; the WebSocket being probed for an upgrade
	upgrading    bool            // guarded by mu; the probe answered, GETs get a noop
	progress     *probeProgress  // guarded by mu; what the probe has handled, while there is one
	released     bool            // guarded by mu; the GET waiting at "2probe" was released for the upgrade
	awaitingPong bool            // guarded by mu
	closeReason  string          // guarded by mu; set when the session leaves stateOpen
	sentPackets  uint64          // guarded by mu; packets queued to the client (Server.Stats sums them)
	sentBytes    uint64          // guarded by mu; their payload bytes
	flushing     bool            // guarded by mu; closing, with the queue still to be written

	readBuf       *bufio.Reader // the WebSocket's read buffer, owned by whoever reads
	writeDeadline time.Duration // since monoEpoch; owned by the running writer (handed over under mu)
	pollMu        sync.Mutex    // serializes the idle poller's calls for this session
	pollFD        int32         // descriptor registered with the idle poller, -1 if none; guarded by pollMu
	pollGen       int32         // registration generation; guarded by pollMu (set under the poller's lock too)

	timer        Timer // ping, pong deadline, or close deadline; Scheduler-owned
	upgradeTimer Timer // probe deadline; Scheduler-owned
}

// ID returns the session id (the Engine.IO "sid").
func (s *Session) ID() string { return s.id }

// Request returns what the session kept of the request that opened it.
func (s *Session) Request() *RequestInfo { return &s.req }

// Transport returns the current transport name.
func (s *Session) Transport() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.transport
}

// Send queues messages for the client, atomically: no other message is
// queued between them. It does not block. A queue overflow closes the session
// as a slow consumer and returns ErrQueueFull.
func (s *Session) Send(msgs ...*Message) error {
	s.mu.Lock()
	if s.state != stateOpen {
		s.mu.Unlock()
		return ErrClosed
	}
	if len(s.queue)+len(msgs) > s.srv.cfg.WriteQueueSize || s.queueBytes+queuedSize(msgs) > s.srv.cfg.WriteQueueBytes {
		s.mu.Unlock()
		s.srv.slowConsumers.Add(1)
		s.close(ReasonSlowConsumer, false)
		return ErrQueueFull
	}
	s.enqueueLocked(msgs...)
	s.mu.Unlock()
	return nil
}

// SendVolatile is Send for messages that may be lost: they are dropped, and
// false returned, when the transport is not ready to write them right away.
func (s *Session) SendVolatile(msgs ...*Message) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != stateOpen || len(s.queue) > 0 {
		return false
	}
	if s.transport == TransportPolling && s.pollWake == nil {
		return false
	}
	s.enqueueLocked(msgs...)
	return true
}

func (s *Session) enqueueLocked(msgs ...*Message) {
	if s.queue == nil && s.spare != nil {
		s.queue, s.spare = s.spare, nil
	}
	s.queue = append(s.queue, msgs...)
	q := queuedSize(msgs)
	s.queueBytes += q
	s.sentPackets += uint64(len(msgs))
	s.sentBytes += uint64(q - messageOverhead*len(msgs))
	s.kickLocked()
}

// messageOverhead is what queueing a message costs besides its payload:
// its place in the queue and its struct, shared by every session it goes
// to. Counting it bounds a queue of empty messages too.
const messageOverhead = 64

// queuedSize is what msgs count against WriteQueueBytes.
func queuedSize(msgs []*Message) int {
	n := 0
	for _, m := range msgs {
		n += messageOverhead + len(m.data)
	}
	return n
}

// takeQueueLocked hands the queue to a writer (a GET or the WebSocket
// writer): from then on it no longer counts against the bounds.
func (s *Session) takeQueueLocked() []*Message {
	q := s.queue
	s.queue, s.queueBytes = nil, 0
	return q
}

// kickLocked gets the queue moving: wakes the pending GET or the writer.
func (s *Session) kickLocked() {
	if s.transport == TransportWebSocket {
		s.startWriterLocked()
		return
	}
	if s.pollWake != nil {
		select {
		case s.pollWake <- struct{}{}:
		default:
		}
	}
}

// Close closes the session from the server side: queued packets are flushed
// first, then the client is told (close packet or WebSocket close frame).
func (s *Session) Close() { s.close(ReasonForcedClose, true) }

// CloseWithReason is Close with the reason given to SessionHandler.OnClose.
func (s *Session) CloseWithReason(reason string) { s.close(reason, true) }

// close moves the session out of the open state and tells the handler, once.
// With flush, queued packets are still written before the transport closes.
// It never blocks.
func (s *Session) close(reason string, flush bool) {
	s.mu.Lock()
	if s.state != stateOpen {
		s.mu.Unlock()
		return
	}
	s.state = stateClosing
	s.closeReason = reason
	s.srv.countClose(reason)
	s.awaitingPong = false
	// Without flush, teardown follows at once: until then a GET must see
	// the session as closed, not as closing with a queue to flush.
	s.flushing = flush
	s.mu.Unlock()
	s.srv.sched.Cancel(&s.timer)
	s.srv.sched.Cancel(&s.upgradeTimer)
	s.srv.goTracked(func() {
		s.dispatchMu.Lock()
		s.handlerDone = true
		if s.handler != nil {
			s.handler.OnClose(reason)
		}
		s.dispatchMu.Unlock()
	})
	if !flush {
		s.teardown()
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.probe != nil {
		_ = s.probe.Close()
		s.probe = nil
		s.endProgressLocked()
	}
	if s.transport == TransportWebSocket {
		s.startWriterLocked() // writes the queue, then the close frame, then tears down
		return
	}
	if s.pollWake != nil {
		s.kickLocked() // the pending GET writes the queue and a close packet
		return
	}
	// No GET pending: the next one gets the queue and the close packet, if it
	// comes in time.
	s.srv.sched.Schedule(&s.timer, s.srv.cfg.PingTimeout, func() { s.teardown() })
}

// teardown ends the session: it forgets it and closes its connections.
func (s *Session) teardown() {
	s.mu.Lock()
	if s.state == stateClosed {
		s.mu.Unlock()
		return
	}
	s.state = stateClosed
	s.queue, s.spare, s.queueBytes = nil, nil, 0
	if s.ws != nil {
		if s.srv.poller != nil {
			s.srv.poller.forget(s) // before the descriptor can be reused
		}
		_ = s.ws.Close()
		s.srv.websockets.Add(-1)
	}
	if s.probe != nil {
		_ = s.probe.Close()
		s.probe = nil
		s.endProgressLocked()
	}
	if s.pollWake != nil {
		select {
		case s.pollWake <- struct{}{}:
		default:
		}
	}
	s.mu.Unlock()
	s.srv.sched.Cancel(&s.timer)
	s.srv.sched.Cancel(&s.upgradeTimer)
	s.srv.removeSession(s)
}

// abort cuts the connections of a session that did not close in time.
func (s *Session) abort() {
	s.close(ReasonServerShutdown, false)
	s.teardown()
}

// open gets the session's handler from h. dispatchMu is held meanwhile, so
// that a close during OnOpen (Close, a queue overflow, Shutdown) calls OnClose
// on the handler OnOpen returns, once it has returned.
func (s *Session) open(h Handler) {
	s.dispatchMu.Lock()
	s.handler = h.OnOpen(s)
	s.dispatchMu.Unlock()
}

// dispatch hands a message to the handler unless the session is closed.
func (s *Session) dispatch(data []byte, binary bool) {
	s.dispatchMu.Lock()
	if !s.handlerDone && s.handler != nil {
		s.handler.OnMessage(data, binary)
	}
	s.dispatchMu.Unlock()
}

// onPacket handles one packet received on the session's current transport.
func (s *Session) onPacket(p packet) {
	s.srv.packetsIn.Add(1)
	s.srv.bytesIn.Add(uint64(len(p.data)))
	switch p.typ {
	case typeMessage:
		s.dispatch(p.data, p.binary)
	case typePong:
		s.mu.Lock()
		ok := s.awaitingPong && s.state == stateOpen
		s.awaitingPong = false
		s.mu.Unlock()
		if ok {
			s.schedulePing()
		}
	case typePing:
		// v4 heartbeats go from server to client; answering a client ping is
		// harmless and keeps older or unusual clients working.
		_ = s.Send(msgPong)
	case typeClose:
		s.close(ReasonTransportClose, false)
	case typeNoop, typeUpgrade:
		// nothing to do
	}
}

// schedulePing arms the next ping, unless the session is closing: close
// uses the same timer for its own deadline, which a ping must not replace.
func (s *Session) schedulePing() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state == stateOpen {
		s.srv.sched.Schedule(&s.timer, s.srv.cfg.PingInterval, s.onPingTimer)
	}
}

// onPingTimer runs on the scheduler: it sends a ping and arms the deadline.
func (s *Session) onPingTimer() {
	s.mu.Lock()
	if s.state != stateOpen {
		s.mu.Unlock()
		return
	}
	overflow := len(s.queue)+1 > s.srv.cfg.WriteQueueSize || s.queueBytes+messageOverhead > s.srv.cfg.WriteQueueBytes
	if !overflow {
		// Arm the pong deadline before the ping can go out: a pong handled
		// first would have its next ping replaced by this deadline.
		s.awaitingPong = true
		s.srv.sched.Schedule(&s.timer, s.srv.cfg.PingTimeout, s.onPongTimeout)
		s.enqueueLocked(msgPing)
	}
	s.mu.Unlock()
	if overflow {
		s.srv.slowConsumers.Add(1)
		s.close(ReasonSlowConsumer, false)
	}
}

func (s *Session) onPongTimeout() {
	s.mu.Lock()
	late := s.awaitingPong && s.state == stateOpen
	s.mu.Unlock()
	if late {
		s.close(ReasonPingTimeout, false)
	}
}

// ---- long-polling ----

// writePollResponse writes a polling response and flushes it, so that a
// failed write (the client does not read, the deadline passed) is known
// here: the packets in body are lost then.
func writePollResponse(w http.ResponseWriter, body []byte) error {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=UTF-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(body))) // flushed, it is not chunked
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write(body); err != nil {
		return err
	}
	return http.NewResponseController(w).Flush()
}

// servePoll answers a GET: it waits for packets and writes them as a payload.
func (s *Session) servePoll(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	// What the client sent on a probe before this GET is handled first: a
	// GET after "2probe" and "5" finds the session upgraded.
	for s.progress != nil && s.progress.unreadLocked() {
		wake := s.progress.wake
		s.mu.Unlock()
		select {
		case <-wake:
		case <-r.Context().Done():
			return // the client gave up on its GET; the probe goes on
		}
		s.mu.Lock()
	}
	if s.transport != TransportPolling {
		s.mu.Unlock()
		writeError(w, errBadRequest)
		return
	}
	if s.state == stateClosed {
		s.mu.Unlock()
		writeError(w, errUnknownSID)
		return
	}
	if s.polling {
		// Two GETs at once is a protocol error: the session ends, the first
		// GET receives the close packet.
		s.mu.Unlock()
		writeError(w, errBadRequest)
		s.close(ReasonTransportError, true)
		return
	}
	s.polling = true
	for s.state == stateOpen && len(s.queue) == 0 && !s.upgrading && s.transport == TransportPolling {
		wake := make(chan struct{}, 1)
		s.pollWake = wake
		s.mu.Unlock()
		select {
		case <-wake:
		case <-r.Context().Done():
			// The client gave up on its GET: the session is gone, as with
			// the reference server.
			s.mu.Lock()
			s.pollWake = nil
			s.polling = false
			s.mu.Unlock()
			s.close(ReasonTransportClose, false)
			return
		}
		s.mu.Lock()
		s.pollWake = nil
	}
	var batch []*Message
	finish := false
	gone := s.state == stateClosed || (s.state == stateClosing && !s.flushing)
	released := s.released
	s.released = false
	switch {
	case gone && s.transport == TransportPolling && s.closeReason != ReasonTransportClose:
		// Closed by the server (parse error, ping timeout, slow consumer):
		// the waiting GET tells the client, as the reference server does.
		batch = []*Message{msgClose}
	case !gone && s.transport != TransportPolling && !released:
		// Upgraded while this GET waited, not released at "2probe": a
		// client that upgrades ends its pending GET before it sends "5", so
		// this one came after, and is answered as a GET that finds the
		// session upgraded.
		s.polling = false
		s.mu.Unlock()
		writeError(w, errBadRequest)
		return
	case gone || s.transport != TransportPolling:
		// Closed by the client ("1"), or released for the upgrade and
		// upgraded before this GET had the lock (the queue is the WebSocket
		// writer's now): a noop.
		batch = []*Message{msgNoop}
	case s.state == stateClosing:
		batch = append(s.takeQueueLocked(), msgClose)
		finish = true
	case len(s.queue) == 0: // upgrading: release the GET
		batch = []*Message{msgNoop}
	default:
		batch = s.takeQueueLocked()
	}
	// No longer waiting: the client may send its next GET as soon as it has
	// this response, which writePollResponse flushes before this handler
	// returns; that GET must not find the session still polling.
	s.polling = false
	s.mu.Unlock()

	buf := getBuffer()
	*buf = appendPayload((*buf)[:0], batch)
	// The wait is over: the response has WriteTimeout, like a WebSocket
	// write, and a client that does not read it loses its session rather
	// than hold this handler.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(s.srv.cfg.WriteTimeout))
	err := writePollResponse(w, *buf)
	putBuffer(buf)
	switch {
	case finish:
		s.teardown()
	case err != nil:
		s.srv.countWriteError(err)
		s.close(ReasonTransportError, false)
	}
}

// serveData answers a POST: the client's packets.
func (s *Session) serveData(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	// A session that is closing takes nothing more: what a client sends
	// after the server ended it would be dropped anyway, and reading it
	// would let a client that never polls (and so never sees the close
	// packet) make the edge read payloads until the ping timeout.
	if s.transport != TransportPolling || s.state != stateOpen {
		s.mu.Unlock()
		writeError(w, errBadRequest)
		return
	}
	if s.posting {
		s.mu.Unlock()
		writeError(w, errBadRequest)
		s.close(ReasonTransportError, true)
		return
	}
	s.posting = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.posting = false
		s.mu.Unlock()
	}()

	// A payload the server refuses ends the session at once, as with the
	// reference server: the next request finds no session (400), rather
	// than a close packet.
	max := s.srv.cfg.MaxPayload
	if r.ContentLength > int64(max) {
		writeError(w, errPayloadTooLarge)
		s.close(ReasonTransportError, false)
		return
	}
	buf := getBuffer()
	defer putBuffer(buf)
	body, err := readAtMost((*buf)[:0], r.Body, max)
	*buf = body
	if err == errTooLarge {
		writeError(w, errPayloadTooLarge)
		s.close(ReasonTransportError, false)
		return
	}
	if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
		// The body took longer than PostTimeout (setDeadlines): a client
		// trickling it holds a connection, a goroutine and a buffer for
		// nothing. The connection is closed after the answer: the rest of
		// the body is still on the wire.
		s.srv.postTimeouts.Add(1)
		w.Header().Set("Connection", "close")
		writeError(w, errRequestTimeout)
		s.close(ReasonTransportError, false)
		return
	}
	if err != nil {
		s.close(ReasonTransportError, false)
		return
	}
	pkts, err := decodePayload(body)
	if err != nil {
		writeError(w, errBadRequest)
		s.close(ReasonParseError, false)
		return
	}
	for _, p := range pkts {
		if p.typ == typeMessage && !p.binary {
			p.data = append([]byte(nil), p.data...) // the handler owns it; body is pooled
		}
		s.onPacket(p)
	}
	h := w.Header()
	h.Set("Content-Type", "text/html")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, "ok")
}

var errTooLarge = errors.New("engineio: payload too large")

func readAtMost(b []byte, r io.Reader, max int) ([]byte, error) {
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if len(b) > max {
			return b, errTooLarge
		}
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

// iovecPool holds the frame lists of writers sending several frames at once.
var iovecPool = sync.Pool{New: func() any { return new(net.Buffers) }}

var bufferPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

func getBuffer() *[]byte { return bufferPool.Get().(*[]byte) }

func putBuffer(b *[]byte) {
	if cap(*b) > 1<<20 {
		return // let a rare huge buffer go
	}
	*b = (*b)[:0] // pooled buffers are empty: writeLoop appends to them
	bufferPool.Put(b)
}

// ---- WebSocket ----

// startWriterLocked gets a writer for the queue unless one has it already:
// the server's writer pool, or a goroutine of the session's own when the
// connection cannot be written without blocking (TLS) or there is no pool.
func (s *Session) startWriterLocked() {
	if s.writing || s.ws == nil {
		return
	}
	s.writing = true
	if s.raw != nil && s.srv.writers != nil {
		s.srv.writers.push(s)
		return
	}
	// A plain method call costs one allocation (the goroutine's argument
	// frame), where the closure passed to goTracked cost two more.
	s.srv.wg.Add(1)
	go s.runWriter(s.ws)
}

// setWebSocketLocked makes conn the session's transport.
func (s *Session) setWebSocketLocked(conn *websocket.Conn) {
	s.ws = conn
	if s.srv.writers != nil {
		s.raw = rawConnOf(conn.NetConn())
	}
}

func (s *Session) runWriter(conn *websocket.Conn) {
	defer s.srv.wg.Done()
	s.writeLoopFrom(conn, nil)
}

// monoEpoch is the origin of Session.writeDeadline.
var monoEpoch = time.Now()

// armWriteDeadline bounds the next write to conn by the write timeout. The
// deadline set for an earlier write is kept while at least half the timeout
// remains: re-arming the runtime's deadline timer on every write cost 5% of
// an edge's CPU when it sends one small message at a time. So a write gets
// between WriteTimeout/2 and WriteTimeout. Only the writer calls it.
func (s *Session) armWriteDeadline(nc net.Conn) {
	now := time.Since(monoEpoch)
	if s.writeDeadline-now > s.srv.cfg.WriteTimeout/2 {
		return
	}
	s.writeDeadline = now + s.srv.cfg.WriteTimeout
	_ = nc.SetWriteDeadline(monoEpoch.Add(s.writeDeadline))
}

// writeLoopFrom writes rest (what a pool writer left of its batch), then
// queued frames, many per system call, until the queue is empty; then the
// goroutine ends. It owns writes to conn meanwhile, and waits for the
// client's socket to take them, up to the write deadline.
func (s *Session) writeLoopFrom(conn *websocket.Conn, rest [][]byte) {
	var nc net.Conn = conn.NetConn()
	// Writes (and their deadlines) go to the TCP connection itself, under
	// any accounting wrapper, so that net.Buffers uses writev.
	tc, vectored := tcpConnOf(nc)
	if vectored {
		nc = tc
	}
	var bufs *net.Buffers // from iovecPool, only while batches have several frames
	defer func() {
		if bufs != nil {
			clear(*bufs)
			*bufs = (*bufs)[:0]
			iovecPool.Put(bufs)
		}
	}()
	if len(rest) > 0 {
		s.armWriteDeadline(nc)
		b := net.Buffers(rest)
		s.srv.countWrite(len(rest))
		if _, err := b.WriteTo(nc); err != nil {
			s.writeFailed(err)
			return
		}
	}
	for {
		s.mu.Lock()
		batch := s.takeQueueLocked()
		if len(batch) == 0 {
			closing := s.state == stateClosing
			if !closing && s.raw != nil && s.srv.writers != nil && s.writeDeadline != 0 {
				// Back to the pool, whose writes do not wait: a deadline
				// left to expire would make its next write fail at once.
				// Still the writer meanwhile; then look at the queue again.
				s.mu.Unlock()
				s.writeDeadline = 0
				_ = nc.SetWriteDeadline(time.Time{})
				continue
			}
			s.writing = false
			s.mu.Unlock()
			if closing {
				s.armWriteDeadline(nc)
				_, _ = nc.Write(closeFrame)
				s.teardown()
			}
			return
		}
		s.mu.Unlock()

		s.armWriteDeadline(nc)
		s.srv.countWrite(len(batch))
		var err error
		if len(batch) == 1 {
			// One frame: a plain write, which also keeps the descriptor from
			// caching an iovec array for writev.
			_, err = nc.Write(batch[0].frame())
		} else if vectored {
			if bufs == nil {
				bufs = iovecPool.Get().(*net.Buffers)
			}
			*bufs = (*bufs)[:0]
			for _, m := range batch {
				*bufs = append(*bufs, m.frame())
			}
			saved := *bufs // WriteTo consumes its receiver; keep the array
			_, err = bufs.WriteTo(nc)
			*bufs = saved
		} else {
			buf := getBuffer()
			for _, m := range batch {
				*buf = append(*buf, m.frame()...)
			}
			_, err = nc.Write(*buf)
			*buf = (*buf)[:0]
			putBuffer(buf)
		}
		s.recycle(batch)
		if err != nil {
			s.writeFailed(err)
			return
		}
	}
}

// writeFailed ends the session whose writer failed.
func (s *Session) writeFailed(err error) {
	s.mu.Lock()
	s.writing = false
	s.mu.Unlock()
	s.srv.countWriteError(err)
	s.close(ReasonTransportError, false)
	// A session already closing (close with flush) was to be torn down by
	// this writer after its close frame; close above leaves such a session
	// alone, so end it here.
	s.teardown()
}

// ownControlFrames makes the session's writer the only writer of conn once
// it carries the session: a client's ping is answered, and its close frame
// echoed, through the session's queue. gorilla's default handlers write
// from the reader with WriteControl, concurrently with the writer and with
// a write deadline of their own that the writer does not know of (its next
// write after that deadline failed). While conn is only a probe, its probe
// loop is its one writer and runs the handlers itself.
func (s *Session) ownControlFrames(conn *websocket.Conn) {
	conn.SetPingHandler(func(data string) error {
		s.mu.Lock()
		carries := s.ws == conn
		s.mu.Unlock()
		if !carries {
			_ = conn.NetConn().SetWriteDeadline(time.Now().Add(s.srv.cfg.WriteTimeout))
			_, err := conn.NetConn().Write(pongFrame(data))
			return err
		}
		_ = s.Send(newRawFrame(pongFrame(data))) // a full queue closes the session
		return nil
	})
	conn.SetCloseHandler(func(int, string) error {
		s.mu.Lock()
		carries := s.ws == conn
		s.mu.Unlock()
		if carries {
			// The writer flushes the queue, then sends the close frame.
			s.close(ReasonTransportClose, true)
		}
		return nil // a probe's loop sees the error and gives the probe up
	})
}

// readWebSocket is the reader loop of a WebSocket session that has a
// reader goroutine.
func (s *Session) readWebSocket(conn *websocket.Conn) {
	for s.readMessage(conn) {
	}
}

// readMessage reads and handles one message. It reports false once the
// connection is done.
func (s *Session) readMessage(conn *websocket.Conn) bool {
	mt, data, err := conn.ReadMessage()
	if err != nil {
		s.close(ReasonTransportClose, false)
		return false
	}
	if mt == websocket.BinaryMessage {
		s.srv.packetsIn.Add(1)
		s.srv.bytesIn.Add(uint64(len(data)))
		s.dispatch(data, true)
		return true
	}
	p, err := decodeText(data, false)
	if err != nil {
		s.close(ReasonParseError, true)
		return false
	}
	s.onPacket(p)
	return true
}

// serveUpgrade accepts a WebSocket for a polling session and runs the probe:
// "2probe" → "3probe", the pending GET released with a noop, then "5"
// switches the session to the WebSocket, which then carries the queue.
//
// A WebSocket that finds the session upgrading (another WebSocket holds the
// probe slot), upgraded or closing completes its handshake and is closed at
// once, as with the reference server: a client without an error handler
// sees a closed WebSocket, not a failed handshake. The slot is taken in the
// same step as the check, so that of WebSockets racing, exactly one is
// probed.
func (s *Session) serveUpgrade(w http.ResponseWriter, r *http.Request) {
	if !websocket.IsWebSocketUpgrade(r) {
		writeError(w, errBadRequest)
		return
	}
	s.mu.Lock()
	free := s.transport == TransportPolling && s.state == stateOpen && !s.probing
	hj := &hijacker{ResponseWriter: w}
	if free {
		s.probing = true
		// From the 101 on, the client may send frames and then a GET.
		hj.progress = newProbeProgress()
		s.progress = hj.progress
	}
	s.mu.Unlock()
	conn, err := s.srv.upgrader.Upgrade(hj, r, nil)
	if err != nil {
		if free {
			s.releaseProbe(nil)
		}
		return
	}
	if !free {
		_ = conn.NetConn().SetWriteDeadline(time.Now().Add(s.srv.cfg.WriteTimeout))
		_, _ = conn.NetConn().Write(closeFrame)
		_ = conn.Close()
		return
	}
	if !s.srv.track() {
		s.releaseProbe(nil)
		_ = conn.Close()
		return
	}
	// As for direct WebSocket sessions, the probe (then the reader) runs on
	// its own goroutine so that net/http's connection state is released.
	go func() {
		defer s.srv.wg.Done()
		s.probeLoop(conn, hj.br)
	}()
}

// probeLoop runs the upgrade probe on conn and, once upgraded, the session's
// WebSocket reader.
func (s *Session) probeLoop(conn *websocket.Conn, br *bufio.Reader) {
	s.mu.Lock()
	if s.transport != TransportPolling || s.state != stateOpen {
		s.probing = false
		s.endProgressLocked()
		s.mu.Unlock()
		_ = conn.Close()
		return
	}
	s.probe = conn
	s.mu.Unlock()
	conn.SetReadLimit(int64(s.srv.cfg.MaxPayload))
	s.ownControlFrames(conn)
	s.srv.sched.Schedule(&s.upgradeTimer, s.srv.cfg.UpgradeTimeout, func() { s.abortProbe(conn) })

	for {
		mt, data, err := conn.ReadMessage()
		if err != nil || mt != websocket.TextMessage {
			s.abortProbe(conn)
			return
		}
		switch string(data) {
		case "2probe":
			_ = conn.NetConn().SetWriteDeadline(time.Now().Add(s.srv.cfg.WriteTimeout))
			if _, err := conn.NetConn().Write(msgPongProbe.frame()); err != nil {
				s.abortProbe(conn)
				return
			}
			s.mu.Lock()
			s.upgrading = true
			if s.progress != nil && br != nil {
				s.progress.movedLocked(br.Buffered())
			}
			// A waiting GET answers with a noop, unless the client has sent
			// more already (its "5"): a client that upgrades sends "5" only
			// once its pending GET has ended, so that GET came after it and
			// is answered once the probe has handled it.
			if s.progress == nil || !s.progress.unreadLocked() {
				s.released = s.pollWake != nil
				s.kickLocked()
			}
			s.mu.Unlock()
		case "5":
			s.mu.Lock()
			if !s.upgrading || s.probe != conn || s.state != stateOpen {
				s.mu.Unlock()
				s.abortProbe(conn)
				return
			}
			s.upgrading = false
			s.probe = nil
			s.probing = false
			s.endProgressLocked()
			s.transport = TransportWebSocket
			s.setWebSocketLocked(conn)
			s.srv.websockets.Add(1)
			if s.pollWake != nil {
				select {
				case s.pollWake <- struct{}{}:
				default:
				}
			}
			if len(s.queue) > 0 {
				s.startWriterLocked()
			}
			s.mu.Unlock()
			s.srv.sched.Cancel(&s.upgradeTimer)
			s.startReader(conn, br)
			return
		default:
			s.abortProbe(conn)
			return
		}
	}
}

// endProgressLocked wakes the GETs waiting for the probe: it is over.
func (s *Session) endProgressLocked() {
	if s.progress != nil {
		close(s.progress.wake)
		s.progress = nil
	}
}

// abortProbe gives up an upgrade; the session goes on with polling.
func (s *Session) abortProbe(conn *websocket.Conn) {
	s.mu.Lock()
	if s.ws == conn {
		s.mu.Unlock()
		return // the upgrade completed meanwhile
	}
	s.mu.Unlock()
	s.releaseProbe(conn)
	_ = conn.Close()
}

// releaseProbe frees the probe slot held for conn (nil: held by a
// WebSocket whose handshake failed, before it became the probe).
func (s *Session) releaseProbe(conn *websocket.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.probe == conn && s.probing {
		s.probe = nil
		s.endProgressLocked()
		s.upgrading = false
		s.probing = false
	}
}
