// Package control is the control plane: the gRPC service
// switchboard.v1.Control, which turns each call into NATS publishes and
// scatter-gather requests to the edges (package bus). It keeps no state but
// the cluster view its heartbeats give, so any number of instances can run
// behind a load balancer.
package control

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/auth"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"github.com/nats-io/nats.go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/types/descriptorpb"

	busv1 "github.com/switchboard-rt/switchboard/gen/switchboard/bus/v1"
	sbv1 "github.com/switchboard-rt/switchboard/gen/switchboard/v1"
	"github.com/switchboard-rt/switchboard/internal/tlsreload"
	"github.com/switchboard-rt/switchboard/pkg/bus"
)

// Version is the version control reports.
const Version = "0.1.0-dev"

// Config configures control. Zero values are documented defaults.
type Config struct {
	// GRPCAddr is the gRPC listen address. Empty means "127.0.0.1:50051".
	GRPCAddr string
	// NATSURL is the NATS server to use. Empty means an embedded NATS server
	// listening on EmbeddedNATSAddr.
	NATSURL string
	// EmbeddedNATSAddr is where the embedded NATS listens when NATSURL is
	// empty. Empty means "127.0.0.1:4222", the edges' default.
	EmbeddedNATSAddr string
	// SubjectPrefix prefixes every NATS subject. Empty means "sb".
	SubjectPrefix string
	// MaxPayload bounds an encoded Socket.IO packet (text plus binary
	// attachments) in bytes; larger emits are refused with InvalidArgument.
	// Zero means 1,000,000, the edges' default Engine.IO max payload.
	MaxPayload int
	// GatherTimeout bounds how long a scatter-gather call (JoinRoom,
	// ListSockets, ...) waits for edges that have not answered. Zero means 2s.
	GatherTimeout time.Duration
	// ShutdownTimeout bounds Run's graceful stop: gRPC's GracefulStop lets
	// unary calls in flight finish (Subscribe and Pipeline streams end at
	// once with Unavailable "control is shutting down"); calls still running
	// then are cut by Stop. Zero means 10s.
	ShutdownTimeout time.Duration
	// APIKeys, when not empty, are the accepted bearer tokens: calls need
	// "authorization: Bearer <key>" metadata. Health checks need none.
	APIKeys []string
	// APIKeysFile, when set, holds more keys, one per line (blank lines and
	// # comments skipped); it is re-read when it changes (checked every
	// ReloadInterval), and a version that does not read keeps the previous
	// keys. With a file set, calls need a key even while it holds none.
	APIKeysFile string
	// ReloadInterval is how often APIKeysFile and the TLS files are checked
	// for changes. Zero means 5s.
	ReloadInterval time.Duration
	// TLSClientCAFile, with TLS, makes the server require a client
	// certificate signed by one of its certificates (mutual TLS). It reloads
	// like the certificate.
	TLSClientCAFile string
	// StreamQueue and StreamQueueBytes bound what one Subscribe stream may
	// hold that its caller has not read yet: events, and their bytes. A
	// stream past either has fallen behind: it ends with ResourceExhausted
	// once it has sent what it holds, and what it missed meanwhile is
	// counted as dropped. Zero means 4,096 events and 32 MiB.
	StreamQueue, StreamQueueBytes int
	// ReadyCheckInterval is how often control sends itself a probe through
	// NATS and its heartbeat subscription (bus.ProbeHeader): when two in a
	// row get no answer within the interval (5 s at most), Ready reports
	// "NATS: round trip failed" and the gRPC health service NOT_SERVING until
	// one does. Zero means 5s; negative: no probes.
	ReadyCheckInterval time.Duration
	// TLSCertFile and TLSKeyFile serve gRPC over TLS when both are set.
	TLSCertFile, TLSKeyFile string
	// Logger receives logs. Nil means slog.Default().
	Logger *slog.Logger
}

