// Command echo is the server side of Flask-SocketIO's example app over
// Switchboard's control API. It serves the page (examples/echo/static) and
// the official client from node_modules, proxies /socket.io/ to the edges
// round-robin on the page's origin (proxy.go), and answers the page's
// events from a Subscribe stream through one Pipeline stream, so replies
// to a client keep their order (service.go). With --no-service it serves
// the page and the proxy only, for another implementation of the service
// (../python/echo.py).
//
// It logs JSON lines on stdout: "echo listening", "subscribed" once control
// streams the page's events to it, then "connected", "ack received",
// "client disconnected" and the like. Exit status: 0 after SIGINT or
// SIGTERM, 1 when it cannot start or a stream to control ends, 2 for a bad
// flag.
package main

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	sbv1 "github.com/switchboard-rt/switchboard/gen/switchboard/v1"
)

func main() {
	control := flag.String("control", "127.0.0.1:50051", "control's gRPC address")
	addr := flag.String("addr", "127.0.0.1:5000", "address of the page server; port 0 picks a free one")
	edges := flag.String("edges", "http://127.0.0.1:3000", "comma-separated edge URLs that /socket.io/ is proxied to, round-robin")
	static := flag.String("static", "examples/echo/static", "directory of the page")
	clientDir := flag.String("client-dir", "node_modules/socket.io-client/dist", "directory of socket.io.min.js and its .map")
	certfile := flag.String("certfile", "", "TLS certificate (PEM) of the page server; with --keyfile it serves HTTPS")
	keyfile := flag.String("keyfile", "", "TLS key (PEM) of the page server")
	noService := flag.Bool("no-service", false, "serve the page and the proxy only: another process answers the events")
	flag.Parse()
	logger := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	if (*certfile == "") != (*keyfile == "") {
		logger.Error("--certfile and --keyfile go together")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, logger, *control, *addr, *edges, *static, *clientDir, *certfile, *keyfile, *noService); err != nil {
		logger.Error("echo", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, logger *slog.Logger, control, addr, edges, static, clientDir, certfile, keyfile string, noService bool) error {
	proxy, err := newEdgeProxy(strings.Split(edges, ","), logger)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	srv := &http.Server{Handler: pageHandler(static, clientDir, proxy), ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return ctx }} // ends proxied long polls at exit
	srvDone := make(chan error, 1)
	go func() {
		if certfile != "" {
			srvDone <- srv.ServeTLS(ln, certfile, keyfile)
		} else {
			srvDone <- srv.Serve(ln)
		}
	}()
	scheme := "http"
	if certfile != "" {
		scheme = "https"
	}
	logger.Info("echo listening", "url", scheme+"://"+ln.Addr().String()+"/", "service", !noService)

	svcDone := make(chan error, 1)
	if noService {
		go func() { <-ctx.Done(); svcDone <- nil }()
	} else {
		conn, err := grpc.NewClient(control, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return err
		}
		defer conn.Close()
		go func() { svcDone <- serve(ctx, sbv1.NewControlClient(conn), logger) }()
	}
	select {
	case err = <-srvDone:
	case err = <-svcDone:
		if ctx.Err() != nil { // a signal: the streams ended for it
			err = nil
		}
	}
	cancel()
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	_ = srv.Shutdown(sctx) // WebSockets (hijacked) are not waited for
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// pageHandler serves the page, the client (with its source map) and the
// proxy to the edges.
func pageHandler(static, clientDir string, proxy http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", http.FileServer(http.Dir(static)))
	client := http.StripPrefix("/static/", http.FileServer(http.Dir(clientDir)))
	mux.Handle("/static/socket.io.min.js", client)
	mux.Handle("/static/socket.io.min.js.map", client)
	mux.Handle("/static/echo.js", http.StripPrefix("/static/", http.FileServer(http.Dir(static))))
	mux.Handle("/socket.io/", proxy)
	return mux
}
