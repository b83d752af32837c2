package control_test

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/switchboard-rt/switchboard/internal/admin/admintest"
	"github.com/switchboard-rt/switchboard/pkg/control"
)

// TestReadyRoundTrip: control whose heartbeat subscription is gone at the
// NATS server (its connection still CONNECTED) turns not ready by its own
// probes: /readyz 503 "NATS: round trip failed", gRPC health NOT_SERVING,
// the failures counted; with the subscription back, ready and SERVING
// again. While healthy, probes fail none.
func TestReadyRoundTrip(t *testing.T) {
	ns, err := control.StartEmbeddedNATS("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)
	const every = 50 * time.Millisecond
	tc := startControl(t, control.Config{NATSURL: ns.URL(), ReadyCheckInterval: every, Logger: slog.New(slog.DiscardHandler)})
	addr := startControlAdmin(t, tc.Server)
	health := healthpb.NewHealthClient(tc.conn)
	status := func() healthpb.HealthCheckResponse_ServingStatus {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		r, err := health.Check(ctx, &healthpb.HealthCheckRequest{})
		if err != nil {
			return healthpb.HealthCheckResponse_UNKNOWN
		}
		return r.GetStatus()
	}

	time.Sleep(10 * every)
	if code, body := admintest.Get(t, addr, "/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz after 10 probe intervals: %d %q", code, body)
	}
	if v, ok := admintest.Scrape(t, addr).Value("switchboard_control_nats_probe_failures_total"); !ok || v != 0 {
		t.Fatalf("probe failures while healthy = %v (present %v), want 0", v, ok)
	}

	restore, err := control.DropHeartbeatSubscription(tc.Server)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "NOT_SERVING without the subscription", func() bool { return status() == healthpb.HealthCheckResponse_NOT_SERVING })
	if code, body := admintest.Get(t, addr, "/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "NATS: round trip failed") {
		t.Errorf("/readyz without the subscription: %d %q", code, body)
	}
	if v, _ := admintest.Scrape(t, addr).Value("switchboard_control_nats_probe_failures_total"); v < 2 {
		t.Errorf("probe failures = %v, want at least 2", v)
	}
	if err := restore(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "SERVING with the subscription back", func() bool { return status() == healthpb.HealthCheckResponse_SERVING })
	if code, body := admintest.Get(t, addr, "/readyz"); code != http.StatusOK {
		t.Errorf("/readyz with the subscription back: %d %q", code, body)
	}
}