// Server is one control instance.
type Server struct {
	sbv1.UnimplementedControlServer

	cfg      Config
	log      *slog.Logger
	subj     bus.Subjects
	embedded *EmbeddedNATS
	nc       *nats.Conn
	reg      *registry
	grpc     *grpc.Server
	health   *health.Server
	metrics  *grpcServerMetrics // the gRPC interceptors' counters (metrics.go)
	hbSub    *nats.Subscription
	probe    *bus.Prober // the round trip through NATS and hbSub, for Ready and health
	probeID  string      // names this instance's probes: every control subscribes the heartbeats
	keys     *apiKeys
	tls      *tlsreload.Reloader // nil without TLS
	hub      *hub                // Subscribe streams' shared subscriptions; closeNATS stops its goroutine

	// The sweep goroutine (edgelost.go): started by New, stopped by
	// closeNATS, which closes sweepQuit and waits for sweepDone.
	sweepQuit, sweepDone chan struct{}
	sweepOnce            sync.Once

	busErrors  atomic.Uint64 // asynchronous NATS errors: a subscription dropped messages (slow consumer), a permission refused
	lastBusLog atomic.Int64  // unix nanos of the last bus error logged
	edgeErrors atomic.Uint64 // edge replies with an error, or that did not decode

	mu sync.Mutex
	ln net.Listener // guarded by mu

	streams sync.WaitGroup // Subscribe streams, stopped on Shutdown
	stop    chan struct{}

	// lost receives why the NATS connection closed for good while control
	// was not stopping (nats.go gives up on a connection after some server
	// errors, whatever MaxReconnects says): Run then stops. Capacity 1.
	lost chan error
}

