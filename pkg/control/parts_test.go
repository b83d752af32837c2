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
	resp, err := f.api.ListSockets(context.Background(), &sbv1.ListSocketsRequest{Namespace: "/"})
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

// TestReplyIncomplete: a socket whose description alone is over NATS's
// max payload cannot be in any part of the edge's reply. The edge sends the
// rest, and says in its last part that it left sockets out; ListSockets
// lists the others and reports the edge in missing_edges and edge_errors
// (REPLY_INCOMPLETE), rather than only "missing", without a reason.
func TestReplyIncomplete(t *testing.T) {
	opts := natstest.DefaultTestOptions
	opts.Port = server.RANDOM_PORT
	opts.MaxPayload = 32 << 10
	ns := natstest.RunServer(&opts)
	t.Cleanup(ns.Shutdown)
	f := startCluster(t, options{edges: 1, natsURL: ns.ClientURL()})

	u := "ws" + strings.TrimPrefix(f.edges[0].url, "http") + "/socket.io/?EIO=4&transport=websocket"
	const small = 5
	for i := range small + 1 {
		hdr := http.Header{"X-Big": {strings.Repeat("h", 4<<10)}} // 5 of 4 KB: 20 KB, in parts
		if i == small {
			hdr = http.Header{"X-Big": {strings.Repeat("H", 40<<10)}} // over 32 KB alone
		}
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
	resp, err := f.api.ListSockets(context.Background(), &sbv1.ListSocketsRequest{Namespace: "/"})
	if err != nil {
		t.Fatalf("ListSockets: %v", err)
	}
	id := f.edges[0].ID()
	if len(resp.Sockets) != small {
		t.Errorf("%d sockets listed, want the %d small ones", len(resp.Sockets), small)
	}
	for _, s := range resp.Sockets {
		if len(s.Handshake.GetHeaders()["x-big"]) != 4<<10 {
			t.Errorf("socket %s listed with a %d-byte header", s.Sid, len(s.Handshake.GetHeaders()["x-big"]))
		}
	}
	if len(resp.MissingEdges) != 1 || resp.MissingEdges[0] != id {
		t.Errorf("missing edges %v, want [%s]", resp.MissingEdges, id)
	}
	if len(resp.EdgeErrors) != 1 || resp.EdgeErrors[0].EdgeId != id ||
		resp.EdgeErrors[0].Code != sbv1.EdgeErrorCode_EDGE_ERROR_CODE_REPLY_INCOMPLETE || resp.EdgeErrors[0].Message == "" {
		t.Errorf("edge errors %v, want REPLY_INCOMPLETE from %s", resp.EdgeErrors, id)
	}
	if st := f.edges[0].ClusterStats(); st.ReplyFailures != 1 {
		t.Errorf("the edge counts %d replies not sent, want 1", st.ReplyFailures)
	}
	if n := f.ctl.Stats().EdgeErrors; n != 1 {
		t.Errorf("control counts %d edge errors, want 1", n)
	}
}
