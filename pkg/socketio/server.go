package socketio

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/switchboard-rt/switchboard/pkg/engineio"
)

// Config configures a Server. Zero values are documented defaults.
type Config struct {
	// Engine configures the Engine.IO layer (transports, heartbeat, payload
	// limit, CORS).
	Engine engineio.Config
	// ConnectTimeout closes a connection that has not joined any namespace
	// in time. Zero means 45s, as socket.io.
	ConnectTimeout time.Duration
	// AttachmentTimeout closes a connection whose binary packet (a header
	// announcing attachments) is not complete in time, so that no connection
	// holds a partial packet for ever. The packet with all its attachments
	// is bounded by Engine.MaxPayload. Zero means 30s.
	AttachmentTimeout time.Duration
	// NewSocketID returns the id of a new socket. Nil means 20 random
	// URL-safe characters.
	NewSocketID func() string
	// AllowNamespace, when set, admits CONNECTs to namespaces that were not
	// registered with Of: they are created on first use (and OnNamespace
	// hooks run), and deleted (OnDelete hooks run) once they have no socket
	// left and no CONNECT in progress, so that the names clients choose do
	// not pile up. Nil means only registered namespaces; others get
	// CONNECT_ERROR "Invalid namespace". A name that is not UTF-8 is always
	// refused so.
	AllowNamespace func(name string) bool
	// MaxNamespaces caps the namespaces one connection is joined to at
	// once. A CONNECT over the cap gets CONNECT_ERROR {"message": "Too many
	// namespaces on this connection (at most N)"}, as a refused namespace
	// does; the connection and its other sockets go on. Zero means 64;
	// negative means no cap.
	MaxNamespaces int
	// MaxRoomsPerSocket caps the rooms one socket is in, besides the room
	// of its own id. A join that would pass the cap is not made (the
	// socket keeps the rooms it has) and is counted in
	// Stats().RoomJoinsRefused: Socket.Join returns ErrTooManyRooms and
	// BroadcastOperator.Join counts the socket as full. Zero means 1,000;
	// negative means no cap.
	MaxRoomsPerSocket int
	// MaxEventNameLen bounds, in bytes, the name of an event a client
	// sends; EventRate and EventBurst bound how many events one socket
	// sends: a token bucket of EventBurst events refilled at EventRate a
	// second. An event over either is dropped (eventlimits.go): no handler
	// sees it, it is counted in Stats, and the client's ack timeout fires
	// if it asked for an ack. Zero means 256 bytes and 100 events a
	// second; a zero EventBurst, five times EventRate (500). A negative
	// MaxEventNameLen or EventRate means no bound.
	MaxEventNameLen       int
	EventRate, EventBurst int
	// Logger receives logs. Nil means slog.Default().
	Logger *slog.Logger
}

// Server is a Socket.IO server; it is an http.Handler for its path.
type Server struct {
	cfg Config
	eio *engineio.Server
	log *slog.Logger

	// mu guards the namespace table, and each Namespace's dynamic and
	// refs. Lock order: mu before Namespace.mu.
	mu          sync.RWMutex
	nsps        map[string]*Namespace // guarded by mu
	onNamespace []func(*Namespace)    // guarded by mu

	roomJoinsRefused  atomic.Uint64
	namespacesRefused atomic.Uint64

	events eventLimits // eventlimits.go
}

// Stats are a server's counters since it started.
type Stats struct {
	// RoomJoinsRefused counts joins cut short because the socket was in
	// Config.MaxRoomsPerSocket rooms: one per socket and call (Join, a
	// BroadcastOperator's Join, the rooms granted at connect).
	RoomJoinsRefused uint64
	// NamespacesRefused counts CONNECTs refused because the connection was
	// joined to Config.MaxNamespaces namespaces.
	NamespacesRefused uint64
	// EventsOverRate counts client events dropped because their socket
	// was over Config.EventRate; EventNamesTooLong, those whose name was
	// over Config.MaxEventNameLen.
	EventsOverRate, EventNamesTooLong uint64
}

// Stats returns the server's counters.
func (s *Server) Stats() Stats {
	return Stats{RoomJoinsRefused: s.roomJoinsRefused.Load(), NamespacesRefused: s.namespacesRefused.Load(),
		EventsOverRate: s.events.droppedRate.Load(), EventNamesTooLong: s.events.droppedName.Load()}
}

const (
	// DefaultMaxNamespaces is Config.MaxNamespaces's default.
	DefaultMaxNamespaces = 64
	// DefaultMaxRoomsPerSocket is Config.MaxRoomsPerSocket's default.
	DefaultMaxRoomsPerSocket = 1000
)

// OnNamespace adds a hook called for every namespace created from now on
// (by Of, or dynamically through Config.AllowNamespace), and at once for the
// existing ones. It is how hooks are installed on every namespace. Hooks run
// with the server's namespace table locked: they must not call Of,
// Namespace or Namespaces.
func (s *Server) OnNamespace(fn func(*Namespace)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onNamespace = append(s.onNamespace, fn)
	// Under the lock, as for a namespace created later: one created for
	// clients cannot be deleted meanwhile, with the hook's OnDelete unset.
	for _, n := range s.nsps {
		fn(n)
	}
}

