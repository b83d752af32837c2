// Command edge is a Switchboard edge node: it holds Socket.IO connections.
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/switchboard-rt/switchboard/internal/daemon"
	"github.com/switchboard-rt/switchboard/internal/envflag"
	"github.com/switchboard-rt/switchboard/pkg/edge"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "edge:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	var cfg edge.Config
	var namespaces, origins, transports envflag.List
	var logLevel, debugAddr string
	fs := flag.NewFlagSet("edge", flag.ContinueOnError)
	fs.StringVar(&cfg.Addr, "addr", "127.0.0.1:3000", "listen address")
	fs.StringVar(&cfg.Path, "path", "/socket.io/", "Socket.IO path")
	fs.Var(&namespaces, "namespaces", "comma-separated namespaces clients may join; empty or * for any")
	fs.DurationVar(&cfg.Engine.PingInterval, "ping-interval", 25*time.Second, "heartbeat interval")
	fs.DurationVar(&cfg.Engine.PingTimeout, "ping-timeout", 20*time.Second, "heartbeat timeout")
	fs.IntVar(&cfg.Engine.MaxPayload, "max-payload", 1_000_000, "largest message or POST body, bytes")
	fs.Var(&origins, "cors-origins", "comma-separated origins allowed cross-origin, with credentials; * for any")
	fs.Var(&transports, "transports", "comma-separated transports offered: polling,websocket")
	fs.DurationVar(&cfg.ConnectTimeout, "connect-timeout", 45*time.Second, "close connections that join no namespace in time")
	fs.IntVar(&cfg.Engine.WriteQueueSize, "write-queue", 1024, "packets queued per connection before it is dropped as a slow consumer")
	fs.StringVar(&cfg.TLSCertFile, "tls-cert", "", "TLS certificate file (PEM); with --tls-key serves HTTPS/WSS")
	fs.StringVar(&cfg.TLSKeyFile, "tls-key", "", "TLS private key file (PEM)")
	fs.BoolVar(&cfg.Demo, "demo", false, "serve the demo page at /")
	fs.StringVar(&cfg.ClientJS, "client-js", "node_modules/socket.io-client/dist/socket.io.min.js", "socket.io-client browser bundle served to the demo page")
	fs.StringVar(&cfg.NATSURL, "nats-url", "nats://127.0.0.1:4222", "NATS server(s) to join, comma-separated; the default is control's embedded NATS; empty runs standalone")
	fs.StringVar(&cfg.SubjectPrefix, "subject-prefix", "sb", "NATS subject prefix, the same for control and every edge of a deployment")
	fs.StringVar(&cfg.EdgeID, "edge-id", "", "edge id: 8 lowercase letters or digits, unique in the cluster; empty picks a random one")
	fs.DurationVar(&cfg.HeartbeatInterval, "heartbeat", 2*time.Second, "heartbeat interval")
	fs.StringVar(&debugAddr, "debug-addr", "", "serve Go profiles (/debug/pprof/) on this address, e.g. 127.0.0.1:6060; empty: off")
	fs.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	if err := envflag.Parse(fs, "SWITCHBOARD_EDGE_", args); err != nil {
		if err == flag.ErrHelp {
			return nil
		}
		return err
	}
	cfg.Namespaces = namespaces
	cfg.Engine.AllowedOrigins = origins
	cfg.Engine.Transports = transports
	var err error
	if cfg.Logger, err = daemon.Logger(logLevel); err != nil {
		return err
	}

	e, err := edge.New(cfg)
	if err != nil {
		return err
	}
	return daemon.Run(debugAddr, cfg.Logger, e.Run)
}
