// Command control is Switchboard's control plane: the gRPC API
// (switchboard.v1.Control) that services call to drive sockets, over NATS.
// Without --nats-url it starts an embedded NATS server for the edges.
//
// Every flag can also be set with an environment variable,
// $SWITCHBOARD_CONTROL_<FLAG> (--nats-url is $SWITCHBOARD_CONTROL_NATS_URL),
// or under its name in the YAML file that --config names (nats-url: ...);
// the command line wins over the environment, and both over the file.
// Every value is checked before anything starts. The exit status is 0
// after SIGINT or SIGTERM (or --help), 1 when control cannot start or
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

	"github.com/switchboard-rt/switchboard/internal/admin"
	"github.com/switchboard-rt/switchboard/internal/adminview"
	"github.com/switchboard-rt/switchboard/internal/daemon"
	"github.com/switchboard-rt/switchboard/internal/envflag"
	"github.com/switchboard-rt/switchboard/pkg/control"
)

// envPrefix starts the environment variable of every flag.
const envPrefix = "SWITCHBOARD_CONTROL_"

func main() {
	cfg, addrs, err := configure(os.Args[1:])
	switch {
	case errors.Is(err, flag.ErrHelp):
		return
	case err != nil:
		daemon.Exit("control", daemon.ExitUsage, err)
	}
	if err := run(cfg, addrs); err != nil {
		daemon.Exit("control", daemon.ExitFailed, err)
	}
}

// listenAddrs are the addresses of the side listeners; empty: off.
type listenAddrs struct{ debug, admin string }

func run(cfg control.Config, addrs listenAddrs) error {
	s, err := control.New(cfg)
	if err != nil {
		return err
	}
	acfg := admin.Config{Addr: addrs.admin, Collectors: s.Collectors(), Ready: s.Ready, Logger: cfg.Logger,
		Routes: adminview.New(adminview.Config{Cluster: s, Logger: cfg.Logger}).Routes()}
	return daemon.Run(addrs.debug, cfg.Logger, func(ctx context.Context) error {
		ran := false
		err := admin.Run(ctx, acfg, func(ctx context.Context) error {
			ran = true
			return s.Run(ctx)
		})
		if !ran {
			// The admin listener did not start: close NATS (and the
			// embedded server), which s.Run would have closed.
			s.Shutdown(context.Background())
		}
		return err
	})
}

// configure reads the command line and the environment into control's
// configuration and the debug and admin listeners' addresses, every value
// checked.
func configure(args []string) (control.Config, listenAddrs, error) {
	var cfg control.Config
	var apiKeys envflag.Secrets
	var logLevel, logFormat, debugAddr, adminAddr string
	var level slog.Level
	fs := flag.NewFlagSet("control", flag.ContinueOnError)
	envflag.DefineConfig(fs)
	fs.StringVar(&cfg.GRPCAddr, "grpc-addr", "127.0.0.1:50051", "gRPC listen address, host:port; port 0 picks a free one")
	fs.StringVar(&cfg.NATSURL, "nats-url", "", "NATS server(s) to use, comma-separated; empty starts an embedded NATS server")
	fs.StringVar(&cfg.EmbeddedNATSAddr, "embedded-nats-addr", "127.0.0.1:4222", "listen address of the embedded NATS server (when --nats-url is empty); port 0 picks a free one")
	fs.StringVar(&cfg.SubjectPrefix, "subject-prefix", "sb", "NATS subject prefix, the same for control and every edge of a deployment")
	fs.IntVar(&cfg.MaxPayload, "max-payload", 1_000_000, "largest Socket.IO packet an emit may carry, bytes")
	fs.DurationVar(&cfg.GatherTimeout, "gather-timeout", 2*time.Second, "how long cluster-wide calls wait for edges to answer")
	fs.DurationVar(&cfg.ReadyCheckInterval, "ready-check-interval", 5*time.Second, "how often to send a probe to itself through NATS; two in a row unanswered make /readyz 503 and gRPC health NOT_SERVING (NATS: round trip failed) until one is answered; 0: no probes")
	fs.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", 10*time.Second, "on SIGTERM or SIGINT, how long calls in flight may finish (streams end at once) before they are cut; a second signal stops at once")
	fs.Var(&apiKeys, "api-keys", "comma-separated API keys; when set, calls need 'authorization: Bearer <key>'; empty: no authentication")
	fs.StringVar(&cfg.TLSCertFile, "tls-cert", "", "TLS certificate file (PEM) for gRPC; with --tls-key; empty: plaintext")
	fs.StringVar(&cfg.TLSKeyFile, "tls-key", "", "TLS private key file (PEM) for gRPC")
	fs.StringVar(&cfg.TLSClientCAFile, "tls-client-ca", "", "with --tls-cert: require client certificates signed by a CA of this PEM file (mutual TLS); empty: no client certificate asked")
	fs.StringVar(&cfg.APIKeysFile, "api-keys-file", "", "file of API keys, one per line (# comments); re-read when it changes; with --api-keys, either's keys are accepted; empty: none")
	fs.StringVar(&adminAddr, "admin-addr", "", "serve Prometheus metrics (/metrics), /healthz and /readyz on this address, e.g. 127.0.0.1:9090; empty: off")
	fs.StringVar(&debugAddr, "debug-addr", "", "serve Go profiles (/debug/pprof/) on this address, e.g. 127.0.0.1:6060; empty: off")
	fs.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&logFormat, "log-format", "text", "text (key=value) or json (one object a line), on stderr")
	fs.SetOutput(os.Stdout) // --help
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: control [flags]

