// Package edge wires an edge node: the HTTP server that holds Socket.IO
// connections (package socketio) and, optionally, the demo page. It owns the
// listener (and the caps on the connections it accepts, limits.go), the HTTP
// server's timeouts and the process-level lifecycle, not the protocols.
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

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard-rt/switchboard/internal/tlsreload"
	"github.com/switchboard-rt/switchboard/pkg/bus"
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
	// TLSCertFile and TLSKeyFile, when both set, serve HTTPS/WSS. The files
	// are checked for changes every TLSReloadInterval (zero: 5s): a new
	// pair that loads is served to new connections, one that does not is
	// logged and the previous pair kept (internal/tlsreload).
	TLSCertFile, TLSKeyFile string
	TLSReloadInterval       time.Duration
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
	// ReadyCheckInterval is how often the edge sends itself a probe
	// through NATS and its own delivery path (bus.ProbeHeader on its edge
	// subject): when two in a row get no answer within the interval (5 s at
	// most), Ready reports "NATS: round trip failed" until one does. Zero
	// means 5s; negative: no probes.
	ReadyCheckInterval time.Duration
	// MaxConnections caps the TCP connections the edge holds at once
	// (HTTP, long-polling and WebSocket alike, TLS or not). A connection
	// over the cap is accepted and closed at once, without a response, and
	// counted (Stats.RefusedMaxConnections). Zero means the process's
	// descriptor limit (RLIMIT_NOFILE) less a reserve for everything else
	// the process opens (a twentieth of the limit, at least 64 and at most
	// 1,024), or 10,000 where that limit cannot be read; negative means no
	// cap. A cap at or above the descriptor limit is logged as a warning.
	MaxConnections int
	// MaxConnectionsPerIP caps the connections one client address holds at
	// once (IPv6 addresses count by their /64 prefix), refused and counted
	// (Stats.RefusedPerIP) like those over MaxConnections. Zero means
	// 1,000; negative means no cap. Behind a proxy that does not keep the
	// client's address, every client shares the proxy's: raise it or turn
	// it off.
	MaxConnectionsPerIP int
	// ReadHeaderTimeout bounds reading a request's headers, counted from
	// the connection's first byte or the end of the previous request.
	// Zero means 10s.
	ReadHeaderTimeout time.Duration
	// IdleTimeout closes a keep-alive connection that sends no new request
	// for that long after its last response. Zero means 30s.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds a request's headers (request line included);
	// larger ones get 431 Request Header Fields Too Large. Zero means
	// 64 KB.
	MaxHeaderBytes int
	// MaxNamespaces caps the namespaces one connection is joined to at
	// once; a CONNECT over it gets CONNECT_ERROR "Too many namespaces on
	// this connection (at most N)". Zero means 64; negative, no cap.
	MaxNamespaces int
	// MaxRoomsPerSocket caps the rooms one socket is in, besides its own
	// id room; a join over it is not made (JoinRoom reports the socket in
	// sockets_full) and is counted. Zero means 1,000; negative, no cap.
	MaxRoomsPerSocket int
	// MaxPendingAcks caps a socket's events waiting for a service's ack;
	// over it the event is refused (not published, counted in
	// ClusterStats().AcksRefused) and the client's own ack timeout fires.
	// Zero means 100; negative, no cap.
	MaxPendingAcks int
	// HandshakeRate and HandshakeBurst bound the Engine.IO handshakes
	// (new sessions, polling or WebSocket) one client address (keyed as
	// for MaxConnectionsPerIP) makes: a token bucket of HandshakeBurst
	// refilled at HandshakeRate a second (ratelimit.go). One over it gets
	// 429 Too Many Requests, {"code":4,"message":"Too many requests"}, and
	// is counted (Stats.RefusedHandshakeRate). Zero means 100 a second,
	// and a burst of 1,000 (or HandshakeRate if more); a negative
	// HandshakeRate, no limit.
	HandshakeRate, HandshakeBurst int
	// MaxEventNameLen, EventRate and EventBurst bound a socket's client
	// events (socketio.Config): an event whose name is over MaxEventNameLen
	// bytes, or that passes a token bucket of EventBurst refilled at
	// EventRate a second, is dropped and counted. Zero means 256 bytes,
	// 100 events a second and a burst of five times the rate (500);
	// negative, none.
	MaxEventNameLen, EventRate, EventBurst int
	// PendingAckTTL is how long an event waits for a service's ack. Zero
	// means 10m.
	PendingAckTTL time.Duration
	// ExposeHeaders names handshake headers (any case) that ListSockets and
	// lifecycle events show although they hide them by default: cookie,
	// authorization, proxy-authorization; "*" shows all. Empty hides those
	// three. The auth payload's "token" is hidden with authorization.
	// Connect hooks always receive every header and the whole payload.
	ExposeHeaders []string
	// Auth chooses who may connect to each namespace (auth.go): open
	// unless it says otherwise. Its refusals are counted in
	// Stats.ConnectsRefused and Stats.AuthFailures.
	Auth AuthConfig
	// ShutdownTimeout bounds a graceful shutdown, the drain included: Run
	// returns by then, every connection closed. Zero means 10s.
	ShutdownTimeout time.Duration
	// DrainWindow spreads the disconnects of a drain (drain.go): when Run's
	// context ends, the edge's clients are told to reconnect one by one
	// over this window, not all at once. Zero closes them all at once; it
	// must be shorter than ShutdownTimeout.
	DrainWindow time.Duration
	// Logger receives logs. Nil means slog.Default().
	Logger *slog.Logger
}

