package daemon

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestLogger(t *testing.T) {
	l, err := Logger("warn")
	if err != nil {
		t.Fatal(err)
	}
	if l.Enabled(context.Background(), slog.LevelInfo) || !l.Enabled(context.Background(), slog.LevelWarn) {
		t.Fatal("want warn and above only")
	}
	if _, err := Logger("loud"); err == nil {
		t.Fatal("want an error for an unknown level")
	}
}

func TestRunReturnsWhatTheServiceReturns(t *testing.T) {
	want := errors.New("done")
	got := Run("127.0.0.1:0", slog.New(slog.DiscardHandler), func(ctx context.Context) error {
		if ctx.Err() != nil {
			t.Error("context ended before the service ran")
		}
		return want
	})
	if got != want {
		t.Fatalf("got %v", got)
	}
}

func TestRunBadDebugAddress(t *testing.T) {
	err := Run("127.0.0.1:notaport", slog.New(slog.DiscardHandler), func(context.Context) error {
		t.Error("service ran without its debug server")
		return nil
	})
	if err == nil {
		t.Fatal("want an error")
	}
}
