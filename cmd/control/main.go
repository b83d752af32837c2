// Command control is Switchboard's control plane: the gRPC API
// (switchboard.v1.Control) that services call to drive sockets, over NATS.
// Without --nats-url it starts an embedded NATS server for the edges.
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/switchboard-rt/switchboard/internal/daemon"
	"github.com/switchboard-rt/switchboard/internal/envflag"
	"github.com/switchboard-rt/switchboard/pkg/control"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "control:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	var cfg control.Config
	var apiKeys envflag.List
	var logLevel, debugAddr string
	fs := flag.NewFlagSet("control", flag.ContinueOnError)
	fs.StringVar(&cfg.GRPCAddr, "grpc-addr", "127.0.0.1:50051", "gRPC listen address")
	fs.StringVar(&cfg.NATSURL, "nats-url", "", "NATS server(s) to use, comma-separated; empty starts an embedded NATS server")
	fs.StringVar(&cfg.EmbeddedNATSAddr, "embedded-nats-addr", "127.0.0.1:4222", "listen address of the embedded NATS server (when --nats-url is empty)")
	fs.StringVar(&cfg.SubjectPrefix, "subject-prefix", "sb", "NATS subject prefix, the same for control and every edge of a deployment")
	fs.IntVar(&cfg.MaxPayload, "max-payload", 1_000_000, "largest Socket.IO packet an emit may carry, bytes")
	fs.DurationVar(&cfg.GatherTimeout, "gather-timeout", 2*time.Second, "how long cluster-wide calls wait for edges to answer")
	fs.Var(&apiKeys, "api-keys", "comma-separated API keys; when set, calls need 'authorization: Bearer <key>'")
	fs.StringVar(&cfg.TLSCertFile, "tls-cert", "", "TLS certificate file (PEM) for gRPC")
	fs.StringVar(&cfg.TLSKeyFile, "tls-key", "", "TLS private key file (PEM) for gRPC")
	fs.StringVar(&debugAddr, "debug-addr", "", "serve Go profiles (/debug/pprof/) on this address, e.g. 127.0.0.1:6060; empty: off")
	fs.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	if err := envflag.Parse(fs, "SWITCHBOARD_CONTROL_", args); err != nil {
		if err == flag.ErrHelp {
			return nil
		}
		return err
	}
	cfg.APIKeys = apiKeys
	var err error
	if cfg.Logger, err = daemon.Logger(logLevel); err != nil {
		return err
	}

	s, err := control.New(cfg)
	if err != nil {
		return err
	}
	return daemon.Run(debugAddr, cfg.Logger, s.Run)
}