// New connects to NATS (starting the embedded server when no URL is given)
// and builds the gRPC server. Serve or Run starts answering.
func New(cfg Config) (*Server, error) {
	if cfg.GRPCAddr == "" {
		cfg.GRPCAddr = "127.0.0.1:50051"
	}
	if cfg.EmbeddedNATSAddr == "" {
		cfg.EmbeddedNATSAddr = "127.0.0.1:4222"
	}
	if cfg.MaxPayload <= 0 {
		cfg.MaxPayload = 1_000_000
	}
	if cfg.GatherTimeout <= 0 {
		cfg.GatherTimeout = 2 * time.Second
	}
	if cfg.ReadyCheckInterval == 0 {
		cfg.ReadyCheckInterval = 5 * time.Second
	}
	if cfg.StreamQueue <= 0 {
		cfg.StreamQueue = DefaultStreamQueue
	}
	if cfg.StreamQueueBytes <= 0 {
		cfg.StreamQueueBytes = DefaultStreamQueueBytes
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	subj, err := bus.NewSubjects(cfg.SubjectPrefix)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: cfg.Logger, subj: subj, reg: newRegistry(), stop: make(chan struct{}), lost: make(chan error, 1), health: health.NewServer()}
	if s.keys, err = newAPIKeys(cfg.APIKeys, cfg.APIKeysFile, cfg.ReloadInterval, s.log); err != nil {
		return nil, err
	}
	// Created before the connection, whose handlers read it; started last.
	s.probeID = bus.NewAckID()
	s.probe = bus.NewProber(bus.ProberConfig{
		Interval: cfg.ReadyCheckInterval,
		Probe: func(ctx context.Context) error {
			_, err := s.nc.RequestMsgWithContext(ctx, bus.ProbeMsg(subj.Heartbeat(), s.probeID))
			return err
		},
		OnChange: func(err error) {
			if err != nil {
				s.log.Warn("control: not ready: no answer through NATS to its own probes", "err", err)
			} else {
				s.log.Info("control: ready again: its probes through NATS are answered")
			}
			s.setServing(err == nil && s.nc.IsConnected())
		},
	})
	url := cfg.NATSURL
	if url == "" {
		s.embedded, err = StartEmbeddedNATS(cfg.EmbeddedNATSAddr)
		if err != nil {
			return nil, err
		}
		url = s.embedded.URL()
		// Debug: "control listening" names the URL once everything started.
		s.log.Debug("control: embedded NATS started", "url", url)
	}
	opts := []nats.Option{
		nats.Name("switchboard-control"),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			s.setServing(false)
			// No heartbeat arrives now: that loses no edge.
			s.reg.pause()
			switch {
			case err == nil: // control closed the connection itself
			case s.stoppingWithin(stopGrace):
				s.log.Info("control: NATS disconnected while control stops", "err", err)
			default:
				s.log.Warn("control: NATS disconnected", "err", err)
			}
		}),
		nats.ClosedHandler(func(nc *nats.Conn) {
			select {
			case <-s.stop:
				return // closed by Shutdown
			default:
			}
			err := nc.LastError()
			if err == nil {
				err = errors.New("closed")
			}
			select {
			case s.lost <- fmt.Errorf("NATS connection closed for good: %w", err):
			default:
			}
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			s.busErrors.Add(1)
			// Logged at most every 10 s: a slow consumer reports every drop.
			now := time.Now().UnixNano()
			if last := s.lastBusLog.Load(); now-last >= int64(10*time.Second) && s.lastBusLog.CompareAndSwap(last, now) {
				subject := ""
				if sub != nil {
					subject = sub.Subject
				}
				s.log.Warn("control: NATS error", "err", err, "subject", subject, "errors", s.busErrors.Load())
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			s.log.Info("control: NATS reconnected", "url", nc.ConnectedUrl())
			s.reg.resume()
			s.setServing(s.probe.Err() == nil)
		}),
	}
	if s.embedded != nil {
		// Control talks to its own NATS server in memory, not over loopback TCP.
		opts = append(opts, nats.InProcessServer(s.embedded.srv))
	}
	s.nc, err = nats.Connect(url, opts...)
	if err != nil {
		s.closeNATS()
		return nil, fmt.Errorf("connect to NATS %s: %w", url, err)
	}
	if s.hub, err = newHub(s.nc, subj.EdgeLost()); err != nil {
		s.closeNATS()
		return nil, fmt.Errorf("NATS: %w", err)
	}
	s.hbSub, err = s.nc.Subscribe(subj.Heartbeat(), s.onHeartbeat)
	if err == nil {
		err = s.nc.Flush()
	}
	if err == nil {
		// Ask edges for a heartbeat now rather than in one interval.
		err = bus.Publish(s.nc, subj.Cluster(), &busv1.EdgeCommand{Command: &busv1.EdgeCommand_Announce{Announce: &busv1.Announce{}}})
	}
	if err != nil {
		s.closeNATS()
		return nil, fmt.Errorf("NATS: %w", err)
	}
	if err := s.buildGRPC(); err != nil {
		s.closeNATS()
		return nil, err
	}
	s.sweepQuit, s.sweepDone = make(chan struct{}), make(chan struct{})
	go s.sweep(s.sweepQuit, s.sweepDone)
	s.probe.Start()
	s.keys.start()
	if s.tls != nil {
		s.tls.Start()
	}
	return s, nil
}

