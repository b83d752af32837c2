package control_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/switchboard-rt/switchboard/pkg/control"
)

// TestBusLostForGood: when control's NATS connection closes for good
// (nats.go gives up on it after some server errors), control does not go on
// answering every call with Unavailable until someone restarts it: Run
// returns an error saying why, so that the process exits and is restarted.
func TestBusLostForGood(t *testing.T) {
	s, err := control.New(control.Config{
		GRPCAddr:         "127.0.0.1:0",
		EmbeddedNATSAddr: "127.0.0.1:0",
		Logger:           slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelError + 1})),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	conn, err := grpc.NewClient(s.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	hctx, hcancel := context.WithTimeout(context.Background(), waitTimeout)
	defer hcancel()
	if r, err := healthpb.NewHealthClient(conn).Check(hctx, &healthpb.HealthCheckRequest{}); err != nil || r.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health before: %v, %v", r, err)
	}

	if err := control.BreakBus(s); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "NATS connection closed for good") {
			t.Errorf("Run returned %v, want the lost connection", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("control goes on without its bus")
	}
}
