package control_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	sbv1 "github.com/switchboard-rt/switchboard/gen/switchboard/v1"
	"github.com/switchboard-rt/switchboard/internal/admin"
	"github.com/switchboard-rt/switchboard/internal/admin/admintest"
	"github.com/switchboard-rt/switchboard/internal/testlog"
	"github.com/switchboard-rt/switchboard/pkg/control"
)

// startControlAdmin serves tc's admin listener on a loopback port until
// the test ends.
func startControlAdmin(t *testing.T, s *control.Server) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addr, wait, err := admin.Start(ctx, admin.Config{
		Addr:       "127.0.0.1:0",
		Collectors: s.Collectors(),
		Ready:      s.Ready,
		Logger:     slog.New(slog.DiscardHandler),
	})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); wait() })
	return addr
}

// TestAdminGRPCMetrics: an RPC made over loopback is counted by the gRPC
// interceptors (grpc_server_handled_total by method and code, the
// handling-time histogram), and control's own metrics are there.
func TestAdminGRPCMetrics(t *testing.T) {
	tc := startControl(t, control.Config{EmbeddedNATSAddr: "127.0.0.1:0", Logger: testlog.New(t)})
	addr := startControlAdmin(t, tc.Server)

	handled := func(m admintest.Metrics, method, code string) float64 {
		v, ok := m.Value("grpc_server_handled_total", "grpc_service", sbv1.Control_ServiceDesc.ServiceName, "grpc_method", method, "grpc_code", code)
		if !ok && code == "OK" {
			t.Fatalf("no grpc_server_handled_total series for %s %s", method, code)
		}
		return v
	}
	before := handled(admintest.Scrape(t, addr), "ClusterInfo", "OK")
	if before != 0 {
		t.Fatalf("ClusterInfo handled %v times before any call", before)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := tc.api.ClusterInfo(ctx, &sbv1.ClusterInfoRequest{}); err != nil {
		t.Fatal(err)
	}
	m := admintest.Scrape(t, addr)
	if got := handled(m, "ClusterInfo", "OK"); got != 1 {
		t.Errorf("ClusterInfo OK handled %v times after one call, want 1", got)
	}
	if got, _ := m.Value("grpc_server_handling_seconds", "grpc_method", "ClusterInfo"); got != 1 {
		t.Errorf("ClusterInfo handling histogram counts %v calls, want 1", got)
	}
	for _, c := range []struct {
		name   string
		labels []string
		typ    string
		want   float64
	}{
		{"switchboard_control_nats_connected", nil, "GAUGE", 1},
		{"switchboard_control_edges", nil, "GAUGE", 0},
		{"switchboard_control_queue_drops_total", []string{"kind", "subscribe_stream"}, "COUNTER", 0},
		{"switchboard_control_nats_reconnects_total", nil, "COUNTER", 0},
	} {
		if typ := m.Type(c.name); typ != c.typ {
			t.Errorf("%s: type %q, want %q", c.name, typ, c.typ)
		}
		if v, ok := m.Value(c.name, c.labels...); !ok || v != c.want {
			t.Errorf("%s%v = %v (present %v), want %v", c.name, c.labels, v, ok, c.want)
		}
	}
	if code, body := admintest.Get(t, addr, "/readyz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("/readyz: %d %q", code, body)
	}
}

// TestAdminGRPCMetricsRefused: a call refused for its API key is counted
// with its code, Unauthenticated: the metrics interceptor is the outermost.
func TestAdminGRPCMetricsRefused(t *testing.T) {
	tc := startControl(t, control.Config{EmbeddedNATSAddr: "127.0.0.1:0", APIKeys: []string{"right"}, Logger: slog.New(slog.DiscardHandler)})
	addr := startControlAdmin(t, tc.Server)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := tc.api.ClusterInfo(ctx, &sbv1.ClusterInfoRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("ClusterInfo without a key: %v, want Unauthenticated", err)
	}
	m := admintest.Scrape(t, addr)
	if v, _ := m.Value("grpc_server_handled_total", "grpc_method", "ClusterInfo", "grpc_code", "Unauthenticated"); v != 1 {
		t.Errorf("ClusterInfo Unauthenticated handled %v times, want 1", v)
	}
	if v, _ := m.Value("grpc_server_handled_total", "grpc_method", "ClusterInfo", "grpc_code", "OK"); v != 0 {
		t.Errorf("ClusterInfo OK handled %v times, want 0", v)
	}
}

// TestAdminHealthFollowsNATS: the gRPC health service (the server's "" and
// switchboard.v1.Control) and /readyz say SERVING / 200 while control's NATS
// connection is up, NOT_SERVING / 503 once the NATS server is gone, and
// SERVING / 200 again once a NATS server is back on the same address.
func TestAdminHealthFollowsNATS(t *testing.T) {
	ns, err := control.StartEmbeddedNATS("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(ns.URL())
	if err != nil {
		t.Fatal(err)
	}
	var again *control.EmbeddedNATS
	// Registered before control's cleanup, so it runs after it.
	t.Cleanup(func() {
		ns.Shutdown()
		if again != nil {
			again.Shutdown()
		}
	})
	tc := startControl(t, control.Config{NATSURL: ns.URL(), Logger: slog.New(slog.DiscardHandler)})
	addr := startControlAdmin(t, tc.Server)
	health := healthpb.NewHealthClient(tc.conn)

	expect := func(want healthpb.HealthCheckResponse_ServingStatus, code int, reason string) {
		t.Helper()
		for _, service := range []string{"", sbv1.Control_ServiceDesc.ServiceName} {
			eventually(t, "health of "+service+" "+want.String(), func() bool {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				r, err := health.Check(ctx, &healthpb.HealthCheckRequest{Service: service})
				return err == nil && r.GetStatus() == want
			})
		}
		got, body := admintest.Get(t, addr, "/readyz")
		if got != code || !strings.Contains(body, reason) {
			t.Errorf("/readyz: %d %q, want %d with %q", got, body, code, reason)
		}
	}
	expect(healthpb.HealthCheckResponse_SERVING, http.StatusOK, "ok")

	ns.Shutdown()
	expect(healthpb.HealthCheckResponse_NOT_SERVING, http.StatusServiceUnavailable, "NATS: ")
	if v, _ := admintest.Scrape(t, addr).Value("switchboard_control_nats_connected"); v != 0 {
		t.Errorf("nats_connected = %v while NATS is down, want 0", v)
	}

	again, err = control.StartEmbeddedNATS(u.Host)
	if err != nil {
		t.Fatalf("restart NATS on %s: %v", u.Host, err)
	}
	expect(healthpb.HealthCheckResponse_SERVING, http.StatusOK, "ok")
	if v, _ := admintest.Scrape(t, addr).Value("switchboard_control_nats_reconnects_total"); v < 1 {
		t.Errorf("nats_reconnects_total = %v after a reconnect, want at least 1", v)
	}
}
