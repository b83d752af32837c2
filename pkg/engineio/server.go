package engineio

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// Transport names, as in the "transport" query parameter.
const (
	TransportPolling   = "polling"
	TransportWebSocket = "websocket"
)

// Config configures a Server. The zero value of every field is a documented
// default, close to the defaults of the Node.js engine.io server.
type Config struct {
	// PingInterval is the delay between two server pings. Zero means 25s.
	PingInterval time.Duration
	// PingTimeout is how long the server waits for a pong before it closes the
	// session. Zero means 20s.
	PingTimeout time.Duration
	// UpgradeTimeout bounds an upgrade from polling to WebSocket: a probe that
	// does not complete in time is closed, the session goes on polling. Zero
	// means 10s.
	UpgradeTimeout time.Duration
	// MaxPayload is the largest message (WebSocket) or POST body (polling)
	// accepted, in bytes; it is announced to clients in the handshake. Zero
	// means 1,000,000.
	MaxPayload int
	// Transports lists the transports offered. Empty means both polling and
	// websocket.
	Transports []string
	// AllowedOrigins lists the origins (scheme://host[:port]) allowed to make
	// cross-origin requests, with credentials. "*" allows any origin. Empty
	// means no CORS headers: same-origin pages only (WebSocket connections
	// from another origin are refused too).
	AllowedOrigins []string
	// AllowRequest, when set, may refuse a handshake: a non-nil error answers
	// 403 Forbidden, one wrapping ErrTooManyRequests 429 Too Many Requests
	// (refuse.go).
	AllowRequest func(*http.Request) error
	// WriteQueueSize bounds the packets queued for one session. A session
	// whose queue overflows is closed as a slow consumer. Zero means 1024.
	WriteQueueSize int
	// WriteQueueBytes bounds the bytes queued for one session: the packets'
	// payloads, plus 64 bytes a packet, not counting the batch its writer
	// is writing. A session whose queue would pass it is closed as a slow
	// consumer, as with WriteQueueSize. Zero means 4 × MaxPayload (4 MB
	// with the default payload limit), at least 1 MiB.
	WriteQueueBytes int
	// WriteTimeout bounds one write to a WebSocket, and the writing of one
	// long-polling response. Zero means 10s.
	WriteTimeout time.Duration
	// PostTimeout bounds the reading of one long-polling POST body (and of
	// any body sent with another request to the Engine.IO path): a client
	// whose body is still arriving then gets 408 Request Timeout, its
	// connection is closed and its session ends. Zero means PingTimeout.
	PostTimeout time.Duration
	// NewID returns a new, unique, unguessable session id. Nil means 20
	// random URL-safe characters.
	NewID func() string
	// Writers bounds the goroutines that write WebSocket frames: sessions
	// with frames queued wait their turn on one list, and a writer sends
	// each one's frames with one non-blocking writev. A client whose socket
	// does not take them at once gets a writer goroutine of its own, which
	// waits for it up to WriteTimeout. Zero means GOMAXPROCS; negative: no
	// pool, every session has a writer goroutine while it has frames (as
	// does, always, a session on TLS or on a system other than Linux).
	Writers int
	// NoIdlePoller gives every WebSocket session a reader goroutine instead
	// of parking idle connections on the kernel's readiness notification
	// (epoll on Linux; other systems always use reader goroutines).
	NoIdlePoller bool
	// Logger receives the server's logs. Nil means slog.Default().
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.PingInterval <= 0 {
		c.PingInterval = 25 * time.Second
	}
	if c.PingTimeout <= 0 {
		c.PingTimeout = 20 * time.Second
	}
	if c.UpgradeTimeout <= 0 {
		c.UpgradeTimeout = 10 * time.Second
	}
	if c.MaxPayload <= 0 {
		c.MaxPayload = 1_000_000
	}
	if len(c.Transports) == 0 {
		c.Transports = []string{TransportPolling, TransportWebSocket}
	}
	if c.WriteQueueSize <= 0 {
		c.WriteQueueSize = 1024
	}
	if c.WriteQueueBytes <= 0 {
		c.WriteQueueBytes = max(4*c.MaxPayload, 1<<20)
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.Writers == 0 {
		c.Writers = runtime.GOMAXPROCS(0)
	}
	if c.PostTimeout <= 0 {
		c.PostTimeout = c.PingTimeout
	}
	if c.NewID == nil {
		c.NewID = RandomID
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// RandomID returns 20 random URL-safe characters (120 bits).
func RandomID() string {
	var b [15]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Handler receives new sessions.
type Handler interface {
	// OnOpen is called once per session, after the handshake succeeded and
	// before the open packet is written. It returns the handler of the
	// session's messages. It must not block.
	OnOpen(s *Session) SessionHandler
}

// SessionHandler receives what one session's client sends.
type SessionHandler interface {
	// OnMessage is called for each message packet, in order, never
	// concurrently for one session. data belongs to the callee.
	OnMessage(data []byte, binary bool)
	// OnClose is called once, when the session is closed, with an Engine.IO
	// close reason ("transport close", "ping timeout", "parse error", ...).
	OnClose(reason string)
}

// Close reasons given to SessionHandler.OnClose.
const (
	ReasonTransportClose = "transport close"
	ReasonTransportError = "transport error"
	ReasonPingTimeout    = "ping timeout"
	ReasonParseError     = "parse error"
	ReasonForcedClose    = "forced close"
	ReasonServerShutdown = "server shutting down"
	ReasonSlowConsumer   = "slow consumer"
)

// Stats are counters of a Server since it started.
type Stats struct {
	Sessions      int    // open sessions
	WebSocket     int    // of which on WebSocket
	Opened        uint64 // sessions opened
	SlowConsumers uint64 // sessions closed because their queue overflowed
	PostTimeouts  uint64 // POST bodies cut because they took over PostTimeout
	WriteTimeouts uint64 // sessions closed because a write took over WriteTimeout
	// OriginsRefused counts WebSocket handshakes and upgrades refused (403)
	// because their Origin is not allowed (checkWebSocketOrigin).
	OriginsRefused uint64

	// WebSocket writes: FramesWritten / Writes is how many frames a write
	// system call carries on average (a large fan-out coalesces).
	Writes          uint64 // WebSocket write system calls (or TLS records written)
	FramesWritten   uint64 // WebSocket frames they carried
	BlockingWriters uint64 // writes the pool handed to a goroutine of the session's own: the socket did not take them at once

	// Closes counts sessions closed, by reason (every one of CloseReasons).
	Closes map[string]uint64
	// Engine.IO packets (and their payload bytes) received from clients,
	// on either transport, and queued to clients (pings and the close
	// packet included; a fan-out counts once per session).
	PacketsReceived, BytesReceived uint64
	PacketsSent, BytesSent         uint64
}

// Server is an Engine.IO server; it is an http.Handler for its path.
type Server struct {
	cfg       Config
	handler   Handler
	sched     *Scheduler
	poller    idlePoller  // nil: reader goroutines
	writers   *writerPool // nil: writer goroutines
	upgrader  websocket.Upgrader
	log       *slog.Logger
	transport map[string]bool

	mu       sync.Mutex
	sessions map[string]*Session // guarded by mu
	closing  bool                // guarded by mu; no new sessions once set
	draining atomic.Bool         // handshakes refused (Drain, drain.go)

	wg        sync.WaitGroup // every goroutine the server starts
	opened    atomic.Uint64
	closes    [10]atomic.Uint64 // by CloseReasons' index
	packetsIn atomic.Uint64
	bytesIn   atomic.Uint64
	// goneSentPackets and goneSentBytes are the sent counts of sessions
	// no longer in sessions; guarded by mu.
	goneSentPackets, goneSentBytes uint64
	slowConsumers                  atomic.Uint64
	postTimeouts                   atomic.Uint64
	writeTimeouts                  atomic.Uint64
	websockets                     atomic.Int64
	writes                         atomic.Uint64
	framesWritten                  atomic.Uint64
	handOffs                       atomic.Uint64

	originsRefused atomic.Uint64 // WebSocket handshakes and upgrades refused for their Origin
}

// NewServer returns a server that hands new sessions to h.
func NewServer(cfg Config, h Handler) *Server {
	cfg = cfg.withDefaults()
	s := &Server{
		cfg:       cfg,
		handler:   h,
		sched:     NewScheduler(),
		log:       cfg.Logger,
		sessions:  make(map[string]*Session),
		transport: make(map[string]bool),
	}
	for _, t := range cfg.Transports {
		s.transport[t] = true
	}
	if cfg.Writers > 0 {
		s.writers = &writerPool{srv: s, max: cfg.Writers}
	}
	if !cfg.NoIdlePoller {
		s.poller = newIdlePoller(s)
	}
	s.upgrader = websocket.Upgrader{
		// The read buffer is the session's own (see hijacker), which gorilla
		// reuses when ReadBufferSize is 0. Frames are written by the session
		// itself, so no write buffer is ever held.
		WriteBufferPool: noWriteBuffers{},
		CheckOrigin:     s.checkWebSocketOrigin,
		Error: func(w http.ResponseWriter, r *http.Request, status int, reason error) {
			if status == http.StatusForbidden { // CheckOrigin refused it
				writeError(w, errForbidden)
				return
			}
			writeError(w, errBadRequest)
		},
	}
	return s
}

// Config returns the effective configuration, defaults applied.
func (s *Server) Config() Config { return s.cfg }

// Scheduler returns the server's shared scheduler, for the layers above to
// run their own deadlines on it.
func (s *Server) Scheduler() *Scheduler { return s.sched }

// Stats returns the server's counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	n := len(s.sessions)
	sentPackets, sentBytes := s.goneSentPackets, s.goneSentBytes
	for _, sess := range s.sessions {
		sess.mu.Lock()
		sentPackets += sess.sentPackets
		sentBytes += sess.sentBytes
		sess.mu.Unlock()
	}
	s.mu.Unlock()
	closes := make(map[string]uint64, len(CloseReasons))
	for i, r := range CloseReasons {
		closes[r] = s.closes[i].Load()
	}
	return Stats{
		Closes:          closes,
		PacketsReceived: s.packetsIn.Load(),
		BytesReceived:   s.bytesIn.Load(),
		PacketsSent:     sentPackets,
		BytesSent:       sentBytes,

		Sessions:      n,
		WebSocket:     int(s.websockets.Load()),
		Opened:        s.opened.Load(),
		SlowConsumers: s.slowConsumers.Load(),
		PostTimeouts:  s.postTimeouts.Load(),
		WriteTimeouts: s.writeTimeouts.Load(),

		OriginsRefused: s.originsRefused.Load(),

		Writes:          s.writes.Load(),
		FramesWritten:   s.framesWritten.Load(),
		BlockingWriters: s.handOffs.Load(),
	}
}

// Shutdown closes every session (their queued packets are flushed first, within
// ctx) and stops the server's goroutines.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	all := make([]*Session, 0, len(s.sessions))
	for _, sess := range s.sessions {
		all = append(all, sess)
	}
	s.mu.Unlock()
	for _, sess := range all {
		sess.close(ReasonServerShutdown, true)
	}
	if s.poller != nil {
		s.poller.close() // its goroutine is one the Wait below waits for
	}
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		// Stragglers: cut their connections so their goroutines end.
		for _, sess := range all {
			sess.abort()
		}
		<-done
		err = ctx.Err()
	}
	// Polling sessions whose client has not come back for its close packet
	// are forgotten now rather than by a scheduler that is about to stop:
	// their next request gets "unknown session".
	for _, sess := range all {
		sess.teardown()
	}
	s.sched.Stop()
	return err
}

// protocolError is one of the HTTP errors of the Engine.IO protocol.
type protocolError struct {
	status  int
	code    int
	message string
}

var (
	errUnknownTransport   = &protocolError{http.StatusBadRequest, 0, "Transport unknown"}
	errUnknownSID         = &protocolError{http.StatusBadRequest, 1, "Session ID unknown"}
	errBadHandshakeMethod = &protocolError{http.StatusBadRequest, 2, "Bad handshake method"}
	errBadRequest         = &protocolError{http.StatusBadRequest, 3, "Bad request"}
	errForbidden          = &protocolError{http.StatusForbidden, 4, "Forbidden"}
	errUnsupportedVersion = &protocolError{http.StatusBadRequest, 5, "Unsupported protocol version"}
	errPayloadTooLarge    = &protocolError{http.StatusRequestEntityTooLarge, 3, "Payload too large"}
	errRequestTimeout     = &protocolError{http.StatusRequestTimeout, 3, "Request timeout"}
)

func writeError(w http.ResponseWriter, e *protocolError) {
	body, _ := json.Marshal(struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}{e.code, e.message})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.status)
	_, _ = w.Write(body)
}

