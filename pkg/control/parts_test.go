package control_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats-server/v2/server"
	natstest "github.com/nats-io/nats-server/v2/test"

	sbv1 "github.com/switchboard-rt/switchboard/gen/switchboard/v1"
)

// TestReplyInParts: an edge's reply over NATS's max payload (a ListSockets
// of sockets with large headers; a default external NATS takes 1 MB) goes
// in parts that control merges. The edge sent it whole, NATS refused it,
// the error was dropped (`_ = Respond`), and ListSockets reported the edge
// missing and none of its sockets.
func TestReplyInParts(t *testing.T) {
	opts := natstest.DefaultTestOptions
	opts.Port = server.RANDOM_PORT
	opts.MaxPayload = 32 << 10
	ns := natstest.RunServer(&opts)
	t.Cleanup(ns.Shutdown)
	f := startCluster(t, options{edges: 1, natsURL: ns.ClientURL()})

	const clients = 40 // each with 2 KB of headers: 80 KB, over the 32 KB
	u := "ws" + strings.TrimPrefix(f.edges[0].url, "http") + "/socket.io/?EIO=4&transport=websocket"
	hdr := http.Header{"X-Big": {strings.Repeat("h", 2<<10)}}
	for i := range clients {
		c, resp, err := websocket.DefaultDialer.Dial(u, hdr)
		if err != nil {
			t.Fatalf("client %d: dial: %v", i, err)
		}
		resp.Body.Close()
		t.Cleanup(func() { c.Close() })
		_ = c.SetReadDeadline(time.Now().Add(waitTimeout))
		if _, m, err := c.ReadMessage(); err != nil || !strings.HasPrefix(string(m), "0{") {
			t.Fatalf("client %d: open packet %q, %v", i, m, err)
		}
		if err := c.WriteMessage(websocket.TextMessage, []byte("40")); err != nil {
			t.Fatal(err)
		}
		if _, m, err := c.ReadMessage(); err != nil || !strings.HasPrefix(string(m), "40{") {
			t.Fatalf("client %d: CONNECT answered %q, %v", i, m, err)
		}
	}
	resp, err := f.api.ListSockets(context.Background(), &sbv1.ListSocketsRequest{Target: &sbv1.Target{Namespace: "/"}})
	if err != nil {
		t.Fatalf("ListSockets: %v", err)
	}
	if len(resp.MissingEdges) != 0 || len(resp.Sockets) != clients {
		t.Fatalf("ListSockets: %d sockets, edges %v missing; want %d sockets, none missing", len(resp.Sockets), resp.MissingEdges, clients)
	}
	seen := map[string]bool{}
	for _, s := range resp.Sockets {
		if seen[s.Sid] || s.Handshake.GetHeaders()["x-big"] != strings.Repeat("h", 2<<10) {
			t.Fatalf("socket %s listed twice or without its header", s.Sid)
		}
		seen[s.Sid] = true
	}
	if st := f.edges[0].ClusterStats(); st.ReplyFailures != 0 {
		t.Errorf("the edge counts %d replies not sent", st.ReplyFailures)
	}
}
