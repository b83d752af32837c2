// Command edge is a Switchboard edge node: it holds Socket.IO connections.
//
// Every flag can also be set with an environment variable,
// $SWITCHBOARD_EDGE_<FLAG> (--nats-url is $SWITCHBOARD_EDGE_NATS_URL),
// or under its name in the YAML file that --config names (nats-url: ...);
// the command line wins over the environment, and both over the file.
// Every value is checked before anything starts. The exit status is 0
// after SIGINT or SIGTERM (or --help), 1 when the edge cannot start or
// fails, 2 for a bad flag, variable or config file; the last two print one
// line on stderr saying why.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard-rt/switchboard/internal/admin"
	"github.com/switchboard-rt/switchboard/internal/daemon"
	"github.com/switchboard-rt/switchboard/internal/envflag"
	"github.com/switchboard-rt/switchboard/pkg/edge"
)

// envPrefix starts the environment variable of every flag.
const envPrefix = "SWITCHBOARD_EDGE_"

func main() {
	cfg, addrs, err := configure(os.Args[1:])
	switch {
	case errors.Is(err, flag.ErrHelp):
		return
	case err != nil:
		daemon.Exit("edge", daemon.ExitUsage, err)
	}
	if err := run(cfg, addrs); err != nil {
		daemon.Exit("edge", daemon.ExitFailed, err)
	}
}

// listenAddrs are the addresses of the side listeners; empty: off.
type listenAddrs struct{ debug, admin string }

func run(cfg edge.Config, addrs listenAddrs) error {
	e, err := edge.New(cfg)
	if err != nil {
		return err
	}
	acfg := admin.Config{Addr: addrs.admin, Collectors: []prometheus.Collector{e.Collector()}, Ready: e.Ready, Logger: cfg.Logger}
	return daemon.Run(addrs.debug, cfg.Logger, func(ctx context.Context) error {
		// The admin listener outlives the signal: /readyz says "draining"
		// until the edge has stopped.
		return admin.Run(context.WithoutCancel(ctx), acfg, func(context.Context) error { return e.Run(ctx) })
	})
}