func (s *Server) buildGRPC() error {
	logger := logging.LoggerFunc(func(ctx context.Context, lvl logging.Level, msg string, fields ...any) {
		s.log.Log(ctx, slog.Level(lvl), msg, fields...)
	})
	panics := recovery.WithRecoveryHandler(func(p any) error {
		s.log.Error("control: panic in RPC", "panic", p)
		return status.Error(codes.Internal, "internal error")
	})
	// One line per finished call (debug level when it succeeded); a
	// "started call" line as well doubled the interceptor's cost, 10% of
	// control's CPU under a stream of small Emits.
	logOpts := []logging.Option{logging.WithLevels(logLevels), logging.WithLogOnEvents(logging.FinishCall)}
	authFn := s.authenticate
	// Outermost, so that calls refused by auth or ended by a panic are
	// counted with their code.
	s.metrics = newGRPCMetrics()
	ids := newRequestIDs()
	opts := []grpc.ServerOption{
		// Handler goroutines are reused: a fresh one per RPC grows its stack
		// every time (runtime.newstack was 6% of control's CPU).
		grpc.NumStreamWorkers(uint32(runtime.GOMAXPROCS(0))),
		grpc.ChainUnaryInterceptor(
			s.metrics.UnaryServerInterceptor(),
			ids.unary(), // before logging, whose line carries the id
			logging.UnaryServerInterceptor(logger, logOpts...),
			recovery.UnaryServerInterceptor(panics),
			auth.UnaryServerInterceptor(authFn),
		),
		grpc.ChainStreamInterceptor(
			s.metrics.StreamServerInterceptor(),
			ids.stream(),
			logging.StreamServerInterceptor(logger, logOpts...),
			recovery.StreamServerInterceptor(panics),
			auth.StreamServerInterceptor(authFn),
		),
		grpc.MaxRecvMsgSize(s.cfg.MaxPayload + 1<<20),
	}
	if s.cfg.TLSCertFile != "" || s.cfg.TLSKeyFile != "" {
		r, err := tlsreload.New(tlsreload.Config{CertFile: s.cfg.TLSCertFile, KeyFile: s.cfg.TLSKeyFile, ClientCAFile: s.cfg.TLSClientCAFile, Interval: s.cfg.ReloadInterval, Logger: s.log})
		if err != nil {
			return err
		}
		s.tls = r
		opts = append(opts, grpc.Creds(credentials.NewTLS(r.ServerConfig(&tls.Config{NextProtos: []string{"h2"}}))))
	} else if s.cfg.TLSClientCAFile != "" {
		return errors.New("a client CA file needs TLS (a certificate and a key file)")
	}
	opts = append(opts, decodeOptions()...)
	s.grpc = grpc.NewServer(opts...)
	sbv1.RegisterControlServer(s.grpc, s)
	healthpb.RegisterHealthServer(s.grpc, s.health)
	s.metrics.InitializeMetrics(s.grpc) // every method's series from 0
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	s.health.SetServingStatus(sbv1.Control_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)

	// Reflection from the descriptor set that keeps the proto comments, so
	// `grpcurl describe` shows the API documentation.
	var fds descriptorpb.FileDescriptorSet
	if err := proto.Unmarshal(sbv1.DescriptorSet, &fds); err != nil {
		return fmt.Errorf("descriptor set: %w", err)
	}
	files, err := protodesc.NewFiles(&fds)
	if err != nil {
		return fmt.Errorf("descriptor set: %w", err)
	}
	ropts := reflection.ServerOptions{Services: s.grpc, DescriptorResolver: files}
	reflectionpb.RegisterServerReflectionServer(s.grpc, reflection.NewServerV1(ropts))
	return nil
}

// logLevels logs successful calls at debug level and errors by severity.
func logLevels(c codes.Code) logging.Level {
	switch c {
	case codes.OK, codes.Canceled:
		return logging.LevelDebug
	case codes.Internal, codes.Unknown, codes.DataLoss:
		return logging.LevelError
	case codes.Unavailable, codes.DeadlineExceeded:
		return logging.LevelWarn
	}
	return logging.LevelInfo
}

// authenticate checks the API key when keys are configured. Health and
// reflection stay open so probes and grpcurl list work.
func (s *Server) authenticate(ctx context.Context) (context.Context, error) {
	if !s.keys.enabled() {
		return ctx, nil
	}
	if m, ok := grpc.Method(ctx); ok && (strings.HasPrefix(m, "/grpc.health.") || strings.HasPrefix(m, "/grpc.reflection.")) {
		return ctx, nil
	}
	token, err := auth.AuthFromMD(ctx, "bearer")
	if err != nil {
		return nil, status.Error(codes.Unauthenticated, "missing \"authorization: Bearer <api key>\" metadata")
	}
	if s.keys.valid(token) {
		return ctx, nil
	}
	return nil, status.Error(codes.Unauthenticated, "unknown API key")
}