// ServeHTTP serves every Engine.IO request: handshakes, polling GET/POST and
// WebSocket connections. Mount it at the configured path.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	s.setDeadlines(w, r, q)
	if !s.cors(w, r) {
		return
	}
	transport := q.Get("transport")
	if !s.transport[transport] {
		writeError(w, errUnknownTransport)
		return
	}
	if q.Get("EIO") != "4" {
		// Like the Node.js server: anything but v4 (missing, "3", "abc") is
		// an unsupported protocol version.
		writeError(w, errUnsupportedVersion)
		return
	}
	isWebSocket := websocket.IsWebSocketUpgrade(r)
	if transport == TransportWebSocket && !isWebSocket {
		writeError(w, errBadRequest)
		return
	}
	if transport == TransportPolling && isWebSocket {
		writeError(w, errBadRequest)
		return
	}
	sid := q.Get("sid")
	if sid == "" {
		if r.Method != http.MethodGet {
			writeError(w, errBadHandshakeMethod)
			return
		}
		if s.draining.Load() {
			writeError(w, errDraining)
			return
		}
		if s.cfg.AllowRequest != nil {
			if err := s.cfg.AllowRequest(r); err != nil {
				writeRefusal(w, err)
				return
			}
		}
		if transport == TransportWebSocket {
			s.serveWebSocketHandshake(w, r)
		} else {
			s.servePollingHandshake(w, r)
		}
		return
	}
	s.mu.Lock()
	sess := s.sessions[sid]
	s.mu.Unlock()
	if sess == nil {
		writeError(w, errUnknownSID)
		return
	}
	if transport == TransportWebSocket {
		sess.serveUpgrade(w, r)
		return
	}
	switch r.Method {
	case http.MethodGet:
		sess.servePoll(w, r)
	case http.MethodPost:
		sess.serveData(w, r)
	default:
		writeError(w, errBadRequest)
	}
}

