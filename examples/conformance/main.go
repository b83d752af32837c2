// Command conformance serves the reference servers of the official
// engine.io-protocol and socket.io-protocol test suites, built on
// Switchboard's protocol layers (pkg/engineio, pkg/socketio), so that those
// suites can run against them unchanged:
//
//   - /engine.io/: an Engine.IO server that echoes every message back;
//   - /socket.io/: a Socket.IO server with the namespaces "/" and "/custom",
//     which on connection emits "auth" with the handshake's auth payload,
//     echoes "message" as "message-back" (binary attachments included) and
//     acks "message-with-ack" with its own arguments.
//
// Both use the suites' timings: pingInterval 300ms, pingTimeout 200ms,
// maxPayload 1,000,000 bytes. Run it, then the suites against
// http://localhost:3000 (their default):
//
//	go run ./examples/conformance --addr 127.0.0.1:3000
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/switchboard-rt/switchboard/pkg/engineio"
	"github.com/switchboard-rt/switchboard/pkg/socketio"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:3000", "listen address")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *addr, slog.Default()); err != nil {
		fmt.Fprintln(os.Stderr, "conformance:", err)
		os.Exit(1)
	}
}

// engineConfig is the configuration of both test suites' servers.
func engineConfig(log *slog.Logger) engineio.Config {
	return engineio.Config{
		PingInterval:   300 * time.Millisecond,
		PingTimeout:    200 * time.Millisecond,
		MaxPayload:     1_000_000,
		AllowedOrigins: []string{"*"}, // the suites also run in a browser
		Logger:         log,
	}
}

func run(ctx context.Context, addr string, log *slog.Logger) error {
	eio := engineio.NewServer(engineConfig(log), echo{})
	sio := socketio.NewServer(socketio.Config{Engine: engineConfig(log), Logger: log})
	for _, name := range []string{"/", "/custom"} {
		sio.Of(name).OnConnect(onConnect)
	}

	mux := http.NewServeMux()
	mux.Handle("/engine.io/", eio)
	mux.Handle("/socket.io/", sio)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	log.Info("conformance servers listening", "addr", ln.Addr().String())

	select {
	case err = <-errc: // Serve failed
	case <-ctx.Done():
	}
	// The protocol servers first: they end pending polls and WebSockets,
	// which the HTTP server would otherwise wait for.
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return errors.Join(err, sio.Shutdown(sctx), eio.Shutdown(sctx), hs.Shutdown(sctx))
}

// onConnect gives a socket the behaviour the socket.io-protocol suite expects.
func onConnect(s *socketio.Socket) {
	_ = s.Emit("auth", s.Handshake().Auth)
	s.On("message", func(s *socketio.Socket, e *socketio.Event) {
		enc, err := socketio.EncodeRawEvent(s.Namespace().Name(), 0, false, "message-back", e.Args, e.Attachments)
		if err == nil {
			_ = s.Send(enc)
		}
	})
	s.On("message-with-ack", func(_ *socketio.Socket, e *socketio.Event) {
		_ = e.AckRaw(e.Args, e.Attachments)
	})
}

// echo is the engine.io-protocol suite's server: each message goes back to
// its sender as it came.
type echo struct{}

func (echo) OnOpen(s *engineio.Session) engineio.SessionHandler { return echoSession{s} }

type echoSession struct{ s *engineio.Session }

func (e echoSession) OnMessage(data []byte, binary bool) {
	if binary {
		_ = e.s.Send(engineio.NewBinaryMessage(data))
	} else {
		_ = e.s.Send(engineio.NewTextMessage(data))
	}
}

func (echoSession) OnClose(string) {}
