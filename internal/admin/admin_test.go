package admin_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/switchboard-rt/switchboard/internal/admin"
	"github.com/switchboard-rt/switchboard/internal/admin/admintest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var quiet = slog.New(slog.DiscardHandler)

// TestEndpoints: /healthz is 200 "ok"; /readyz is 200 while Ready says
// nil and 503 with the reason on one line while it returns an error;
// /metrics serves the collectors given with the Go runtime's and the
// process's; other paths and methods are refused; the listener stops with
// its context.
func TestEndpoints(t *testing.T) {
	var why error
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "switchboard_test_things_total", Help: "Things."})
	c.Add(3)
	ctx, cancel := context.WithCancel(context.Background())
	addr, wait, err := admin.Start(ctx, admin.Config{
		Addr:       "127.0.0.1:0",
		Collectors: []prometheus.Collector{c},
		Ready:      func() error { return why },
		Logger:     quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	if code, body := admintest.Get(t, addr, "/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	if code, body := admintest.Get(t, addr, "/readyz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("/readyz ready: %d %q", code, body)
	}
	why = errors.New("NATS: reconnecting\nsecond line")
	if code, body := admintest.Get(t, addr, "/readyz"); code != http.StatusServiceUnavailable || body != "NATS: reconnecting; second line\n" {
		t.Errorf("/readyz not ready: %d %q", code, body)
	}
	m := admintest.Scrape(t, addr)
	if v, ok := m.Value("switchboard_test_things_total"); !ok || v != 3 {
		t.Errorf("the collector given: %v %v", v, ok)
	}
	for _, name := range []string{"go_goroutines", "go_memstats_heap_alloc_bytes", "process_resident_memory_bytes", "process_open_fds"} {
		if _, ok := m.Value(name); !ok {
			t.Errorf("no %s", name)
		}
	}
	if code, _ := admintest.Get(t, addr, "/"); code != http.StatusNotFound {
		t.Errorf("/: %d, want 404", code)
	}
	resp, err := http.Post("http://"+addr+"/readyz", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /readyz: %d, want 405", resp.StatusCode)
	}
	http.DefaultClient.CloseIdleConnections()
	cancel()
	wait()
	if _, err := http.Get("http://" + addr + "/healthz"); err == nil {
		t.Fatal("still serving after the context ended")
	}
}

func TestOffWithoutAddress(t *testing.T) {
	addr, wait, err := admin.Start(context.Background(), admin.Config{})
	if err != nil || addr != "" {
		t.Fatalf("got %q, %v", addr, err)
	}
	wait()
}

// TestRefusedAtStart: an address that cannot be bound, or a metric name
// registered twice, fails Start with the reason and leaves nothing running.
func TestRefusedAtStart(t *testing.T) {
	if _, _, err := admin.Start(context.Background(), admin.Config{Addr: "127.0.0.1:notaport", Logger: quiet}); err == nil {
		t.Error("bad address: want an error")
	}
	dup := func() prometheus.Collector {
		return prometheus.NewGauge(prometheus.GaugeOpts{Name: "switchboard_test_dup", Help: "Dup."})
	}
	_, _, err := admin.Start(context.Background(), admin.Config{Addr: "127.0.0.1:0", Collectors: []prometheus.Collector{dup(), dup()}, Logger: quiet})
	if err == nil || !strings.Contains(err.Error(), "metrics:") {
		t.Errorf("a name registered twice: %v, want a metrics error", err)
	}
}

// TestRunStopsWithTheService: Run serves while the service runs and stops
// the listener once it returns, whatever the context; a listener that
// cannot start fails Run before the service runs.
func TestRunStopsWithTheService(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // a free port, for Run to bind
	want := errors.New("service failed")
	cfg := admin.Config{Addr: addr, Logger: quiet}
	got := admin.Run(context.Background(), cfg, func(ctx context.Context) error {
		if code, _ := admintest.Get(t, addr, "/healthz"); code != http.StatusOK {
			t.Errorf("/healthz while the service runs: %d", code)
		}
		return want
	})
	if got != want {
		t.Fatalf("Run returned %v, want the service's error", got)
	}
	http.DefaultClient.CloseIdleConnections()
	if _, err := http.Get("http://" + addr + "/healthz"); err == nil {
		t.Error("still serving after the service returned")
	}
	cfg.Addr = "127.0.0.1:notaport"
	ran := false
	if err := admin.Run(context.Background(), cfg, func(context.Context) error { ran = true; return nil }); err == nil || ran {
		t.Errorf("a listener that cannot start: err %v, service ran %v; want an error and no run", err, ran)
	}
}