// setDeadlines gives every request its own read and write deadlines,
// fitted to the protocol whatever the HTTP server's timeouts are (net/http
// resets them for the connection's next request when it has timeouts of
// its own):
//   - a long-polling GET may wait for packets as long as a heartbeat round
//     (the next ping is at most PingInterval away, a missing pong ends the
//     session after PingTimeout), then has WriteTimeout for its response
//     (servePoll sets that deadline when it writes);
//   - anything else, a POST above all, has PostTimeout to send its body,
//     and WriteTimeout more to read the answer.
//
// A WebSocket handshake's deadlines go when net/http hands the connection
// over (Hijack clears them); from then on the session's writer sets its
// own write deadlines, and reads have none: the heartbeat finds dead
// peers.
func (s *Server) setDeadlines(w http.ResponseWriter, r *http.Request, q url.Values) {
	now := time.Now()
	read := now.Add(s.cfg.PostTimeout)
	write := read.Add(s.cfg.WriteTimeout)
	if r.Method == http.MethodGet && q.Get("sid") != "" && q.Get("transport") == TransportPolling {
		read = now.Add(s.cfg.PingInterval + s.cfg.PingTimeout + s.cfg.WriteTimeout)
		write = read
	}
	rc := http.NewResponseController(w)
	// ErrNotSupported (a ResponseWriter that hides its connection) leaves
	// the server's own timeouts in charge.
	_ = rc.SetReadDeadline(read)
	_ = rc.SetWriteDeadline(write)
}

