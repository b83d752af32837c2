package control_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	sbv1 "github.com/switchboard-rt/switchboard/gen/switchboard/v1"
	"github.com/switchboard-rt/switchboard/pkg/control"
)

// lockedBuffer is a log sink several goroutines write.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestRequestIDs: a call's x-request-id comes back in the response headers
// and on the call's log line; a call without one (or with one that is not
// printable ASCII) gets a fresh id, a different one each call; streams get
// theirs too.
func TestRequestIDs(t *testing.T) {
	var logs lockedBuffer
	tc := startControl(t, control.Config{EmbeddedNATSAddr: "127.0.0.1:0", Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	call := func(id string) string {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if id != "" {
			ctx = metadata.AppendToOutgoingContext(ctx, control.RequestIDHeader, id)
		}
		var hdr metadata.MD
		if _, err := tc.api.ClusterInfo(ctx, &sbv1.ClusterInfoRequest{}, grpc.Header(&hdr)); err != nil {
			t.Fatal(err)
		}
		v := hdr.Get(control.RequestIDHeader)
		if len(v) != 1 {
			t.Fatalf("response headers %v: want one %s", hdr, control.RequestIDHeader)
		}
		return v[0]
	}
	if got := call("job-42.a"); got != "job-42.a" {
		t.Errorf("sent job-42.a, got back %q", got)
	}
	a, b := call(""), call("")
	if a == "" || a == b {
		t.Errorf("ids made up for two calls: %q and %q, want two different ones", a, b)
	}
	if got := call("has spaces"); got == "has spaces" || got == "" {
		t.Errorf("an unusable id came back as %q, want a fresh one", got)
	}
	if got := call(strings.Repeat("x", 129)); len(got) > 128 {
		t.Errorf("a 129-byte id came back (%d bytes)", len(got))
	}
	eventually(t, "the call's log line with its id", func() bool {
		return strings.Contains(logs.String(), "request_id=job-42.a")
	})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, control.RequestIDHeader, "stream-7")
	st, err := tc.api.Subscribe(ctx, &sbv1.SubscribeRequest{})
	if err != nil {
		t.Fatal(err)
	}
	hdr, err := st.Header()
	if err != nil {
		t.Fatal(err)
	}
	if v := hdr.Get(control.RequestIDHeader); len(v) != 1 || v[0] != "stream-7" {
		t.Errorf("stream headers %v: want %s stream-7", hdr, control.RequestIDHeader)
	}
}
