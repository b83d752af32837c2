// Package admin is the admin listener the edge and control binaries serve
// beside their own port when --admin-addr is set: Prometheus metrics
// (/metrics), liveness (/healthz) and readiness (/readyz). It owns the
// listener, the handlers and the NATS connection's metrics both binaries
// share; what each binary exports is its own package's collector
// (edge.Edge.Collector, control.Server.Collectors), read at scrape time
// from counters that already exist, so serving metrics adds nothing to the
// paths that carry messages. It does not own the drain or TLS (not
// yet); control's admin page is internal/adminview, mounted through
// Config.Routes.
package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Config is what the admin listener serves.
type Config struct {
	// Addr is the listen address, host:port; port 0 picks one. Empty: the
	// listener is off.
	Addr string
	// Collectors are registered beside the Go runtime's and the process's
	// collectors. A collector that cannot be registered (a name taken
	// twice) fails Start.
	Collectors []prometheus.Collector
	// Ready reports why the process is not ready to take traffic, nil when
	// it is. Nil: always ready.
	Ready func() error
	// Logger receives logs. Nil means slog.Default().
	Logger *slog.Logger
	// Routes are more handlers, by http.ServeMux pattern ("GET /{$}"),
	// served beside /metrics, /healthz and /readyz; a pattern must not be
	// "/" or name those three (http.ServeMux panics on a clash). Nil:
	// none. Control's admin view (internal/adminview) is served this way.
	Routes map[string]http.Handler
}

// Registry returns a registry holding the Go runtime's and the process's
// collectors and cs.
func Registry(cs ...prometheus.Collector) (*prometheus.Registry, error) {
	reg := prometheus.NewRegistry()
	all := append([]prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	}, cs...)
	for _, c := range all {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("metrics: %w", err)
		}
	}
	return reg, nil
}

// Handler serves /metrics from reg, /healthz and /readyz.
func Handler(reg *prometheus.Registry, ready func() error, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		// A collector that fails leaves its metrics out; the others are
		// still served.
		ErrorHandling: promhttp.ContinueOnError,
		// Scrapes are few; more than a handful at once is a misbehaving
		// client, answered 503.
		MaxRequestsInFlight: 4,
		Timeout:             10 * time.Second,
	}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if ready != nil {
			if err := ready(); err != nil {
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = w.Write([]byte(oneLine(err.Error()) + "\n"))
				return
			}
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	return mux
}

// oneLine keeps a reason to one line of a readiness answer.
func oneLine(s string) string {
	return strings.ReplaceAll(strings.TrimSpace(s), "\n", "; ")
}

// Start listens on cfg.Addr and serves until ctx ends. An empty Addr does
// nothing. It returns the address it listens on (port 0 picks one) and a
// function that waits for the server to stop.
func Start(ctx context.Context, cfg Config) (bound string, wait func(), err error) {
	if cfg.Addr == "" {
		return "", func() {}, nil
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	reg, err := Registry(cfg.Collectors...)
	if err != nil {
		return "", nil, err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return "", nil, err // "listen tcp <addr>: <why>"
	}
	var h http.Handler = Handler(reg, cfg.Ready, log)
	if len(cfg.Routes) > 0 {
		mux := http.NewServeMux()
		mux.Handle("/", h)
		for pattern, route := range cfg.Routes {
			mux.Handle(pattern, route)
		}
		h = mux
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      15 * time.Second, // past the metrics handler's own 10 s
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	log.Info("admin listening (/metrics, /healthz, /readyz)", "addr", ln.Addr().String())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("admin server", "err", err)
		}
	}()
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		select {
		case <-ctx.Done():
		case <-done:
		}
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if srv.Shutdown(sctx) != nil {
			_ = srv.Close() // a scrape still running
		}
		<-done
	}()
	return ln.Addr().String(), func() { <-stopped }, nil
}

// Run serves the admin listener (cfg.Addr empty: none) while run runs
// with ctx: started before it, stopped once it has returned.
func Run(ctx context.Context, cfg Config, run func(context.Context) error) error {
	actx, cancel := context.WithCancel(ctx)
	_, wait, err := Start(actx, cfg)
	if err != nil {
		cancel()
		return fmt.Errorf("admin listener: %w", err)
	}
	defer wait()
	defer cancel() // before wait: ending actx stops the listener
	return run(ctx)
}