// cors writes the CORS headers for an allowed origin and answers preflight
// requests. It reports whether the request is to be served further.
func (s *Server) cors(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" || len(s.cfg.AllowedOrigins) == 0 {
		return true
	}
	if !s.originAllowed(origin) {
		if r.Method == http.MethodOptions {
			writeError(w, errForbidden)
			return false
		}
		return true // no CORS headers: the browser refuses the response
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Allow-Credentials", "true")
	h.Add("Vary", "Origin")
	if r.Method == http.MethodOptions {
		h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
		if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
			h.Set("Access-Control-Allow-Headers", req)
		}
		w.WriteHeader(http.StatusNoContent)
		return false
	}
	return true
}

func (s *Server) originAllowed(origin string) bool {
	return slices.Contains(s.cfg.AllowedOrigins, "*") || slices.Contains(s.cfg.AllowedOrigins, origin)
}

// checkWebSocketOrigin applies AllowedOrigins to WebSocket handshakes; with
// none configured, only same-origin (or origin-less, non-browser) clients.
// A refused one is counted, and answered 403 Forbidden (the upgrader's
// Error).
func (s *Server) checkWebSocketOrigin(r *http.Request) bool {
	if !s.webSocketOriginAllowed(r) {
		s.originsRefused.Add(1)
		return false
	}
	return true
}

