package control

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// EmbeddedNATS is an in-process nats-server (JetStream off), for development
// and tests: control starts one when no NATS URL is given.
type EmbeddedNATS struct {
	srv *server.Server
}

// embeddedStartTimeout bounds the wait for the embedded server to accept
// clients; a server that cannot start says so at once (startLogger), so
// this only guards against one that hangs.
const embeddedStartTimeout = 10 * time.Second

// StartEmbeddedNATS starts a NATS server on addr ("127.0.0.1:4222"; port 0
// or -1 picks a free port) and waits until it accepts clients. When the
// server cannot start (the port is taken), the error says why: "embedded
// NATS: listen tcp 127.0.0.1:4222: bind: address already in use".
func StartEmbeddedNATS(addr string) (*EmbeddedNATS, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS address %q: %w", addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS port %q: %w", portStr, err)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	opts := &server.Options{
		ServerName: "switchboard-embedded",
		Host:       host,
		Port:       port,
		NoSigs:     true,
		NoLog:      true,
		JetStream:  false,
		// Room for a maximal Socket.IO payload (1 MB by default) plus its
		// envelope.
		MaxPayload: 8 << 20,
		MaxPending: 64 << 20,
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS: %w", err)
	}
	// nats-server reports a failed start (its listener) only through its
	// logger's Fatalf, and ReadyForConnections would wait out its timeout.
	fatal := make(chan error, 1)
	ns.SetLogger(startLogger{fatal}, false, false)
	go ns.Start()
	deadline := time.Now().Add(embeddedStartTimeout)
	for {
		// 50ms: ReadyForConnections polls every 25ms when given more.
		if ns.ReadyForConnections(50 * time.Millisecond) {
			return &EmbeddedNATS{srv: ns}, nil
		}
		select {
		case err := <-fatal:
			ns.Shutdown()
			ns.WaitForShutdown()
			return nil, fmt.Errorf("embedded NATS: %w", err)
		default:
		}
		if time.Now().After(deadline) {
			ns.Shutdown()
			return nil, fmt.Errorf("embedded NATS on %s did not start in %v", addr, embeddedStartTimeout)
		}
	}
}

// startLogger is the embedded server's logger: it passes the first fatal
// error on and drops the rest, as NoLog did (control logs what matters
// from its own NATS connection).
type startLogger struct{ fatal chan<- error }

// Fatalf gets the server's own words; its listener's error, when it is an
// argument, is kept whole ("listen tcp 127.0.0.1:4222: bind: address
// already in use"). nats-server's own logger would exit the process here.
func (l startLogger) Fatalf(format string, v ...any) {
	err := errors.New(fmt.Sprintf(format, v...))
	for _, a := range v {
		if e, ok := a.(error); ok {
			err = e
			break
		}
	}
	select {
	case l.fatal <- err:
	default:
	}
}

func (startLogger) Noticef(string, ...any) {}
func (startLogger) Warnf(string, ...any)   {}
func (startLogger) Errorf(string, ...any)  {}
func (startLogger) Debugf(string, ...any)  {}
func (startLogger) Tracef(string, ...any)  {}

// URL is the nats:// URL clients connect to.
func (e *EmbeddedNATS) URL() string { return e.srv.ClientURL() }

// Shutdown stops the server and waits for it.
func (e *EmbeddedNATS) Shutdown() {
	e.srv.Shutdown()
	e.srv.WaitForShutdown()
}
