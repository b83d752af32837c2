package edge_test

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats-server/v2/server"
	natstest "github.com/nats-io/nats-server/v2/test"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard-rt/switchboard/internal/admin"
	"github.com/switchboard-rt/switchboard/internal/admin/admintest"
	"github.com/switchboard-rt/switchboard/pkg/edge"
)

// startAdmin serves e's admin listener on a loopback port until the test
// ends.
func startAdmin(t *testing.T, e *edge.Edge) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addr, wait, err := admin.Start(ctx, admin.Config{
		Addr:       "127.0.0.1:0",
		Collectors: []prometheus.Collector{e.Collector()},
		Ready:      e.Ready,
		Logger:     slog.New(slog.DiscardHandler),
	})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); wait() })
	return addr
}

// adminWSClient opens a WebSocket Engine.IO session and joins "/".
func adminWSClient(t *testing.T, addr string) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: waitTimeout}
	c, _, err := d.Dial("ws://"+addr+"/socket.io/?EIO=4&transport=websocket", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	read := func() string {
		_ = c.SetReadDeadline(time.Now().Add(waitTimeout))
		_, b, err := c.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if m := read(); !strings.HasPrefix(m, "0{") {
		t.Fatalf("open packet: %q", m)
	}
	if err := c.WriteMessage(websocket.TextMessage, []byte("40")); err != nil {
		t.Fatal(err)
	}
	if m := read(); !strings.HasPrefix(m, "40{") {
		t.Fatalf("CONNECT: %q", m)
	}
	return c
}

// TestAdminMetrics: /metrics is Prometheus's text format, and a WebSocket
// client that connects moves the sessions gauge of its transport and the
// sessions-opened counter; the NATS connection reads connected.
func TestAdminMetrics(t *testing.T) {
	opts := natstest.DefaultTestOptions
	opts.Port = server.RANDOM_PORT
	ns := natstest.RunServer(&opts)
	t.Cleanup(ns.Shutdown)
	te := startEdge(t, edge.Config{NATSURL: ns.ClientURL()}, nil)
	addr := startAdmin(t, te.Edge)
	eventually(t, "the edge on the bus", func() bool { return te.Ready() == nil })

	before := admintest.Scrape(t, addr)
	for _, want := range []struct{ name, typ string }{
		{"switchboard_edge_sessions", "GAUGE"},
		{"switchboard_edge_sessions_opened_total", "COUNTER"},
		{"switchboard_edge_slow_consumer_disconnects_total", "COUNTER"},
		{"switchboard_edge_queue_drops_total", "COUNTER"},
		{"switchboard_edge_nats_reconnects_total", "COUNTER"},
		{"go_goroutines", "GAUGE"},
		{"process_cpu_seconds_total", "COUNTER"},
	} {
		if got := before.Type(want.name); got != want.typ {
			t.Errorf("%s: type %q, want %q", want.name, got, want.typ)
		}
	}
	if v, ok := before.Value("switchboard_edge_sessions", "transport", "websocket"); !ok || v != 0 {
		t.Errorf("websocket sessions before any client: %v (present %v), want 0", v, ok)
	}
	opened0, _ := before.Value("switchboard_edge_sessions_opened_total")

	adminWSClient(t, te.Addr().String())
	after := admintest.Scrape(t, addr)
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"switchboard_edge_sessions", []string{"transport", "websocket"}, 1},
		{"switchboard_edge_sessions", []string{"transport", "polling"}, 0},
		{"switchboard_edge_sessions_opened_total", nil, opened0 + 1},
		{"switchboard_edge_tcp_connections", nil, 1},
		{"switchboard_edge_nats_connected", nil, 1},
		{"switchboard_edge_queue_drops_total", []string{"kind", "bus_delivery"}, 0},
		{"switchboard_edge_namespace_connects_refused_total", []string{"reason", "denied"}, 0},
	} {
		if v, ok := after.Value(c.name, c.labels...); !ok || v != c.want {
			t.Errorf("%s%v = %v (present %v), want %v", c.name, c.labels, v, ok, c.want)
		}
	}
	if code, body := admintest.Get(t, addr, "/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("/healthz: %d %q", code, body)
	}
}

// TestAdminReadiness: /readyz answers 200 while the edge's NATS connection
// is connected, 503 with the reason once the NATS server is gone, and 200
// again when a NATS server is back on the same address and the edge has
// reconnected (its subscriptions made again on the new server).
func TestAdminReadiness(t *testing.T) {
	opts := natstest.DefaultTestOptions
	opts.Port = server.RANDOM_PORT
	ns := natstest.RunServer(&opts)
	port := ns.Addr().(*net.TCPAddr).Port
	var again *server.Server
	// Registered before the edge's cleanup, so it runs after it: the edge
	// stops with its bus up.
	t.Cleanup(func() {
		ns.Shutdown()
		if again != nil {
			again.Shutdown()
		}
	})
	te := startEdge(t, edge.Config{NATSURL: ns.ClientURL(), Logger: slog.New(slog.DiscardHandler)}, nil)
	addr := startAdmin(t, te.Edge)

	ready := func(want int, reason string) {
		t.Helper()
		var code int
		var body string
		eventually(t, "/readyz "+http.StatusText(want), func() bool {
			code, body = admintest.Get(t, addr, "/readyz")
			return code == want
		})
		if !strings.Contains(body, reason) || strings.Count(body, "\n") != 1 {
			t.Errorf("/readyz %d: %q, want one line with %q", code, body, reason)
		}
	}
	ready(http.StatusOK, "ok")

	ns.Shutdown()
	ns.WaitForShutdown()
	ready(http.StatusServiceUnavailable, "NATS: ")
	if v, _ := admintest.Scrape(t, addr).Value("switchboard_edge_nats_connected"); v != 0 {
		t.Errorf("nats_connected = %v while NATS is down, want 0", v)
	}
	if code, _ := admintest.Get(t, addr, "/healthz"); code != http.StatusOK {
		t.Errorf("/healthz while NATS is down: %d, want 200 (alive)", code)
	}

	opts2 := natstest.DefaultTestOptions
	opts2.Port = port
	again = natstest.RunServer(&opts2)
	ready(http.StatusOK, "ok")
	eventually(t, "the edge's subscriptions on the new NATS server", func() bool { return again.NumSubscriptions() >= 3 })
	m := admintest.Scrape(t, addr)
	if v, _ := m.Value("switchboard_edge_nats_reconnects_total"); v < 1 {
		t.Errorf("nats_reconnects_total = %v after a reconnect, want at least 1", v)
	}
}

// TestReadyWithoutBus: an edge with a bus is not ready before it runs; a
// standalone edge is ready once it listens, and its NATS gauge reads 0.
func TestReadyWithoutBus(t *testing.T) {
	e, err := edge.New(edge.Config{Addr: "127.0.0.1:0", NATSURL: "nats://127.0.0.1:4222", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Ready(); err == nil || !strings.Contains(err.Error(), "not started") {
		t.Errorf("Ready before Run: %v, want not started", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := e.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	te := startEdge(t, edge.Config{}, nil)
	if err := te.Ready(); err != nil {
		t.Errorf("standalone edge listening: %v, want ready", err)
	}
	addr := startAdmin(t, te.Edge)
	m := admintest.Scrape(t, addr)
	if v, ok := m.Value("switchboard_edge_nats_connected"); !ok || v != 0 {
		t.Errorf("standalone nats_connected = %v (present %v), want 0", v, ok)
	}
	if _, ok := m.Value("switchboard_edge_nats_reconnects_total"); ok {
		t.Error("standalone edge exports NATS counters")
	}
}
