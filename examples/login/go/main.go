// Command login is the server side of a Flask app with session login whose
// Socket.IO messages come from outside, over Switchboard's control API. It
// serves the page (examples/login/static) and the official client from
// node_modules; /login sets a signed session cookie; /api/ takes
// {"channel", "body"} and emits event channel with body to everybody
// (control's Emit); /ws/socket.io/ is proxied to the edge on the page's
// origin, as nginx would; and it is the edge's connect hook (gRPC,
// hook.proto): a handshake whose cookie carries a valid session is
// admitted, any other is refused with "unauthorized!".
//
// It logs JSON lines on stdout: "login listening" (url, hook), then
// "emitted", "refused", "admitted" and the like. Exit status: 0 after
// SIGINT or SIGTERM, 1 when it cannot start, 2 for a bad flag.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	sbv1 "github.com/switchboard-rt/switchboard/gen/switchboard/v1"
)

type config struct {
	control    string
	addr       string
	hookAddr   string
	edge       string
	static     string
	clientDir  string
	secretFile string
	sessionTTL time.Duration
}

func main() {
	var c config
	flag.StringVar(&c.control, "control", "127.0.0.1:50051", "control's gRPC address")
	flag.StringVar(&c.addr, "addr", "127.0.0.1:5000", "address of the page server; port 0 picks a free one")
	flag.StringVar(&c.hookAddr, "hook-addr", "127.0.0.1:7000", "address of the connect hook (gRPC) the edge calls: --auth '/=hook:grpc://ADDR'")
	flag.StringVar(&c.edge, "edge", "http://127.0.0.1:3000", "edge URL that /ws/socket.io/ is proxied to (the edge runs with --path /ws/socket.io)")
	flag.StringVar(&c.static, "static", "examples/login/static", "directory of the page")
	flag.StringVar(&c.clientDir, "client-dir", "node_modules/socket.io-client/dist", "directory of socket.io.min.js and its .map")
	flag.StringVar(&c.secretFile, "secret-file", "", "file holding the key that signs session cookies (at least 32 bytes); empty: a random key, so sessions end when the app restarts")
	flag.DurationVar(&c.sessionTTL, "session-ttl", 24*time.Hour, "how long a session cookie is valid")
	flag.Parse()
	logger := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	if flag.NArg() > 0 {
		logger.Error("unexpected arguments", "args", flag.Args())
		os.Exit(2)
	}
	if c.sessionTTL <= 0 {
		logger.Error("--session-ttl must be greater than 0")
		os.Exit(2)
	}
	edgeURL, err := url.Parse(c.edge)
	if err != nil || (edgeURL.Scheme != "http" && edgeURL.Scheme != "https") || edgeURL.Host == "" {
		logger.Error("--edge is not an http:// or https:// URL", "edge", c.edge)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, logger, c, edgeURL); err != nil {
		logger.Error("login", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, logger *slog.Logger, c config, edgeURL *url.URL) error {
	key, err := sessionKey(c.secretFile)
	if err != nil {
		return err
	}
	sessions := &sessions{key: key, ttl: c.sessionTTL}

	conn, err := grpc.NewClient(c.control, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("control %s: %w", c.control, err)
	}
	defer conn.Close()

	hookLn, err := net.Listen("tcp", c.hookAddr)
	if err != nil {
		return fmt.Errorf("hook: %w", err)
	}
	hookSrv := grpc.NewServer()
	sbv1.RegisterConnectHookServer(hookSrv, &hook{sessions: sessions, logger: logger})

	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		hookLn.Close()
		return fmt.Errorf("listen: %w", err)
	}
	app := &app{
		sessions: sessions,
		api:      sbv1.NewControlClient(conn),
		logger:   logger,
	}
	srv := &http.Server{
		Handler:           app.routes(c.static, c.clientDir, newEdgeProxy(edgeURL, logger)),
		ReadHeaderTimeout: 10 * time.Second,
	}
	logger.Info("login listening", "url", "http://"+ln.Addr().String()+"/", "hook", hookLn.Addr().String(), "edge", edgeURL.String())

	errc := make(chan error, 2)
	go func() { errc <- hookSrv.Serve(hookLn) }()
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(shutCtx) // also ends proxied WebSockets' handlers once their conns close
	stopped := make(chan struct{})
	go func() { hookSrv.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-shutCtx.Done():
		hookSrv.Stop()
	}
	if err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, grpc.ErrServerStopped) {
		return err
	}
	return nil
}

// sessionKey reads the signing key from file, or makes a random one.
func sessionKey(file string) ([]byte, error) {
	if file == "" {
		key := make([]byte, 32)
		_, err := rand.Read(key)
		return key, err
	}
	key, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("--secret-file: %w", err)
	}
	if len(key) < 32 {
		return nil, fmt.Errorf("--secret-file %s: %d bytes, want at least 32", file, len(key))
	}
	return key, nil
}
