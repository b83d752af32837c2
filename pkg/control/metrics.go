package control

import (
	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	sbv1 "github.com/switchboard-rt/switchboard/gen/switchboard/v1"
	"github.com/switchboard-rt/switchboard/internal/admin"
)

// newGRPCMetrics is the gRPC server's metrics (grpc_server_started_total,
// grpc_server_handled_total{grpc_code}, grpc_server_msg_*_total,
// grpc_server_handling_seconds), counted by go-grpc-middleware's
// interceptors; Collectors exports them.
func newGRPCMetrics() *grpcprom.ServerMetrics {
	return grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram())
}

// Collectors returns the Prometheus collectors of control: the gRPC
// server's metrics and control's own counters (switchboard_control_…,
// read when scraped from Stats, the cluster view and the NATS connection).
// Their labels are bounded (gRPC service, method and code; never a sid, a
// room, a user or a namespace). docs/operations.md lists them.
func (s *Server) Collectors() []prometheus.Collector {
	return []prometheus.Collector{s.metrics, newControlCollector(s)}
}

// Ready reports why control should not be sent traffic, nil when it may:
// while its NATS connection is connected and it is not stopping. The gRPC
// health service says the same (setServing).
func (s *Server) Ready() error {
	select {
	case <-s.stop:
		return errStopping
	default:
	}
	if err := admin.NATSReady(s.nc); err != nil {
		return err
	}
	if s.probe != nil {
		return s.probe.Err()
	}
	return nil
}

var errStopping = stoppingError{}

type stoppingError struct{}

func (stoppingError) Error() string { return "stopping" }

// setServing sets the gRPC health status of the server ("") and of the
// Control service. After Shutdown it does nothing (health.Server ignores
// updates once shut down): both stay NOT_SERVING.
func (s *Server) setServing(serving bool) {
	st := healthpb.HealthCheckResponse_NOT_SERVING
	if serving {
		st = healthpb.HealthCheckResponse_SERVING
	}
	s.health.SetServingStatus("", st)
	s.health.SetServingStatus(sbv1.Control_ServiceDesc.ServiceName, st)
}

// controlCollector turns control's counters into const metrics at scrape
// time.
type controlCollector struct {
	s    *Server
	nats *admin.NATSMetrics

	edges, slowStreams, streamDrops, busErrors, edgeErrors *prometheus.Desc
	probeFailures                                          *prometheus.Desc
}

func newControlCollector(s *Server) *controlCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("switchboard_control_"+name, help, labels, nil)
	}
	return &controlCollector{
		s:             s,
		nats:          admin.NewNATSMetrics("switchboard_control"),
		edges:         d("edges", "Edges whose heartbeats this control instance sees now."),
		slowStreams:   d("subscribe_streams_slow_total", "Subscribe streams that fell behind and ended with ResourceExhausted."),
		streamDrops:   d("queue_drops_total", "Events dropped by a full bounded queue, by kind: subscribe_stream (an event not queued for a stream that had fallen behind).", "kind"),
		busErrors:     d("nats_errors_total", "Asynchronous NATS errors: a subscription that dropped messages (slow consumer), a permission refused."),
		edgeErrors:    d("edge_errors_total", "Edge replies that carried an error, or that did not decode."),
		probeFailures: d("nats_probe_failures_total", "Readiness probes control sent itself through NATS and its heartbeat subscription that got no answer in time (--ready-check-interval)."),
	}
}

// Describe implements prometheus.Collector.
func (c *controlCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.edges, c.slowStreams, c.streamDrops, c.busErrors, c.edgeErrors, c.probeFailures} {
		ch <- d
	}
	c.nats.Describe(ch)
}

// Collect implements prometheus.Collector.
func (c *controlCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.s.Stats()
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	ch <- prometheus.MustNewConstMetric(c.edges, prometheus.GaugeValue, float64(len(c.s.reg.live())))
	counter(c.slowStreams, st.SlowStreams)
	counter(c.streamDrops, st.StreamEventsDropped, "subscribe_stream")
	counter(c.busErrors, st.BusErrors)
	counter(c.edgeErrors, st.EdgeErrors)
	var probeFailures uint64
	if c.s.probe != nil {
		probeFailures = c.s.probe.Failures()
	}
	counter(c.probeFailures, probeFailures)
	c.nats.Collect(ch, c.s.nc)
}

// grpcServerMetrics is the interceptors' metrics type, named here so that
// Server's fields need no import of their own.
type grpcServerMetrics = grpcprom.ServerMetrics