func (s *Server) webSocketOriginAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	if len(s.cfg.AllowedOrigins) > 0 {
		return s.originAllowed(origin)
	}
	u, err := url.Parse(origin)
	return err == nil && strings.EqualFold(u.Host, r.Host)
}

// handshakeJSON is the payload of the open packet.
type handshakeJSON struct {
	SID          string   `json:"sid"`
	Upgrades     []string `json:"upgrades"`
	PingInterval int64    `json:"pingInterval"`
	PingTimeout  int64    `json:"pingTimeout"`
	MaxPayload   int      `json:"maxPayload"`
}

func (s *Server) openPacket(sid string, upgrades []string) *Message {
	if upgrades == nil {
		upgrades = []string{}
	}
	b, _ := json.Marshal(handshakeJSON{
		SID:          sid,
		Upgrades:     upgrades,
		PingInterval: s.cfg.PingInterval.Milliseconds(),
		PingTimeout:  s.cfg.PingTimeout.Milliseconds(),
		MaxPayload:   s.cfg.MaxPayload,
	})
	return &Message{typ: typeOpen, data: b}
}

// newSession registers a session, or returns nil when the server is closing.
func (s *Server) newSession(r *http.Request, transport string) *Session {
	sess := &Session{
		srv:       s,
		id:        s.cfg.NewID(),
		transport: transport,
		req:       newRequestInfo(r),
	}
	sess.timer.index = -1
	sess.upgradeTimer.index = -1
	sess.pollFD = -1
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return nil
	}
	s.sessions[sess.id] = sess
	s.mu.Unlock()
	s.opened.Add(1)
	return sess
}

func (s *Server) removeSession(sess *Session) {
	s.mu.Lock()
	if s.sessions[sess.id] == sess {
		delete(s.sessions, sess.id)
		// Its counts move to the server's under s.mu, so that Stats, which
		// sums open sessions under s.mu too, never counts them twice.
		sess.mu.Lock()
		s.goneSentPackets += sess.sentPackets
		s.goneSentBytes += sess.sentBytes
		sess.mu.Unlock()
	}
	s.mu.Unlock()
}

// CloseReasons are the reasons Stats.Closes counts; any other is counted
// as "other".
var CloseReasons = []string{
	ReasonTransportClose, ReasonTransportError, ReasonPingTimeout, ReasonParseError,
	ReasonForcedClose, ReasonServerShutdown, ReasonSlowConsumer, ReasonServerDraining,
	"connect timeout", "other",
}

func (s *Server) countClose(reason string) {
	i := len(CloseReasons) - 1
	for j, r := range CloseReasons[:i] {
		if r == reason {
			i = j
			break
		}
	}
	s.closes[i].Add(1)
}

// Session returns the open session with the given id, or nil.
func (s *Server) Session(id string) *Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions[id]
}

