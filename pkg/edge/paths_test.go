package edge_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats-server/v2/server"
	natstest "github.com/nats-io/nats-server/v2/test"
	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	busv1 "github.com/switchboard-rt/switchboard/gen/switchboard/bus/v1"
	sbv1 "github.com/switchboard-rt/switchboard/gen/switchboard/v1"
	"github.com/switchboard-rt/switchboard/pkg/bus"
	"github.com/switchboard-rt/switchboard/pkg/edge"
	"github.com/switchboard-rt/switchboard/pkg/socketio"
)

// TestOperationsDoNotHoldDeliveries: the edge's operations (socket
// operations, queries, service acks) have a path of their own, so that an
// operation that takes long (a ListSockets of thousands of sockets) never
// holds up a broadcast. One dispatcher handled both in arrival order: a
// broadcast behind a held query waited for it. Each path's queue is
// bounded; what overflows is dropped and counted, for ClusterStats and the
// heartbeat's counters.
func TestOperationsDoNotHoldDeliveries(t *testing.T) {
	opts := natstest.DefaultTestOptions
	opts.Port = server.RANDOM_PORT
	ns := natstest.RunServer(&opts)
	t.Cleanup(ns.Shutdown)
	e := runBusEdge(t, ns.ClientURL())
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	subj, err := bus.NewSubjects("")
	if err != nil {
		t.Fatal(err)
	}

	c, _, err := websocket.DefaultDialer.Dial("ws://"+e.Addr().String()+"/socket.io/?EIO=4&transport=websocket", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	read := func(what string) string {
		t.Helper()
		for {
			_ = c.SetReadDeadline(time.Now().Add(waitTimeout))
			_, b, err := c.ReadMessage()
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			if string(b) != "2" {
				return string(b)
			}
			_ = c.WriteMessage(websocket.TextMessage, []byte("3"))
		}
	}
	if m := read("open packet"); !strings.HasPrefix(m, "0{") {
		t.Fatalf("open packet %q", m)
	}
	if err := c.WriteMessage(websocket.TextMessage, []byte("40")); err != nil {
		t.Fatal(err)
	}
	if m := read("CONNECT"); !strings.HasPrefix(m, "40{") {
		t.Fatalf("CONNECT answered %q", m)
	}
	edgeID := e.ID()

	command := func(cmd *busv1.EdgeCommand) []byte {
		b, err := proto.Marshal(cmd)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	query := command(&busv1.EdgeCommand{Command: &busv1.EdgeCommand_Query{Query: &busv1.Query{
		Kind: busv1.QueryKind_QUERY_KIND_SOCKETS, Target: &sbv1.Target{Namespace: "/"},
	}}})
	broadcast := func(n int) []byte {
		pkt, err := socketio.EncodeEvent("/", "tick", n)
		if err != nil {
			t.Fatal(err)
		}
		return command(&busv1.EdgeCommand{Command: &busv1.EdgeCommand_Broadcast{Broadcast: &busv1.Broadcast{
			Target: &sbv1.Target{Namespace: "/"}, Packet: pkt.Text(),
		}}})
	}
	replies, err := nc.SubscribeSync("replies")
	if err != nil {
		t.Fatal(err)
	}

	// A query the operations path holds, then a broadcast: it is delivered.
	release := edge.HoldOperations(e)
	defer release()
	if err := nc.PublishRequest(subj.Edge(edgeID), "replies", query); err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish(subj.Namespace("/"), broadcast(1)); err != nil {
		t.Fatal(err)
	}
	if m := read("the broadcast sent behind a held query"); m != `42["tick",1]` {
		t.Fatalf("got %q, want the broadcast", m)
	}

	// More operations than the path holds: the excess is refused at once,
	// answered EDGE_ERROR_CODE_OVERLOADED, and counted; what was queued is
	// answered once the path goes on. (The refused ones went unanswered,
	// and their callers waited for the deadline and saw the edge missing.)
	const extra = 100
	for range edge.OpsQueue + extra {
		if err := nc.PublishRequest(subj.Edge(edgeID), "replies", query); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the operations over the queue's bound to be counted", func() bool {
		return e.ClusterStats().OperationsDropped >= extra
	})
	if err := nc.Publish(subj.Namespace("/"), broadcast(2)); err != nil {
		t.Fatal(err)
	}
	if m := read("a broadcast while the operations queue is full"); m != `42["tick",2]` {
		t.Fatalf("got %q, want the broadcast", m)
	}
	next := func() *busv1.EdgeReply {
		m, err := replies.NextMsg(time.Second)
		if err != nil {
			return nil
		}
		r := new(busv1.EdgeReply)
		if err := proto.Unmarshal(m.Data, r); err != nil || r.EdgeId != edgeID {
			t.Fatalf("reply %q: %v, from %q", m.Data, err, r.EdgeId)
		}
		return r
	}
	refused := int(e.ClusterStats().OperationsDropped)
	for i := range refused {
		r := next()
		if r.GetError().GetCode() != sbv1.EdgeErrorCode_EDGE_ERROR_CODE_OVERLOADED || r.Reply != nil {
			t.Fatalf("reply %d of %d while the queue is held: %v, want OVERLOADED and no reply", i, refused, r)
		}
	}
	release()
	answered := 0
	for r := next(); r != nil; r = next() {
		if r.Error != nil || r.GetQuery() == nil {
			t.Fatalf("reply %v, want a query reply", r)
		}
		answered++
	}
	st := e.ClusterStats()
	if want := edge.OpsQueue + extra + 1 - refused; answered != want || refused > extra+1 || int(st.OperationsDropped) != refused {
		t.Errorf("%d queries answered, %d refused (%d counted); want %d answered (all but the refused), at most %d refused", answered, refused, st.OperationsDropped, want, extra+1)
	}

	// The delivery path's own bound: held, it takes busQueue messages and
	// nats.go drops the rest, counted.
	releaseD := edge.HoldDeliveries(e)
	defer releaseD()
	tick := broadcast(3)
	for range edge.BusQueue + 2*extra {
		if err := nc.Publish(subj.Namespace("/"), tick); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the messages over the delivery queue's bound to be counted", func() bool {
		return e.ClusterStats().BusDropped >= extra
	})
	releaseD()
	if st := e.ClusterStats(); st.BusDropped > 2*extra+1 {
		t.Errorf("%d messages counted as dropped by the bus, want at most %d", st.BusDropped, 2*extra+1)
	}
}

