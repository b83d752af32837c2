// Package edge wires an edge node: the HTTP server that holds Socket.IO
// connections (package socketio) and, optionally, the demo page. It owns the
// listener and the process-level lifecycle, not the protocols.
package edge

import (
	"context"
	"crypto/tls"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/switchboard-rt/switchboard/pkg/engineio"
	"github.com/switchboard-rt/switchboard/pkg/socketio"
)

// Config configures an edge. Zero values are documented defaults.
type Config struct {
	// Addr is the listen address. Empty means "127.0.0.1:3000".
	Addr string
	// Path is the Socket.IO path. Empty means "/socket.io/".
	Path string
	// Namespaces lists the namespaces clients may connect to; "*" admits
	// any. Empty means any: the application decides through the control
	// plane what a namespace means.
	Namespaces []string
	// Engine configures Engine.IO: heartbeat, max payload, CORS origins,
	// transports. See engineio.Config for defaults.
	Engine engineio.Config
	// ConnectTimeout closes connections that join no namespace. Zero: 45s.
	ConnectTimeout time.Duration
	// TLSCertFile and TLSKeyFile, when both set, serve HTTPS/WSS.
	TLSCertFile, TLSKeyFile string
	// Demo serves a demo page at "/" that connects with the official
	// client, loaded from ClientJS.
	Demo bool
	// ClientJS is the path of socket.io-client's browser bundle
	// (node_modules/socket.io-client/dist/socket.io.min.js), served at
	// /socket.io-client.js when Demo is on.
	ClientJS string
	// NATSURL is the NATS server (or comma-separated cluster URLs) the
	// edge joins. Empty means standalone: no bus, no control plane.
	NATSURL string
	// SubjectPrefix prefixes every NATS subject; deployments sharing a NATS
	// use different prefixes. Empty means "sb".
	SubjectPrefix string
	// EdgeID names the edge in the cluster and starts every sid it makes.
	// Empty means a random one (8 lowercase letters and digits); a given id
	// must have that form too.
	EdgeID string
	// HeartbeatInterval is how often the edge tells control it is alive.
	// Zero means 2s; control forgets an edge after three missed intervals.
	HeartbeatInterval time.Duration
	// ShutdownTimeout bounds a graceful shutdown. Zero means 10s.
	ShutdownTimeout time.Duration
	// Logger receives logs. Nil means slog.Default().
	Logger *slog.Logger
}

//go:embed web
var webFS embed.FS

// Edge is one edge node.
type Edge struct {
	cfg  Config
	log  *slog.Logger
	sio  *socketio.Server
	http *http.Server
	mux  *http.ServeMux

	mu      sync.Mutex
	ln      net.Listener // guarded by mu
	cluster *cluster     // guarded by mu; nil when standalone or not started
}

// New builds an edge; Run or Serve starts it.
func New(cfg Config) (*Edge, error) {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:3000"
	}
	if cfg.Path == "" {
		cfg.Path = "/socket.io/"
	}
	if !strings.HasPrefix(cfg.Path, "/") {
		cfg.Path = "/" + cfg.Path
	}
	if !strings.HasSuffix(cfg.Path, "/") {
		cfg.Path += "/"
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.EdgeID == "" {
		cfg.EdgeID = NewEdgeID()
	}
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = 2 * time.Second
	}
	if err := cfg.check(); err != nil {
		return nil, err
	}
	scfg := socketio.Config{
		Engine:         cfg.Engine,
		ConnectTimeout: cfg.ConnectTimeout,
		Logger:         cfg.Logger,
		NewSocketID: func() string {
			return cfg.EdgeID + engineio.RandomID()[:12]
		},
	}
	allowAny := len(cfg.Namespaces) == 0
	allowed := make(map[string]bool)
	for _, n := range cfg.Namespaces {
		if n == "*" {
			allowAny = true
		}
		allowed[n] = true
	}
	scfg.AllowNamespace = func(name string) bool { return allowAny || allowed[name] }
	sio := socketio.NewServer(scfg)
	e := &Edge{cfg: cfg, log: cfg.Logger, sio: sio, mux: http.NewServeMux()}
	e.mux.Handle(cfg.Path, sio)
	if cfg.Demo {
		if err := e.mountDemo(); err != nil {
			return nil, err
		}
	}
	e.http = &http.Server{
		Handler:           e.mux,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelDebug),
	}
	return e, nil
}

