package control_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	sbv1 "github.com/switchboard-rt/switchboard/gen/switchboard/v1"
	"github.com/switchboard-rt/switchboard/pkg/control"
)

// TestNATSRestart: NATS goes away and comes back on the same address.
// Meanwhile control answers Unavailable instead of hanging; afterwards edges
// and control have reconnected on their own, the edge's subscriptions are
// back, and an emit reaches a socket that stayed connected throughout.
func TestNATSRestart(t *testing.T) {
	ns, err := control.StartEmbeddedNATS("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	natsURL := ns.URL()
	u, err := url.Parse(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Shutdown() })

	f := startCluster(t, options{edges: 1, natsURL: natsURL})
	f.waitEdges(f.edges[0].ID())

	// One raw Socket.IO client on the edge, kept open across the outage.
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(f.edges[0].url, "http")+"/socket.io/?EIO=4&transport=websocket", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	msgs := make(chan string, 64)
	go func() {
		defer close(msgs)
		for {
			_, m, err := ws.ReadMessage()
			if err != nil {
				return
			}
			if string(m) == "2" {
				_ = ws.WriteMessage(websocket.TextMessage, []byte("3"))
				continue
			}
			msgs <- string(m)
		}
	}()
	next := func(what string) string {
		t.Helper()
		select {
		case m := <-msgs:
			return m
		case <-time.After(5 * time.Second):
			t.Fatalf("no %s", what)
			return ""
		}
	}
	if m := next("open packet"); !strings.HasPrefix(m, "0{") {
		t.Fatalf("open packet %q", m)
	}
	if err := ws.WriteMessage(websocket.TextMessage, []byte("40")); err != nil {
		t.Fatal(err)
	}
	if m := next("CONNECT"); !strings.HasPrefix(m, `40{"sid":`) {
		t.Fatalf("CONNECT %q", m)
	}
	emit := func(ctx context.Context, n float64) error {
		_, err := f.api.Emit(ctx, &sbv1.EmitRequest{Event: "tick", Args: values(t, n)})
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := emit(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if m := next("first tick"); m != `42["tick",1]` {
		t.Fatalf("got %q", m)
	}

	ns.Shutdown()
	// Control notices and answers Unavailable, quickly.
	eventually(t, "Emit answers Unavailable", func() bool {
		cctx, ccancel := context.WithTimeout(ctx, time.Second)
		defer ccancel()
		return status.Code(emit(cctx, 0)) == codes.Unavailable
	})

	ns2, err := control.StartEmbeddedNATS(u.Host)
	if err != nil {
		t.Fatalf("restart NATS on %s: %v", u.Host, err)
	}
	t.Cleanup(func() { ns2.Shutdown() })

	// Once both have reconnected, an emit reaches the client again. Emits
	// sent before the edge resubscribed are lost (NATS is at-most-once), so
	// keep emitting numbered ticks until one arrives.
	deadline := time.Now().Add(10 * time.Second)
	for n := 2.0; ; n++ {
		if time.Now().After(deadline) {
			t.Fatal("no tick reached the client after NATS came back")
		}
		if err := emit(ctx, n); err != nil {
			if status.Code(err) != codes.Unavailable {
				t.Fatalf("Emit after restart: %v", err)
			}
			time.Sleep(50 * time.Millisecond)
			continue
		}
		select {
		case m, ok := <-msgs:
			if !ok {
				t.Fatal("the client's connection closed during the outage")
			}
			if !strings.HasPrefix(m, `42["tick",`) {
				t.Fatalf("got %q", m)
			}
			f.waitEdges(f.edges[0].ID())
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}