//go:embed web
var webFS embed.FS

// Edge is one edge node.
type Edge struct {
	cfg    Config
	log    *slog.Logger
	fanout prometheus.Histogram // broadcast delivery times (cluster.onBroadcast), for /metrics
	sio    *socketio.Server
	http   *http.Server
	mux    *http.ServeMux

	limiter *connLimiter
	auth    *edgeAuth
	hsLimit *handshakeLimiter // nil: no handshake rate

	mu      sync.Mutex
	ln      net.Listener        // guarded by mu
	tls     *tlsreload.Reloader // guarded by mu; with TLS, follows the certificate files
	cluster *cluster            // guarded by mu; nil when standalone or not started
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
	if cfg.ReadyCheckInterval == 0 {
		cfg.ReadyCheckInterval = 5 * time.Second
	}
	fdLimit, fdKnown := descriptorLimit()
	if cfg.MaxConnections == 0 {
		cfg.MaxConnections = fallbackMaxConnections
		if fdKnown {
			cfg.MaxConnections = defaultMaxConnections(fdLimit)
		}
	}
	if cfg.MaxConnectionsPerIP == 0 {
		cfg.MaxConnectionsPerIP = defaultMaxConnectionsPerIP
	}
	if cfg.ReadHeaderTimeout <= 0 {
		cfg.ReadHeaderTimeout = 10 * time.Second
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 30 * time.Second
	}
	if cfg.MaxHeaderBytes <= 0 {
		cfg.MaxHeaderBytes = 64 << 10
	}
	if err := cfg.check(); err != nil {
		return nil, err
	}
	scfg := socketio.Config{
		Engine:            cfg.Engine,
		ConnectTimeout:    cfg.ConnectTimeout,
		MaxNamespaces:     cfg.MaxNamespaces,
		MaxRoomsPerSocket: cfg.MaxRoomsPerSocket,
		MaxEventNameLen:   cfg.MaxEventNameLen,
		EventRate:         cfg.EventRate,
		EventBurst:        cfg.EventBurst,
		Logger:            cfg.Logger,
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
	auth, err := newEdgeAuth(cfg, cfg.Logger)
	if err != nil {
		return nil, err
	}
	if cfg.HandshakeRate == 0 {
		cfg.HandshakeRate = defaultHandshakeRate
	}
	if cfg.HandshakeBurst <= 0 {
		cfg.HandshakeBurst = max(defaultHandshakeBurst, cfg.HandshakeRate)
	}
	hsLimit := newHandshakeLimiter(cfg.HandshakeRate, cfg.HandshakeBurst)
	if hsLimit != nil {
		next := scfg.Engine.AllowRequest
		scfg.Engine.AllowRequest = func(r *http.Request) error {
			if err := hsLimit.allow(r); err != nil {
				return err
			}
			if next != nil {
				return next(r)
			}
			return nil
		}
	}
	sio := socketio.NewServer(scfg)
	// Installed before anything can create a namespace: every one, "/" and
	// those made for a client's CONNECT included, asks its authorizer.
	sio.OnNamespace(auth.hookNamespace)
	e := &Edge{
		fanout:  newFanoutHistogram(),
		cfg:     cfg,
		log:     cfg.Logger,
		sio:     sio,
		mux:     http.NewServeMux(),
		limiter: newConnLimiter(cfg.MaxConnections, cfg.MaxConnectionsPerIP),
		auth:    auth,
		hsLimit: hsLimit,
	}
	if fdKnown && cfg.MaxConnections > 0 && cfg.MaxConnections >= fdLimit {
		cfg.Logger.Warn("edge: max connections is not below the descriptor limit: past it, accept fails and new clients time out",
			"max_connections", cfg.MaxConnections, "rlimit_nofile", fdLimit)
	}
	e.mux.Handle(cfg.Path, sio)
	if cfg.Demo {
		if err := e.mountDemo(); err != nil {
			auth.close()
			return nil, err
		}
	}
	// Requests to the Socket.IO path carry deadlines of their own, fitted
	// to the protocol by engineio (a long-polling GET may wait a ping
	// interval, a POST body has PostTimeout): the server-wide read and write
	// timeouts only bound the other requests (demo page, 404s, a body sent
	// to them), and are long enough never to cut a long poll even so.
	eng := sio.Engine().Config()
	requestTimeout := cfg.ReadHeaderTimeout + eng.PingInterval + eng.PingTimeout + eng.WriteTimeout
	e.http = &http.Server{
		Handler:           e.mux,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       requestTimeout,
		WriteTimeout:      requestTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
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
	for _, h := range c.ExposeHeaders {
		if err := CheckHeaderName(h); err != nil {
			return fmt.Errorf("exposed header %q: %w", h, err)
		}
	}
	if err := CheckDrainWindow(c.DrainWindow, c.ShutdownTimeout); err != nil {
		return fmt.Errorf("drain window %v: %w", c.DrainWindow, err)
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		return errors.New("TLS needs both a certificate and a key file")
	}
	if err := c.Auth.check(c.NATSURL != ""); err != nil {
		return fmt.Errorf("auth: %w", err)
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

// CheckEdgeID checks an edge id: bus.EdgeIDLen lowercase letters or digits.
func CheckEdgeID(id string) error {
	if !bus.IsEdgeID(id) {
		return fmt.Errorf("want %d lowercase letters or digits", bus.EdgeIDLen)
	}
	return nil
}

// Stats are an edge's counters.
type Stats struct {
	// Connections is the TCP connections the edge holds now.
	Connections int
	// RefusedMaxConnections counts connections closed at accept because
	// the edge held MaxConnections.
	RefusedMaxConnections uint64
	// RefusedPerIP counts connections closed at accept because their
	// client address held MaxConnectionsPerIP.
	RefusedPerIP uint64
	// RefusedHandshakeRate counts handshakes answered 429 because their
	// client address was over HandshakeRate; HandshakeRateUntracked, those
	// admitted without a bucket because the limiter held as many addresses
	// as it keeps (65,536, ratelimit.go).
	RefusedHandshakeRate, HandshakeRateUntracked uint64
	// ConnectsRefused counts CONNECTs the namespace's authorization
	// refused: a token missing or not valid, a connect hook's deny.
	ConnectsRefused uint64
	// AuthFailures counts CONNECTs refused because authorization could not
	// decide: a connect hook down, slow (past AuthConfig.HookTimeout) or
	// answering neither allow nor deny (or granting more than a socket may
	// hold); JWKS keys that could not be fetched.
	AuthFailures uint64
	// Engine is the Engine.IO server's counters.
	Engine engineio.Stats
	// SocketIO is the Socket.IO server's counters.
	SocketIO socketio.Stats
}

// Stats returns the edge's counters. It may be called at any time, from
// any goroutine.
func (e *Edge) Stats() Stats {
	open, refusedMax, refusedIP := e.limiter.stats()
	authRefused, authFailures := e.auth.counts()
	hsRefused, hsUntracked := e.hsLimit.stats()
	st := Stats{
		Connections:           open,
		RefusedMaxConnections: refusedMax,
		RefusedPerIP:          refusedIP,
		ConnectsRefused:       authRefused,
		AuthFailures:          authFailures,
		Engine:                e.sio.Engine().Stats(),
		SocketIO:              e.sio.Stats(),
	}
	st.RefusedHandshakeRate, st.HandshakeRateUntracked = hsRefused, hsUntracked
	return st
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
	tcp, err := net.Listen("tcp", e.cfg.Addr)
	if err != nil {
		return err // "listen tcp <addr>: <why>"
	}
	// Counted below TLS: a connection refused at the cap costs no
	// handshake, and one whose handshake never ends still counts.
	var ln net.Listener = &limitListener{Listener: tcp, l: e.limiter, log: e.log}
	var reloader *tlsreload.Reloader
	if e.cfg.TLSCertFile != "" {
		reloader, err = tlsreload.New(tlsreload.Config{CertFile: e.cfg.TLSCertFile, KeyFile: e.cfg.TLSKeyFile, Interval: e.cfg.TLSReloadInterval, Logger: e.log})
		if err != nil {
			ln.Close()
			return err
		}
		ln = tls.NewListener(ln, reloader.ServerConfig(&tls.Config{NextProtos: []string{"http/1.1"}}))
		reloader.Start()
	}
	e.mu.Lock()
	e.ln = ln
	e.tls = reloader
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
		if err == nil {
			c.fanout = e.fanout
		}
		if err != nil {
			ln.Close()
			e.auth.close()
			return err
		}
		c.addr = ln.Addr().String()
		c.stats = e.Stats
		e.auth.setBus(c.nc)
		if err := c.start(); err != nil {
			c.close()
			ln.Close()
			e.auth.close()
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
	e.log.Info("edge listening", "edge", e.cfg.EdgeID, "nats", e.cfg.NATSURL, "addr", ln.Addr().String(), "path", e.cfg.Path, "tls", e.cfg.TLSCertFile != "",
		"max_connections", e.cfg.MaxConnections, "max_connections_per_ip", e.cfg.MaxConnectionsPerIP)
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
	if lostErr == nil {
		e.drain(sctx)
	}
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
	reloader := e.tls
	e.mu.Unlock()
	if reloader != nil {
		reloader.Stop()
	}
	if c != nil {
		c.leave() // from now on, losing the bus is part of stopping
	}
	// Connect checks in flight give up (the clients are told "connect hook
	// unavailable"), so that no session waits for a hook to close.
	e.auth.stop()
	// Sessions first: that releases pending long-polling GETs, which the HTTP
	// server's Shutdown would otherwise wait for.
	serr := e.sio.Shutdown(ctx)
	herr := e.http.Shutdown(ctx)
	if c != nil {
		c.close() // after the sockets: their disconnects reach the bus first
	}
	e.auth.close()
	return errors.Join(herr, serr)
}