func (e *Edge) mountDemo() error {
	sub, err := fs.Sub(webFS, "web")
	if err != nil {
		return err
	}
	if e.cfg.ClientJS == "" {
		return errors.New("the demo page needs ClientJS (socket.io-client's dist/socket.io.min.js; run npm ci)")
	}
	if _, err := os.Stat(e.cfg.ClientJS); err != nil {
		return fmt.Errorf("demo page: client bundle: %w (run npm ci)", err)
	}
	e.mux.HandleFunc("/socket.io-client.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		http.ServeFile(w, r, e.cfg.ClientJS)
	})
	e.mux.HandleFunc("/config.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		fmt.Fprintf(w, "window.SWITCHBOARD = {path: %q};\n", e.cfg.Path)
	})
	e.mux.Handle("/", http.FileServerFS(sub))
	return nil
}

// check refuses a configuration no edge can serve with, once the defaults
// are in: each error names the field and the value. The binary checks its
// flags with the same Check functions, to name the flag instead.
func (c *Config) check() error {
	if err := CheckPath(c.Path, c.Demo); err != nil {
		return fmt.Errorf("path %q: %w", c.Path, err)
	}
	for _, n := range c.Namespaces {
		if err := CheckNamespace(n); err != nil {
			return fmt.Errorf("namespace %q: %w", n, err)
		}
	}
	for _, t := range c.Engine.Transports {
		if err := CheckTransport(t); err != nil {
			return fmt.Errorf("transport %q: %w", t, err)
		}
	}
	for _, o := range c.Engine.AllowedOrigins {
		if err := CheckOrigin(o); err != nil {
			return fmt.Errorf("allowed origin %q: %w", o, err)
		}
	}
	if err := CheckEdgeID(c.EdgeID); err != nil {
		return fmt.Errorf("edge id %q: %w", c.EdgeID, err)
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		return errors.New("TLS needs both a certificate and a key file")
	}
	return nil
}

// CheckPath checks a Socket.IO path, as given or as New completes it
// (a leading and a trailing slash): no spaces, query or fragment, and not
// "/" when the demo page is served there.
func CheckPath(path string, demo bool) error {
	if !strings.HasPrefix(path, "/") {
		return errors.New("must start with /")
	}
	if strings.ContainsFunc(path, func(r rune) bool { return r <= ' ' || r == '?' || r == '#' || r == 0x7f }) {
		return errors.New("may not hold spaces, control characters, ? or #")
	}
	if demo && path == "/" {
		return errors.New("the demo page is served at /: give Socket.IO a path of its own")
	}
	return nil
}

// CheckNamespace checks a namespace clients may join: "*" (any) or a
// name starting with "/", as clients send them.
func CheckNamespace(name string) error {
	if name != "*" && !strings.HasPrefix(name, "/") {
		return errors.New("must start with / (or be * for any)")
	}
	return nil
}

// CheckTransport checks an Engine.IO transport name.
func CheckTransport(name string) error {
	if name != engineio.TransportPolling && name != engineio.TransportWebSocket {
		return fmt.Errorf("want %s or %s", engineio.TransportPolling, engineio.TransportWebSocket)
	}
	return nil
}

// CheckOrigin checks an allowed CORS origin: "*" or scheme://host[:port]
// the way browsers send it in the Origin header, which is compared as a
// string (lower case, no path, no default port).
func CheckOrigin(origin string) error {
	if origin == "*" {
		return nil
	}
	u, err := url.Parse(origin)
	if err != nil || u.Scheme == "" || u.Host == "" || u.User != nil || u.Path != "" || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return errors.New("want scheme://host[:port], e.g. https://example.com, or *")
	}
	if origin != strings.ToLower(origin) {
		return errors.New("browsers send origins in lower case")
	}
	if p := u.Port(); u.Scheme == "http" && p == "80" || u.Scheme == "https" && p == "443" {
		return errors.New("browsers leave the default port out")
	}
	return nil
}