Switchboard's control plane: the gRPC API services call to drive sockets.
Every flag can also be set with the environment variable in brackets, or
under its name in the YAML file of --config (max-payload: 1000000); the
command line wins over the environment, and both over the file.
Exit status: 0 after SIGINT or SIGTERM, 1 when control
cannot start or fails, 2 for a bad flag, variable or config file, 3 when a second signal
cut the graceful stop short.

`)
		fs.PrintDefaults()
	}

	checks := envflag.Checks{
		"grpc-addr": func() error { return envflag.HostPort(cfg.GRPCAddr) },
		"nats-url": func() error {
			if cfg.NATSURL == "" {
				return nil
			}
			return daemon.CheckNATSURL(cfg.NATSURL)
		},
		// Checked with --nats-url too, when it goes unused: a bad value is
		// still a mistake.
		"embedded-nats-addr": func() error { return envflag.HostPort(cfg.EmbeddedNATSAddr) },
		"subject-prefix":     func() error { return daemon.CheckSubjectPrefix(cfg.SubjectPrefix) },
		"max-payload":        func() error { return envflag.Positive(cfg.MaxPayload) },
		"gather-timeout":     func() error { return envflag.Positive(cfg.GatherTimeout) },
		"ready-check-interval": func() error {
			if cfg.ReadyCheckInterval < 0 {
				return errors.New("must not be negative (0: no probes)")
			}
			return nil
		},
		"shutdown-timeout": func() error { return envflag.Positive(cfg.ShutdownTimeout) },
		"api-keys":         func() error { return checkAPIKeys(apiKeys) },
		"tls-cert": func() error {
			if cfg.TLSCertFile != "" && cfg.TLSKeyFile == "" {
				return errors.New("needs --tls-key as well")
			}
			return nil
		},
		"tls-client-ca": func() error {
			if cfg.TLSClientCAFile != "" && cfg.TLSCertFile == "" {
				return errors.New("needs --tls-cert and --tls-key")
			}
			return nil
		},
		"tls-key": func() error {
			if cfg.TLSKeyFile != "" && cfg.TLSCertFile == "" {
				return errors.New("needs --tls-cert as well")
			}
			return nil
		},
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
	if err := envflag.Parse(fs, envPrefix, args, checks); err != nil {
		return cfg, listenAddrs{}, err
	}
	cfg.APIKeys = apiKeys
	cfg.Logger = daemon.Logger(level, logFormat)
	for _, v := range envflag.Unknown(fs, envPrefix) {
		cfg.Logger.Warn("control: ignoring an environment variable that names no flag", "var", v)
	}
	if cfg.ReadyCheckInterval == 0 {
		cfg.ReadyCheckInterval = -1 // the flag's 0 is off; the package's is its default
	}
	return cfg, listenAddrs{debug: debugAddr, admin: adminAddr}, nil
}

// checkAPIKeys refuses a key no client can send: gRPC metadata values are
// printable ASCII. The error names the key by its place, not its text.
func checkAPIKeys(keys []string) error {
	for i, k := range keys {
		for _, c := range k {
			if c < ' ' || c > '~' {
				return fmt.Errorf("key %d of %d: want printable ASCII only", i+1, len(keys))
			}
		}
	}
	return nil
}
