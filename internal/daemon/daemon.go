// Package daemon is what the edge and control binaries share around their
// service: the logger from --log-level, the checks of the NATS flags both
// have (URL list, subject prefix), a run until SIGINT or SIGTERM with the
// optional debug (pprof) server beside it, and the one line a binary that
// fails prints before it exits.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/switchboard-rt/switchboard/internal/debugsrv"
	"github.com/switchboard-rt/switchboard/internal/envflag"
	"github.com/switchboard-rt/switchboard/pkg/bus"
)

// Exit statuses of the binaries.
const (
	ExitFailed = 1 // the service could not start or failed while running
	ExitUsage  = 2 // a flag or environment variable is wrong; nothing started
)

// Exit prints err as one line, "component: err", on stderr and exits with
// code.
func Exit(component string, code int, err error) {
	msg := strings.ReplaceAll(strings.TrimSpace(err.Error()), "\n", "; ")
	fmt.Fprintf(os.Stderr, "%s: %s\n", component, msg)
	os.Exit(code)
}

// ParseLevel reads a log level: debug, info, warn or error (slog's names,
// any case, with an optional offset such as warn+2).
func ParseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, errors.New("want debug, info, warn or error")
	}
	return l, nil
}

// CheckLogFormat accepts the --log-format values.
func CheckLogFormat(s string) error {
	if s != "text" && s != "json" {
		return errors.New("want text or json")
	}
	return nil
}

// Logger is a logger on stderr at level, in format "text" (slog's
// key=value lines) or "json" (one JSON object a line).
func Logger(level slog.Level, format string) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

// CheckNATSURL checks a comma-separated list of NATS servers the way
// nats.go reads it: each a nats://, tls://, ws:// or wss:// URL (nats://
// when the scheme is left out) with a host and an optional port, WebSocket
// and plain URLs not mixed. Its errors name a URL by its place in the list,
// never by its text, which may hold a password.
func CheckNATSURL(list string) error {
	var urls []string
	for _, s := range strings.Split(list, ",") {
		if s = strings.TrimSpace(s); s != "" {
			urls = append(urls, s)
		}
	}
	if len(urls) == 0 {
		return errors.New("no URL in the list")
	}
	ws := 0
	for i, s := range urls {
		which := ""
		if len(urls) > 1 {
			which = fmt.Sprintf("URL %d: ", i+1)
		}
		if !strings.Contains(s, "://") {
			s = "nats://" + s
		}
		u, err := url.Parse(s)
		if err != nil {
			return fmt.Errorf("%snot a URL", which)
		}
		switch u.Scheme {
		case "nats", "tls":
		case "ws", "wss":
			ws++
		default:
			return fmt.Errorf("%sscheme %s: want nats, tls, ws or wss", which, strconv.Quote(u.Scheme))
		}
		if u.Hostname() == "" {
			return fmt.Errorf("%sno host", which)
		}
		if p := u.Port(); p != "" {
			if n, err := strconv.ParseUint(p, 10, 16); err != nil || n == 0 {
				return fmt.Errorf("%sport %s: want a number from 1 to 65535", which, strconv.Quote(p))
			}
		}
		if err := envflag.HostPort(net.JoinHostPort(u.Hostname(), "0")); err != nil {
			return fmt.Errorf("%s%w", which, err)
		}
	}
	if ws != 0 && ws != len(urls) {
		return errors.New("WebSocket (ws://, wss://) and other URLs do not mix")
	}
	return nil
}

// CheckSubjectPrefix checks the NATS subject prefix of a deployment: not
// empty (the flag's default is the one to use), and one or more NATS
// tokens, as package bus requires.
func CheckSubjectPrefix(prefix string) error {
	if prefix == "" {
		return errors.New("must not be empty")
	}
	_, err := bus.NewSubjects(prefix)
	return err
}

// Run calls run with a context that ends on the first SIGINT or SIGTERM,
// serving Go profiles on debugAddr (empty: off) meanwhile; the debug server
// has stopped when Run returns. What run does once its context ends (an
// edge's drain, control's graceful stop) is bounded by run itself; a
// second signal meanwhile ends the process at once, with ExitForced.
func Run(debugAddr string, log *slog.Logger, run func(context.Context) error) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		watchSignals(sigs, done, cancel, log, func() { os.Exit(ExitForced) })
	}()
	defer func() {
		signal.Stop(sigs)
		close(done)
		<-watched
	}()
	_, wait, err := debugsrv.Start(ctx, debugAddr, log)
	if err != nil {
		return fmt.Errorf("debug server: %w", err)
	}
	defer wait()
	defer cancel() // before wait: ending ctx stops the debug server
	return run(ctx)
}

// ExitForced is the exit status after a second signal cut a graceful stop
// short.
const ExitForced = 3

// watchSignals cancels on the first signal from sigs and calls exit on the
// second, until done is closed.
func watchSignals(sigs <-chan os.Signal, done <-chan struct{}, cancel func(), log *slog.Logger, exit func()) {
	select {
	case sig := <-sigs:
		log.Info("stopping gracefully; a second signal stops at once", "signal", sig.String())
		cancel()
	case <-done:
		return
	}
	select {
	case sig := <-sigs:
		log.Warn("second signal: stopping at once", "signal", sig.String())
		exit()
	case <-done:
	}
}
