package edge_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	natstest "github.com/nats-io/nats-server/v2/test"

	"github.com/switchboard-rt/switchboard/internal/admin/admintest"
	"github.com/switchboard-rt/switchboard/pkg/bus"
	"github.com/switchboard-rt/switchboard/pkg/edge"
)

// TestReadyRoundTrip: an edge whose own subscription is gone at the NATS
// server (the connection still CONNECTED: what python-socketio's users
// met as a listener that silently stopped) turns not ready by its probes,
// and ready again once the subscription is back; the failed probes are
// counted. A delivery path that does not move fails the probes too.
func TestReadyRoundTrip(t *testing.T) {
	opts := natstest.DefaultTestOptions
	opts.Port = server.RANDOM_PORT
	ns := natstest.RunServer(&opts)
	t.Cleanup(ns.Shutdown)
	const every = 50 * time.Millisecond
	te := startEdge(t, edge.Config{NATSURL: ns.ClientURL(), ReadyCheckInterval: every}, nil)
	addr := startAdmin(t, te.Edge)
	eventually(t, "the edge on the bus", func() bool { return te.Ready() == nil })

	// Normal operation: many probes, none failed, still ready.
	time.Sleep(10 * every)
	if err := te.Ready(); err != nil {
		t.Fatalf("Ready after 10 probe intervals: %v", err)
	}
	if v, ok := admintest.Scrape(t, addr).Value("switchboard_edge_nats_probe_failures_total"); !ok || v != 0 {
		t.Fatalf("probe failures while healthy = %v (present %v), want 0", v, ok)
	}

	restore, err := edge.DropEdgeSubscription(te.Edge)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "not ready without the subscription", func() bool { return errors.Is(te.Ready(), bus.ErrRoundTrip) })
	if err := te.Ready(); !strings.HasPrefix(err.Error(), "NATS: round trip failed") {
		t.Errorf("Ready: %q, want it to start with the reason", err)
	}
	if v, _ := admintest.Scrape(t, addr).Value("switchboard_edge_nats_probe_failures_total"); v < 2 {
		t.Errorf("probe failures = %v after turning not ready, want at least 2", v)
	}
	if err := restore(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "ready again with the subscription back", func() bool { return te.Ready() == nil })

	release := edge.HoldDeliveries(te.Edge)
	eventually(t, "not ready with the delivery path stuck", func() bool { return errors.Is(te.Ready(), bus.ErrRoundTrip) })
	release()
	eventually(t, "ready again with the delivery path moving", func() bool { return te.Ready() == nil })
}
