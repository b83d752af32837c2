package socketio

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

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
	// hooks run). Nil means only registered namespaces; others get
	// CONNECT_ERROR "Invalid namespace".
	AllowNamespace func(name string) bool
	// Logger receives logs. Nil means slog.Default().
	Logger *slog.Logger
}

// Server is a Socket.IO server; it is an http.Handler for its path.
type Server struct {
	cfg Config
	eio *engineio.Server
	log *slog.Logger

	mu          sync.RWMutex
	nsps        map[string]*Namespace // guarded by mu
	onNamespace []func(*Namespace)    // guarded by mu
}

// OnNamespace adds a hook called for every namespace created from now on
// (by Of, or dynamically through Config.AllowNamespace), and at once for the
// existing ones. It is how hooks are installed on every namespace. Hooks run
// with the server's namespace table locked: they must not call Of,
// Namespace or Namespaces.
func (s *Server) OnNamespace(fn func(*Namespace)) {
	s.mu.Lock()
	s.onNamespace = append(s.onNamespace, fn)
	existing := make([]*Namespace, 0, len(s.nsps))
	for _, n := range s.nsps {
		existing = append(existing, n)
	}
	s.mu.Unlock()
	for _, n := range existing {
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
// with "/"; one without is prefixed.
func (s *Server) Of(name string) *Namespace {
	if name == "" || name[0] != '/' {
		name = "/" + name
	}
	s.mu.Lock()
	if n, ok := s.nsps[name]; ok {
		s.mu.Unlock()
		return n
	}
	n := newNamespace(s, name)
	hooks := append([]func(*Namespace){}, s.onNamespace...)
	for _, fn := range hooks {
		fn(n) // before it is visible: no socket can connect yet
	}
	s.nsps[name] = n
	s.mu.Unlock()
	return n
}

// lookup returns the namespace for a CONNECT, creating it when allowed.
func (s *Server) lookup(name string) *Namespace {
	if n := s.Namespace(name); n != nil {
		return n
	}
	if s.cfg.AllowNamespace != nil && s.cfg.AllowNamespace(name) {
		return s.Of(name)
	}
	return nil
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
