package control

import (
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

// StartEmbeddedNATS starts a NATS server on addr ("127.0.0.1:4222"; port 0
// or -1 picks a free port) and waits until it accepts clients.
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
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		return nil, fmt.Errorf("embedded NATS on %s did not start", addr)
	}
	return &EmbeddedNATS{srv: ns}, nil
}

// URL is the nats:// URL clients connect to.
func (e *EmbeddedNATS) URL() string { return e.srv.ClientURL() }

// Shutdown stops the server and waits for it.
func (e *EmbeddedNATS) Shutdown() {
	e.srv.Shutdown()
	e.srv.WaitForShutdown()
}