// configure reads the command line and the environment into the edge's
// configuration and the debug and admin listeners' addresses, every value
// checked.
func configure(args []string) (edge.Config, listenAddrs, error) {
	var cfg edge.Config
	var namespaces, origins, transports, exposeHeaders envflag.List
	var logLevel, logFormat, debugAddr, adminAddr string
	var level slog.Level
	var auth authFlags
	fs := flag.NewFlagSet("edge", flag.ContinueOnError)
	envflag.DefineConfig(fs)
	fs.StringVar(&cfg.Addr, "addr", "127.0.0.1:3000", "listen address, host:port; port 0 picks a free one")
	fs.StringVar(&cfg.Path, "path", "/socket.io/", "Socket.IO path")
	fs.Var(&namespaces, "namespaces", "comma-separated namespaces clients may join; empty or * for any")
	fs.DurationVar(&cfg.Engine.PingInterval, "ping-interval", 25*time.Second, "heartbeat interval")
	fs.DurationVar(&cfg.Engine.PingTimeout, "ping-timeout", 20*time.Second, "heartbeat timeout")
	fs.IntVar(&cfg.Engine.MaxPayload, "max-payload", 1_000_000, "largest message or POST body, bytes")
	fs.Var(&origins, "cors-origins", "comma-separated origins (scheme://host[:port]) allowed cross-origin, with credentials; * for any; empty: same origin only")
	fs.Var(&transports, "transports", "comma-separated transports offered: polling, websocket; empty: both")
	fs.DurationVar(&cfg.ConnectTimeout, "connect-timeout", 45*time.Second, "close connections that join no namespace in time")
	fs.IntVar(&cfg.Engine.WriteQueueSize, "write-queue", 1024, "packets queued per connection before it is dropped as a slow consumer")
	fs.IntVar(&cfg.Engine.WriteQueueBytes, "write-queue-bytes", 0, "bytes queued per connection before it is dropped as a slow consumer; 0: 4 × --max-payload")
	fs.StringVar(&cfg.TLSCertFile, "tls-cert", "", "TLS certificate file (PEM); with --tls-key serves HTTPS/WSS; empty: plain HTTP")
	fs.StringVar(&cfg.TLSKeyFile, "tls-key", "", "TLS private key file (PEM)")
	fs.BoolVar(&cfg.Demo, "demo", false, "serve the demo page at /")
	fs.StringVar(&cfg.ClientJS, "client-js", "node_modules/socket.io-client/dist/socket.io.min.js", "socket.io-client browser bundle served to the demo page (with --demo)")
	fs.StringVar(&cfg.NATSURL, "nats-url", "nats://127.0.0.1:4222", "NATS server(s) to join, comma-separated; the default is control's embedded NATS; empty runs standalone")
	fs.StringVar(&cfg.SubjectPrefix, "subject-prefix", "sb", "NATS subject prefix, the same for control and every edge of a deployment")
	fs.StringVar(&cfg.EdgeID, "edge-id", "", "edge id: 8 lowercase letters or digits, unique in the cluster; empty picks a random one")
	fs.DurationVar(&cfg.HeartbeatInterval, "heartbeat", 2*time.Second, "heartbeat interval")
	fs.DurationVar(&cfg.ReadyCheckInterval, "ready-check-interval", 5*time.Second, "how often to send a probe to itself through NATS; two in a row unanswered make /readyz 503 (NATS: round trip failed) until one is answered; 0: no probes")
	fs.IntVar(&cfg.MaxConnections, "max-conns", 0, "TCP connections held at once; the excess is closed at accept; 0: the descriptor limit less a reserve; -1: no cap")
	fs.IntVar(&cfg.MaxConnectionsPerIP, "max-conns-per-ip", 1000, "connections one client address (IPv6: its /64) holds at once; -1: no cap (behind a proxy that hides client addresses)")
	fs.DurationVar(&cfg.ReadHeaderTimeout, "read-header-timeout", 10*time.Second, "bound on reading a request's headers")
	fs.DurationVar(&cfg.IdleTimeout, "idle-timeout", 30*time.Second, "close a keep-alive connection idle that long")
	fs.IntVar(&cfg.MaxHeaderBytes, "max-header-bytes", 64<<10, "largest request headers, bytes (431 over it)")
	fs.DurationVar(&cfg.Engine.PostTimeout, "post-timeout", 0, "bound on reading a polling POST body (408 over it); 0: the ping timeout")
	fs.DurationVar(&cfg.Engine.WriteTimeout, "write-timeout", 10*time.Second, "bound on one write to a client (WebSocket frames, poll responses)")
	fs.IntVar(&cfg.Engine.Writers, "ws-writers", 0, "goroutines writing WebSocket frames, each socket's queue in one non-blocking writev (a socket that does not take them at once gets a writer of its own); 0: GOMAXPROCS; -1: a writer goroutine per socket while it has frames")
	fs.DurationVar(&cfg.DrainWindow, "drain-window", 10*time.Second, "on SIGTERM or SIGINT, tell the clients to reconnect elsewhere one by one over this window; 0: all at once")
	fs.DurationVar(&cfg.ShutdownTimeout, "drain-timeout", 30*time.Second, "bound on the whole drain (the window, then flushing what clients are owed); a second signal stops at once")
	fs.IntVar(&cfg.MaxNamespaces, "max-namespaces", 64, "namespaces one connection may be joined to at once (CONNECT_ERROR over it); -1: no cap")
	fs.IntVar(&cfg.MaxRoomsPerSocket, "max-rooms-per-socket", 1000, "rooms one socket may be in besides its own; joins over it are not made (JoinRoom's sockets_full) and counted; -1: no cap")
	fs.IntVar(&cfg.MaxPendingAcks, "max-pending-acks", edge.DefaultMaxPendingAcks, "client events per socket waiting for a service's ack; over it the event is refused and counted; -1: no cap")
	fs.DurationVar(&cfg.PendingAckTTL, "pending-ack-ttl", 10*time.Minute, "how long a client event waits for a service's ack")
	fs.IntVar(&cfg.HandshakeRate, "handshake-rate", 100, "Engine.IO handshakes a second one client address (IPv6: its /64) may make, a token bucket; over it 429 and counted; -1: no limit")
	fs.IntVar(&cfg.HandshakeBurst, "handshake-burst", 1000, "handshakes one client address may make at once, above --handshake-rate")
	fs.IntVar(&cfg.MaxEventNameLen, "max-event-name", 256, "longest client event name, bytes; a longer one is dropped and counted; -1: no bound")
	fs.IntVar(&cfg.EventRate, "event-rate", 100, "client events a second one socket may send, a token bucket; over it events are dropped and counted; -1: no limit")
	fs.IntVar(&cfg.EventBurst, "event-burst", 500, "client events one socket may send at once, above --event-rate")
	fs.Var(&exposeHeaders, "expose-headers", "comma-separated handshake headers that ListSockets and lifecycle events show although hidden by default (cookie, authorization, proxy-authorization; the auth payload's token goes with authorization); * for all; empty: those three hidden")
	auth.define(fs)
	fs.StringVar(&adminAddr, "admin-addr", "", "serve Prometheus metrics (/metrics), /healthz and /readyz on this address, e.g. 127.0.0.1:9090; empty: off")
	fs.StringVar(&debugAddr, "debug-addr", "", "serve Go profiles (/debug/pprof/) on this address, e.g. 127.0.0.1:6060; empty: off")
	fs.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&logFormat, "log-format", "text", "text (key=value) or json (one object a line), on stderr")
	fs.SetOutput(os.Stdout) // --help
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: edge [flags]