// NATSURL returns the NATS URL edges should join (the embedded server's
// when control started one).
func (s *Server) NATSURL() string {
	if s.embedded != nil {
		return s.embedded.URL()
	}
	return s.cfg.NATSURL
}

// Listen binds the gRPC address.
func (s *Server) Listen() error {
	ln, err := net.Listen("tcp", s.cfg.GRPCAddr)
	if err != nil {
		return fmt.Errorf("gRPC: %w", err) // "listen tcp <addr>: <why>"
	}
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	return nil
}

// Addr returns the gRPC listening address once bound.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Run serves gRPC until ctx ends, then shuts down gracefully.
func (s *Server) Run(ctx context.Context) error {
	if s.Addr() == nil {
		if err := s.Listen(); err != nil {
			s.closeNATS()
			return err
		}
	}
	s.mu.Lock()
	ln := s.ln
	s.mu.Unlock()
	errc := make(chan error, 1)
	go func() { errc <- s.grpc.Serve(ln) }()
	s.log.Info("control listening", "grpc", ln.Addr().String(), "nats", s.NATSURL())
	var lostErr error
	select {
	case err := <-errc:
		s.closeNATS()
		return fmt.Errorf("serve: %w", err)
	case lostErr = <-s.lost:
		// Every RPC would answer Unavailable until a restart: stop, so that
		// whatever runs control starts it again and callers retry elsewhere.
		s.log.Error("control: stopping: the NATS connection is gone for good", "err", lostErr)
	case <-ctx.Done():
	}
	timeout := s.cfg.ShutdownTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	s.Shutdown(sctx)
	if err := <-errc; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return errors.Join(lostErr, err)
	}
	return lostErr
}

// stopGrace is how long before control starts to stop a lost NATS
// connection still counts as part of stopping: a terminal's Ctrl-C reaches
// NATS and control together, and NATS may go first.
const stopGrace = 500 * time.Millisecond

// stoppingWithin reports whether Shutdown has begun or begins within d. It
// runs on nats.go's callback goroutine, which it holds up to d.
func (s *Server) stoppingWithin(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-s.stop:
		return true
	case <-t.C:
		return false
	}
}

// Shutdown ends Subscribe streams, stops gRPC gracefully (falling back to
// Stop when ctx ends), then closes NATS and the embedded server.
func (s *Server) Shutdown(ctx context.Context) {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	s.health.Shutdown()
	done := make(chan struct{})
	go func() {
		s.grpc.GracefulStop()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		s.grpc.Stop()
		<-done
	}
	s.streams.Wait()
	s.closeNATS()
}

// onHeartbeat handles the heartbeat subject: edges' heartbeats, and this
// instance's own readiness probes (answered; other instances' ignored).
func (s *Server) onHeartbeat(m *nats.Msg) {
	if probe, mine := bus.IsProbe(m, s.probeID); probe {
		if mine {
			_ = m.Respond(nil)
		}
		return
	}
	var hb busv1.EdgeHeartbeat
	if proto.Unmarshal(m.Data, &hb) == nil && hb.EdgeId != "" {
		if old := s.reg.observe(&hb); old != nil {
			s.publishLost(old, "restarted under the same id")
		}
	}
}

func (s *Server) closeNATS() {
	if s.probe != nil {
		s.probe.Stop()
	}
	if s.keys != nil {
		s.keys.close()
	}
	if s.tls != nil {
		s.tls.Stop()
	}
	if s.sweepQuit != nil {
		s.sweepOnce.Do(func() { close(s.sweepQuit) })
		<-s.sweepDone
	}
	if s.nc != nil {
		s.nc.Close()
	}
	if s.hub != nil {
		s.hub.close()
	}
	if s.embedded != nil {
		s.embedded.Shutdown()
	}
}