// CheckEdgeID checks an edge id: edgeIDLen lowercase letters or digits.
func CheckEdgeID(id string) error {
	if !validEdgeID(id) {
		return fmt.Errorf("want %d lowercase letters or digits", edgeIDLen)
	}
	return nil
}

func validEdgeID(id string) bool {
	if len(id) != edgeIDLen {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// ID returns the edge id.
func (e *Edge) ID() string { return e.cfg.EdgeID }

// SocketIO returns the Socket.IO server, for the layers that drive it.
func (e *Edge) SocketIO() *socketio.Server { return e.sio }

// Addr returns the listening address once Listen or Run has bound it.
func (e *Edge) Addr() net.Addr {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ln == nil {
		return nil
	}
	return e.ln.Addr()
}

// Listen binds the configured address.
func (e *Edge) Listen() error {
	ln, err := net.Listen("tcp", e.cfg.Addr)
	if err != nil {
		return err // "listen tcp <addr>: <why>"
	}
	if e.cfg.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(e.cfg.TLSCertFile, e.cfg.TLSKeyFile)
		if err != nil {
			ln.Close()
			return fmt.Errorf("TLS key pair: %w", err)
		}
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}})
	}
	e.mu.Lock()
	e.ln = ln
	e.mu.Unlock()
	return nil
}

// Run listens (unless Listen was called) and serves until ctx ends, then
// shuts down gracefully.
func (e *Edge) Run(ctx context.Context) error {
	if e.Addr() == nil {
		if err := e.Listen(); err != nil {
			return err
		}
	}
	e.mu.Lock()
	ln := e.ln
	e.mu.Unlock()
	if e.cfg.NATSURL != "" {
		c, err := newCluster(e.cfg, e.sio, e.log)
		if err != nil {
			ln.Close()
			return err
		}
		c.addr = ln.Addr().String()
		if err := c.start(); err != nil {
			c.close()
			ln.Close()
			return err
		}
		e.mu.Lock()
		e.cluster = c
		e.mu.Unlock()
	}
	var lost <-chan error // nil, never ready, when standalone
	e.mu.Lock()
	if e.cluster != nil {
		lost = e.cluster.lost
	}
	e.mu.Unlock()
	errc := make(chan error, 1)
	go func() { errc <- e.http.Serve(ln) }()
	e.log.Info("edge listening", "edge", e.cfg.EdgeID, "nats", e.cfg.NATSURL, "addr", ln.Addr().String(), "path", e.cfg.Path, "tls", e.cfg.TLSCertFile != "")
	var lostErr error
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case lostErr = <-lost:
		// Deaf to the bus, the edge would keep clients that no emit reaches:
		// it stops, its clients reconnect to other edges, and whatever runs
		// it (systemd, Kubernetes) starts it again.
		e.log.Error("edge: stopping: the NATS connection is gone for good", "err", lostErr)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), e.cfg.ShutdownTimeout)
	defer cancel()
	err := e.Shutdown(sctx)
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return errors.Join(lostErr, err)
}

// Shutdown stops accepting, disconnects every client (reason "server
// shutting down") and waits for the edge's goroutines, within ctx.
func (e *Edge) Shutdown(ctx context.Context) error {
	e.mu.Lock()
	c := e.cluster
	e.cluster = nil
	e.mu.Unlock()
	if c != nil {
		c.leave() // from now on, losing the bus is part of stopping
	}
	// Sessions first: that releases pending long-polling GETs, which the HTTP
	// server's Shutdown would otherwise wait for.
	serr := e.sio.Shutdown(ctx)
	herr := e.http.Shutdown(ctx)
	if c != nil {
		c.close() // after the sockets: their disconnects reach the bus first
	}
	return errors.Join(herr, serr)
}
