package debugsrv

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestServesProfilesUntilCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	addr, wait, err := Start(ctx, "127.0.0.1:0", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + addr + "/debug/pprof/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "debugsrv") {
		t.Fatalf("cmdline: %d %q", resp.StatusCode, body)
	}
	http.DefaultClient.CloseIdleConnections()
	cancel()
	wait()
	if _, err := http.Get("http://" + addr + "/debug/pprof/"); err == nil {
		t.Fatal("still serving after the context ended")
	}
}

func TestOffWithoutAddress(t *testing.T) {
	addr, wait, err := Start(context.Background(), "", slog.New(slog.DiscardHandler))
	if err != nil || addr != "" {
		t.Fatalf("got %q, %v", addr, err)
	}
	wait()
}

func TestBadAddress(t *testing.T) {
	if _, _, err := Start(context.Background(), "127.0.0.1:notaport", slog.New(slog.DiscardHandler)); err == nil {
		t.Fatal("want an error")
	}
}
