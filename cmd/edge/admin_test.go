package main_test

import (
	"context"
	"net/http"
	"regexp"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/switchboard-rt/switchboard/internal/admin/admintest"
	"github.com/switchboard-rt/switchboard/internal/repotest"
)

var (
	controlUp   = regexp.MustCompile(`msg="control listening" grpc=(127\.0\.0\.1:\d+) nats=(nats://127\.0\.0\.1:\d+)`)
	adminUp     = regexp.MustCompile(`msg="admin listening[^"]*" addr=(127\.0\.0\.1:\d+)`)
	edgeStarted = regexp.MustCompile(`msg="edge listening"`)
)

// TestAdminListeners: --admin-addr on both binaries serves /healthz,
// /readyz (ready: each is on the bus) and /metrics in Prometheus's text
// format; control's gRPC metrics count a health check made over loopback,
// which answers SERVING.
func TestAdminListeners(t *testing.T) {
	ctl := repotest.StartProc(t, exitWithin, exitWithin, "control", "--grpc-addr", "127.0.0.1:0", "--embedded-nats-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0")
	ctlAdmin := ctl.WaitLog(t, adminUp)[1]
	m := ctl.WaitLog(t, controlUp)
	grpcAddr, natsURL := m[1], m[2]
	e := repotest.StartProc(t, exitWithin, exitWithin, "edge", "--addr", "127.0.0.1:0", "--nats-url", natsURL, "--admin-addr", "127.0.0.1:0")
	edgeAdmin := e.WaitLog(t, adminUp)[1]
	e.WaitLog(t, edgeStarted)

	for _, a := range []struct{ name, addr, metric string }{
		{"control", ctlAdmin, "switchboard_control_nats_connected"},
		{"edge", edgeAdmin, "switchboard_edge_nats_connected"},
	} {
		if code, body := admintest.Get(t, a.addr, "/healthz"); code != http.StatusOK || body != "ok\n" {
			t.Errorf("%s /healthz: %d %q", a.name, code, body)
		}
		if code, body := admintest.Get(t, a.addr, "/readyz"); code != http.StatusOK {
			t.Errorf("%s /readyz: %d %q", a.name, code, body)
		}
		if v, ok := admintest.Scrape(t, a.addr).Value(a.metric); !ok || v != 1 {
			t.Errorf("%s %s = %v (present %v), want 1", a.name, a.metric, v, ok)
		}
	}

	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || r.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health: %v, %v", r, err)
	}
	v, ok := admintest.Scrape(t, ctlAdmin).Value("grpc_server_handled_total", "grpc_service", "grpc.health.v1.Health", "grpc_method", "Check", "grpc_code", "OK")
	if !ok || v != 1 {
		t.Errorf("grpc_server_handled_total for Health/Check = %v (present %v), want 1", v, ok)
	}
}
