package edge_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/switchboard-rt/switchboard/pkg/edge"
)

// TestReadyDrainingThenStopped: once Run's context ends, a standalone edge
// holding two WebSocket sessions says "draining" while it spreads their
// closes over DrainWindow, then Run returns nil, the sessions closed.
func TestReadyDrainingThenStopped(t *testing.T) {
	e, err := edge.New(edge.Config{Addr: "127.0.0.1:0", DrainWindow: 600 * time.Millisecond, ShutdownTimeout: 5 * time.Second, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- e.Run(ctx) }()
	for range 2 {
		c, _, err := websocket.DefaultDialer.Dial("ws://"+e.Addr().String()+"/socket.io/?EIO=4&transport=websocket", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, _, err := c.ReadMessage(); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Ready(); err != nil {
		t.Fatalf("Ready before the drain: %v", err)
	}
	cancel()
	deadline := time.Now().Add(300 * time.Millisecond)
	for e.Ready() == nil {
		if time.Now().After(deadline) {
			t.Fatal("still ready 300ms into the drain")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := e.Ready(); err == nil || err.Error() != "draining" {
		t.Errorf("Ready while draining: %v, want draining", err)
	}
	select {
	case err := <-ran:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run still running 5s after its context ended")
	}
	if n := e.Stats().Engine.Sessions; n != 0 {
		t.Errorf("%d sessions after Run", n)
	}
}

// TestDrainWindowChecked: a window not shorter than the shutdown timeout
// is refused by New.
func TestDrainWindowChecked(t *testing.T) {
	if _, err := edge.New(edge.Config{Addr: "127.0.0.1:0", DrainWindow: 10 * time.Second, ShutdownTimeout: 10 * time.Second}); err == nil {
		t.Error("New took a drain window as long as the shutdown timeout")
	}
}