A Switchboard edge node: it holds Socket.IO connections. Every flag can also
be set with the environment variable in brackets, or under its name in the
YAML file of --config (max-payload: 1000000); the command line wins over the
environment, and both over the file.
Exit status: 0 after SIGINT or SIGTERM (once drained), 1 when the edge
cannot start or fails, 2 for a bad flag, variable or config file, 3 when a second signal
cut the drain short.

`)
		fs.PrintDefaults()
	}

	checks := envflag.Checks{
		"addr":            func() error { return envflag.HostPort(cfg.Addr) },
		"path":            func() error { return edge.CheckPath(cfg.Path, cfg.Demo) },
		"namespaces":      func() error { return envflag.Each(namespaces, edge.CheckNamespace) },
		"ping-interval":   func() error { return checkPing(cfg.Engine.PingInterval) },
		"ping-timeout":    func() error { return checkPing(cfg.Engine.PingTimeout) },
		"max-payload":     func() error { return envflag.Positive(cfg.Engine.MaxPayload) },
		"cors-origins":    func() error { return envflag.Each(origins, edge.CheckOrigin) },
		"transports":      func() error { return envflag.Each(transports, edge.CheckTransport) },
		"connect-timeout": func() error { return envflag.Positive(cfg.ConnectTimeout) },
		"write-queue":     func() error { return envflag.Positive(cfg.Engine.WriteQueueSize) },
		"ws-writers": func() error {
			if cfg.Engine.Writers < -1 {
				return fmt.Errorf("must be -1, 0 or a count")
			}
			return nil
		},
		"write-queue-bytes": func() error {
			if b := cfg.Engine.WriteQueueBytes; b < 0 || (b > 0 && b < cfg.Engine.MaxPayload) {
				return fmt.Errorf("must be 0 (4 × --max-payload) or at least --max-payload (%d)", cfg.Engine.MaxPayload)
			}
			return nil
		},
		"tls-cert": func() error {
			if cfg.TLSCertFile != "" && cfg.TLSKeyFile == "" {
				return errors.New("needs --tls-key as well")
			}
			return nil
		},
		"tls-key": func() error {
			if cfg.TLSKeyFile != "" && cfg.TLSCertFile == "" {
				return errors.New("needs --tls-cert as well")
			}
			return nil
		},
		"client-js": func() error {
			if cfg.Demo && cfg.ClientJS == "" {
				return errors.New("--demo needs socket.io-client's dist/socket.io.min.js (run npm ci)")
			}
			return nil
		},
		"nats-url": func() error {
			if cfg.NATSURL == "" {
				return nil
			}
			return daemon.CheckNATSURL(cfg.NATSURL)
		},
		"subject-prefix": func() error { return daemon.CheckSubjectPrefix(cfg.SubjectPrefix) },
		"edge-id": func() error {
			if cfg.EdgeID == "" {
				return nil
			}
			return edge.CheckEdgeID(cfg.EdgeID)
		},
		"heartbeat": func() error { return envflag.Positive(cfg.HeartbeatInterval) },
		"ready-check-interval": func() error {
			if cfg.ReadyCheckInterval < 0 {
				return errors.New("must not be negative (0: no probes)")
			}
			return nil
		},
		"max-conns": func() error {
			if cfg.MaxConnections == 0 {
				return nil
			}
			return envflag.PositiveOrOff(cfg.MaxConnections)
		},
		"max-conns-per-ip":    func() error { return envflag.PositiveOrOff(cfg.MaxConnectionsPerIP) },
		"read-header-timeout": func() error { return envflag.Positive(cfg.ReadHeaderTimeout) },
		"idle-timeout":        func() error { return envflag.Positive(cfg.IdleTimeout) },
		"max-header-bytes":    func() error { return envflag.Positive(cfg.MaxHeaderBytes) },
		"post-timeout": func() error {
			if cfg.Engine.PostTimeout == 0 {
				return nil
			}
			return envflag.Positive(cfg.Engine.PostTimeout)
		},
		"write-timeout":        func() error { return envflag.Positive(cfg.Engine.WriteTimeout) },
		"drain-window":         func() error { return edge.CheckDrainWindow(cfg.DrainWindow, cfg.ShutdownTimeout) },
		"drain-timeout":        func() error { return envflag.Positive(cfg.ShutdownTimeout) },
		"max-namespaces":       func() error { return envflag.PositiveOrOff(cfg.MaxNamespaces) },
		"max-pending-acks":     func() error { return envflag.PositiveOrOff(cfg.MaxPendingAcks) },
		"max-rooms-per-socket": func() error { return envflag.PositiveOrOff(cfg.MaxRoomsPerSocket) },
		"pending-ack-ttl":      func() error { return envflag.Positive(cfg.PendingAckTTL) },
		"handshake-rate":       func() error { return envflag.PositiveOrOff(cfg.HandshakeRate) },
		"handshake-burst":      func() error { return envflag.Positive(cfg.HandshakeBurst) },
		"max-event-name":       func() error { return envflag.PositiveOrOff(cfg.MaxEventNameLen) },
		"event-rate":           func() error { return envflag.PositiveOrOff(cfg.EventRate) },
		"event-burst":          func() error { return envflag.Positive(cfg.EventBurst) },
		"expose-headers":       func() error { return envflag.Each(exposeHeaders, edge.CheckHeaderName) },
		"debug-addr": func() error {
			if debugAddr == "" {
				return nil
			}
			return envflag.HostPort(debugAddr)
		},
		"admin-addr": func() error {
			if adminAddr == "" {
				return nil
			}
			return envflag.HostPort(adminAddr)
		},
		"log-format": func() error { return daemon.CheckLogFormat(logFormat) },
		"log-level": func() (err error) {
			level, err = daemon.ParseLevel(logLevel)
			return err
		},
	}
	for name, check := range auth.checks(&cfg.NATSURL) {
		checks[name] = check
	}
	if err := envflag.Parse(fs, envPrefix, args, checks); err != nil {
		return cfg, listenAddrs{}, err
	}
	cfg.Namespaces = namespaces
	cfg.Engine.AllowedOrigins = origins
	cfg.Engine.Transports = transports
	cfg.ExposeHeaders = exposeHeaders
	cfg.Logger = daemon.Logger(level, logFormat)
	cfg.Auth = auth.config()
	auth.warn(cfg.Logger)
	for _, v := range envflag.Unknown(fs, envPrefix) {
		cfg.Logger.Warn("edge: ignoring an environment variable that names no flag", "var", v)
	}
	if cfg.ReadyCheckInterval == 0 {
		cfg.ReadyCheckInterval = -1 // the flag's 0 is off; the package's is its default
	}
	return cfg, listenAddrs{debug: debugAddr, admin: adminAddr}, nil
}

// checkPing checks --ping-interval and --ping-timeout: the handshake gives
// them to clients in whole milliseconds.
func checkPing(d time.Duration) error {
	if err := envflag.Positive(d); err != nil {
		return err
	}
	if d < time.Millisecond {
		return errors.New("must be at least 1ms: clients get it in milliseconds")
	}
	return nil
}