// TestPublishFailuresCounted: a client event NATS refuses (here one over
// the server's max payload) reaches no service; the edge counts it, for
// ClusterStats and the heartbeat, rather than only log it.
func TestPublishFailuresCounted(t *testing.T) {
	opts := natstest.DefaultTestOptions
	opts.Port = server.RANDOM_PORT
	opts.MaxPayload = 16 << 10
	ns := natstest.RunServer(&opts)
	t.Cleanup(ns.Shutdown)
	e := runBusEdge(t, ns.ClientURL())
	c, _, err := websocket.DefaultDialer.Dial("ws://"+e.Addr().String()+"/socket.io/?EIO=4&transport=websocket", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetReadDeadline(time.Now().Add(waitTimeout))
	if _, m, err := c.ReadMessage(); err != nil || !strings.HasPrefix(string(m), "0{") {
		t.Fatalf("open packet %q, %v", m, err)
	}
	if err := c.WriteMessage(websocket.TextMessage, []byte("40")); err != nil {
		t.Fatal(err)
	}
	if _, m, err := c.ReadMessage(); err != nil || !strings.HasPrefix(string(m), "40{") {
		t.Fatalf("CONNECT answered %q, %v", m, err)
	}
	big := `42["big","` + strings.Repeat("x", 32<<10) + `"]`
	for range 3 {
		if err := c.WriteMessage(websocket.TextMessage, []byte(big)); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "the refused publishes to be counted", func() bool { return e.ClusterStats().PublishFailures == 3 })
}

// TestCommandNotUnderstood: a command the edge cannot decode, or one it
// does not know (a newer control's), gets EDGE_ERROR_CODE_UNSUPPORTED with
// the edge's id, so that the caller learns why rather than counting the
// edge missing after its deadline.
func TestCommandNotUnderstood(t *testing.T) {
	opts := natstest.DefaultTestOptions
	opts.Port = server.RANDOM_PORT
	ns := natstest.RunServer(&opts)
	t.Cleanup(ns.Shutdown)
	e := runBusEdge(t, ns.ClientURL())
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	subj, err := bus.NewSubjects("")
	if err != nil {
		t.Fatal(err)
	}
	// Field 9 of EdgeCommand: a command of a later version, say.
	unknown := protowire.AppendBytes(protowire.AppendTag(nil, 9, protowire.BytesType), []byte{0x08, 0x01})
	for name, payload := range map[string][]byte{
		"undecodable": {0xff, 0xff, 0xff},
		"unknown":     unknown,
	} {
		m, err := nc.Request(subj.Edge(e.ID()), payload, waitTimeout)
		for deadline := time.Now().Add(waitTimeout); errors.Is(err, nats.ErrNoResponders) && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond) // the edge is subscribing
			m, err = nc.Request(subj.Edge(e.ID()), payload, waitTimeout)
		}
		if err != nil {
			t.Fatalf("%s command: no reply: %v", name, err)
		}
		var r busv1.EdgeReply
		if err := proto.Unmarshal(m.Data, &r); err != nil {
			t.Fatal(err)
		}
		if r.EdgeId != e.ID() || r.GetError().GetCode() != sbv1.EdgeErrorCode_EDGE_ERROR_CODE_UNSUPPORTED || r.Error.Message == "" {
			t.Errorf("%s command: reply %v, want UNSUPPORTED with a message from %s", name, &r, e.ID())
		}
	}
}

// runBusEdge runs an edge on NATS at url until the test ends.
func runBusEdge(t *testing.T, url string) *edge.Edge {
	t.Helper()
	e, err := edge.New(edge.Config{
		Addr:    "127.0.0.1:0",
		NATSURL: url,
		Logger:  slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelError})),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return e
}