func (s *Server) servePollingHandshake(w http.ResponseWriter, r *http.Request) {
	sess := s.newSession(r, TransportPolling)
	if sess == nil {
		writeError(w, errForbidden)
		return
	}
	var upgrades []string
	if s.transport[TransportWebSocket] {
		upgrades = []string{TransportWebSocket}
	}
	open := s.openPacket(sess.id, upgrades)
	sess.open(s.handler)
	sess.schedulePing()
	if writePollResponse(w, open.pollBytes()) != nil {
		sess.close(ReasonTransportError, false)
	}
}

func (s *Server) serveWebSocketHandshake(w http.ResponseWriter, r *http.Request) {
	hj := &hijacker{ResponseWriter: w}
	conn, err := s.upgrader.Upgrade(hj, r, nil)
	if err != nil {
		return // the upgrader has answered
	}
	if !s.track() {
		_, _ = conn.NetConn().Write(closeFrame)
		_ = conn.Close()
		return
	}
	sess := s.newSession(r, TransportWebSocket)
	if sess == nil {
		s.wg.Done()
		_, _ = conn.NetConn().Write(closeFrame)
		_ = conn.Close()
		return
	}
	conn.SetReadLimit(int64(s.cfg.MaxPayload))
	sess.ownControlFrames(conn)
	s.websockets.Add(1)
	sess.mu.Lock()
	sess.setWebSocketLocked(conn)
	sess.queue = append(sess.queue, s.openPacket(sess.id, nil))
	sess.mu.Unlock()
	sess.open(s.handler)
	sess.mu.Lock()
	sess.startWriterLocked()
	sess.mu.Unlock()
	sess.schedulePing()
	// The reader gets a goroutine of its own so that this handler returns:
	// net/http's per-connection state (two 4 KB bufio buffers among it)
	// stays alive as long as the handler runs, hijacked or not.
	go func() {
		defer s.wg.Done()
		sess.startReader(conn, hj.br)
	}()
}

// noWriteBuffers keeps gorilla from holding a write buffer per connection:
// sessions frame and write their messages themselves.
type noWriteBuffers struct{}

func (noWriteBuffers) Get() any { return nil }
func (noWriteBuffers) Put(any)  {}

// RequestInfo is what a session keeps of the request that opened it.
type RequestInfo struct {
	Header     http.Header
	Query      url.Values
	RemoteAddr string
	Host       string
	Secure     bool
	Time       time.Time
}

func newRequestInfo(r *http.Request) RequestInfo {
	q := r.URL.Query()
	for _, k := range []string{"EIO", "transport", "sid", "t"} {
		q.Del(k)
	}
	if len(q) == 0 {
		q = nil // most clients send nothing else: keep no map per session
	}
	h := r.Header.Clone()
	for _, k := range []string{"Sec-Websocket-Key", "Sec-Websocket-Version", "Sec-Websocket-Extensions", "Upgrade", "Connection"} {
		h.Del(k)
	}
	return RequestInfo{
		Header:     h,
		Query:      q,
		RemoteAddr: r.RemoteAddr,
		Host:       r.Host,
		Secure:     r.TLS != nil,
		Time:       time.Now(),
	}
}

// track counts a goroutine the server must wait for, unless the server is
// shutting down; the caller calls s.wg.Done when it returns true.
func (s *Server) track() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.wg.Add(1)
	return true
}

// goTracked starts fn as a goroutine the server waits for on Shutdown.
func (s *Server) goTracked(fn func()) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		fn()
	}()
}

var errClosed = errors.New("engineio: session closed")

// ErrClosed is returned by Send on a closed session.
var ErrClosed = errClosed

// ErrQueueFull is returned by Send when the session's queue overflowed; the
// session is closed as a slow consumer.
var ErrQueueFull = errors.New("engineio: write queue full, slow consumer")

// countWrite counts a blocking writer's write of frames.
func (s *Server) countWrite(frames int) {
	s.writes.Add(1)
	s.framesWritten.Add(uint64(frames))
}

// countWriteError counts a session's failed write that hit WriteTimeout: a
// client that does not read. Other write errors (a peer gone) are not.
func (s *Server) countWriteError(err error) {
	if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
		s.writeTimeouts.Add(1)
	}
}
