package edge_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats-server/v2/server"
	natstest "github.com/nats-io/nats-server/v2/test"

	"github.com/switchboard-rt/switchboard/pkg/edge"
)

// TestBusLostForGood: when the NATS connection closes for good (nats.go
// gives up on it after some server errors), the edge does not go on
// serving clients that no emit can reach: it disconnects them, so that they
// reconnect to another edge, and Run returns an error saying why, so that
// the process exits and is restarted.
func TestBusLostForGood(t *testing.T) {
	opts := natstest.DefaultTestOptions
	opts.Port = server.RANDOM_PORT
	ns := natstest.RunServer(&opts)
	t.Cleanup(ns.Shutdown)

	e, err := edge.New(edge.Config{
		Addr:    "127.0.0.1:0",
		NATSURL: ns.ClientURL(),
		Logger:  slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelError + 1})),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()

	c, _, err := websocket.DefaultDialer.Dial("ws://"+e.Addr().String()+"/socket.io/?EIO=4&transport=websocket", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	read := func() (string, error) {
		_ = c.SetReadDeadline(time.Now().Add(waitTimeout))
		_, b, err := c.ReadMessage()
		return string(b), err
	}
	if m, err := read(); err != nil || !strings.HasPrefix(m, "0{") {
		t.Fatalf("open packet: %q, %v", m, err)
	}
	if err := c.WriteMessage(websocket.TextMessage, []byte("40")); err != nil {
		t.Fatal(err)
	}
	if m, err := read(); err != nil || !strings.HasPrefix(m, "40{") {
		t.Fatalf("CONNECT: %q, %v", m, err)
	}

	if err := edge.BreakBus(e); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "NATS connection closed for good") {
			t.Errorf("Run returned %v, want the lost connection", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("the edge goes on without its bus")
	}
	// The client was told: the connection ends with a close frame.
	for {
		if _, err := read(); err != nil {
			if !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
				t.Errorf("the connection ended with %v, want a close frame (1000)", err)
			}
			break
		}
	}
}