// NewServer returns a server with the main namespace "/" registered.
func NewServer(cfg Config) *Server {
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 45 * time.Second
	}
	if cfg.AttachmentTimeout <= 0 {
		cfg.AttachmentTimeout = 30 * time.Second
	}
	if cfg.MaxNamespaces == 0 {
		cfg.MaxNamespaces = DefaultMaxNamespaces
	}
	if cfg.MaxRoomsPerSocket == 0 {
		cfg.MaxRoomsPerSocket = DefaultMaxRoomsPerSocket
	}
	if cfg.MaxEventNameLen == 0 {
		cfg.MaxEventNameLen = DefaultMaxEventNameLen
	}
	if cfg.EventRate == 0 {
		cfg.EventRate = DefaultEventRate
	}
	if cfg.NewSocketID == nil {
		cfg.NewSocketID = engineio.RandomID
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Engine.Logger == nil {
		cfg.Engine.Logger = cfg.Logger
	}
	s := &Server{cfg: cfg, log: cfg.Logger, nsps: make(map[string]*Namespace)}
	s.events.init(cfg)
	s.eio = engineio.NewServer(cfg.Engine, s)
	s.Of("/")
	return s
}

// Engine returns the Engine.IO server underneath.
func (s *Server) Engine() *engineio.Server { return s.eio }

// ServeHTTP serves Engine.IO requests; mount it at the Socket.IO path.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.eio.ServeHTTP(w, r) }

// Shutdown disconnects every client and stops the server's goroutines.
func (s *Server) Shutdown(ctx context.Context) error { return s.eio.Shutdown(ctx) }

// Of returns the namespace with the given name, creating it. Names start
// with "/"; one without is prefixed. A namespace registered with Of stays
// for the server's life, even one first created for a client's CONNECT.
func (s *Server) Of(name string) *Namespace {
	if name == "" || name[0] != '/' {
		name = "/" + name
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if n, ok := s.nsps[name]; ok {
		n.dynamic = false
		return n
	}
	return s.createLocked(name, false)
}

// createLocked makes and registers a namespace, its hooks run before it is
// visible: no socket can connect yet.
func (s *Server) createLocked(name string, dynamic bool) *Namespace {
	n := newNamespace(s, name)
	n.dynamic = dynamic
	for _, fn := range s.onNamespace {
		fn(n)
	}
	s.nsps[name] = n
	return n
}

// acquire returns the namespace for a CONNECT, creating it when
// AllowNamespace admits the name, or nil. A namespace created so holds a
// reference for the CONNECT, which release drops (on refusal, or when the
// socket it made closes): the last one deletes it.
func (s *Server) acquire(name string) *Namespace {
	if !strings.HasPrefix(name, "/") || !utf8.ValidString(name) {
		return nil
	}
	s.mu.RLock()
	n := s.nsps[name]
	static := n != nil && !n.dynamic
	s.mu.RUnlock()
	if static {
		return n // the common case: no write lock
	}
	if n == nil && (s.cfg.AllowNamespace == nil || !s.cfg.AllowNamespace(name)) {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n = s.nsps[name] // created, registered or deleted meanwhile
	if n == nil {
		n = s.createLocked(name, true)
	}
	if n.dynamic {
		n.refs++
	}
	return n
}

// release drops a reference acquire took; a dynamic namespace whose last
// reference goes is deleted, and its OnDelete hooks run.
func (s *Server) release(n *Namespace) {
	s.mu.RLock()
	dynamic := n.dynamic
	s.mu.RUnlock()
	if !dynamic {
		return // never deleted: its references are not counted
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !n.dynamic {
		return // registered with Of meanwhile
	}
	n.refs--
	if n.refs > 0 {
		return
	}
	if s.nsps[n.name] == n {
		delete(s.nsps, n.name)
	}
	n.dynamic = false // deleted once
	for _, fn := range n.onDelete {
		fn()
	}
}

// Namespace returns a registered namespace, or nil.
func (s *Server) Namespace(name string) *Namespace {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.nsps[name]
}

// Namespaces returns the registered namespaces.
func (s *Server) Namespaces() []*Namespace {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*Namespace, 0, len(s.nsps))
	for _, n := range s.nsps {
		out = append(out, n)
	}
	return out
}

// OnOpen implements engineio.Handler.
func (s *Server) OnOpen(sess *engineio.Session) engineio.SessionHandler {
	c := &client{srv: s, sess: sess}
	c.dec.MaxBytes = s.eio.Config().MaxPayload
	c.connectTimer = engineio.Timer{}
	s.eio.Scheduler().Schedule(&c.connectTimer, s.cfg.ConnectTimeout, c.onConnectTimeout)
	return c
}

// Handshake is what a socket knows of how it connected, like socket.io's
// socket.handshake.
type Handshake struct {
	Header    http.Header
	Query     url.Values
	Address   string // remote address, host:port
	Secure    bool
	Time      time.Time
	Transport string          // transport at connect time
	Auth      json.RawMessage // the CONNECT payload, "{}" when absent
	EngineID  string          // the Engine.IO session id
	Host      string
}
