package daemon

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestLogger(t *testing.T) {
	level, err := ParseLevel("warn")
	if err != nil {
		t.Fatal(err)
	}
	l := Logger(level, "text")
	if l.Enabled(context.Background(), slog.LevelInfo) || !l.Enabled(context.Background(), slog.LevelWarn) {
		t.Fatal("want warn and above only")
	}
	if _, err := ParseLevel("loud"); err == nil {
		t.Fatal("want an error for an unknown level")
	}
}

func TestCheckNATSURL(t *testing.T) {
	for _, tc := range []struct {
		list string
		ok   bool
	}{
		{"nats://127.0.0.1:4222", true},
		{"127.0.0.1:4222", true},
		{"localhost", true},
		{"nats://a:4222, tls://b:4222", true},
		{"ws://a:8080,wss://b", true},
		{"nats://user:pw@[::1]:4222", true},
		{"", false},
		{" , ", false},
		{"http://a:4222", false},
		{"nats://:4222", false},
		{"nats://a:0", false},
		{"nats://a:99999", false},
		{"nats://a:port", false},
		{"nats://999.0.0.1:4222", false},
		{"nats://a:4222,ws://b:8080", false},
	} {
		err := CheckNATSURL(tc.list)
		if (err == nil) != tc.ok {
			t.Errorf("CheckNATSURL(%q) = %v, want ok %v", tc.list, err, tc.ok)
		}
		if err != nil && strings.Contains(err.Error(), "pw") {
			t.Errorf("CheckNATSURL(%q) = %v: the password", tc.list, err)
		}
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
