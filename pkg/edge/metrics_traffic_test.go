package edge_test

import (
	"testing"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats-server/v2/server"
	natstest "github.com/nats-io/nats-server/v2/test"
	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	busv1 "github.com/switchboard-rt/switchboard/gen/switchboard/bus/v1"
	sbv1 "github.com/switchboard-rt/switchboard/gen/switchboard/v1"
	"github.com/switchboard-rt/switchboard/internal/admin/admintest"
	"github.com/switchboard-rt/switchboard/pkg/bus"
	"github.com/switchboard-rt/switchboard/pkg/edge"
	"github.com/switchboard-rt/switchboard/pkg/socketio"
)

// TestTrafficMetrics: packets and bytes in and out, the fan-out histogram
// (one observation a broadcast from the bus) and disconnects by reason
// move as a client talks, receives broadcasts and leaves.
func TestTrafficMetrics(t *testing.T) {
	opts := natstest.DefaultTestOptions
	opts.Port = server.RANDOM_PORT
	ns := natstest.RunServer(&opts)
	t.Cleanup(ns.Shutdown)
	te := startEdge(t, edge.Config{NATSURL: ns.ClientURL()}, nil)
	addr := startAdmin(t, te.Edge)
	eventually(t, "the edge on the bus", func() bool { return te.Ready() == nil })
	value := func(m admintest.Metrics, name string, labels ...string) float64 {
		v, _ := m.Value(name, labels...)
		return v
	}
	before := admintest.Scrape(t, addr)

	c := adminWSClient(t, te.Addr().String()) // open, CONNECT and its answer
	if err := c.WriteMessage(websocket.TextMessage, []byte(`42["hello","world"]`)); err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	subj, err := bus.NewSubjects("")
	if err != nil {
		t.Fatal(err)
	}
	const broadcasts = 5
	for i := range broadcasts {
		pkt, err := socketio.EncodeEvent("/", "tick", i)
		if err != nil {
			t.Fatal(err)
		}
		b, err := proto.Marshal(&busv1.EdgeCommand{Command: &busv1.EdgeCommand_Broadcast{Broadcast: &busv1.Broadcast{Target: &sbv1.Target{Namespace: "/"}, Packet: pkt.Text()}}})
		if err != nil {
			t.Fatal(err)
		}
		if err := nc.Publish(subj.Namespace("/"), b); err != nil {
			t.Fatal(err)
		}
	}
	for range broadcasts {
		if _, _, err := c.ReadMessage(); err != nil {
			t.Fatal(err)
		}
	}
	// The event is read by the edge in its own time.
	eventually(t, "CONNECT and the event counted as received", func() bool {
		m := admintest.Scrape(t, addr)
		return value(m, "switchboard_edge_packets_received_total")-value(before, "switchboard_edge_packets_received_total") >= 2
	})
	mid := admintest.Scrape(t, addr)
	if got := value(mid, "switchboard_edge_received_bytes_total") - value(before, "switchboard_edge_received_bytes_total"); got < float64(len(`2["hello","world"]`)) {
		t.Errorf("bytes received grew by %v", got)
	}
	if got := value(mid, "switchboard_edge_packets_sent_total") - value(before, "switchboard_edge_packets_sent_total"); got < 1+broadcasts {
		t.Errorf("packets sent grew by %v, want at least %d (CONNECT's answer, the broadcasts)", got, 1+broadcasts)
	}
	if got := value(mid, "switchboard_edge_sent_bytes_total") - value(before, "switchboard_edge_sent_bytes_total"); got < float64(broadcasts*len(`2["tick",0]`)) {
		t.Errorf("bytes sent grew by %v", got)
	}
	if got := value(mid, "switchboard_edge_fanout_seconds") - value(before, "switchboard_edge_fanout_seconds"); got != broadcasts {
		t.Errorf("fan-out observations grew by %v, want %d", got, broadcasts)
	}

	c.Close()
	eventually(t, "the disconnect counted by its reason", func() bool {
		m := admintest.Scrape(t, addr)
		return value(m, "switchboard_edge_disconnects_total", "reason", "transport_close")+value(m, "switchboard_edge_disconnects_total", "reason", "transport_error") >
			value(before, "switchboard_edge_disconnects_total", "reason", "transport_close")+value(before, "switchboard_edge_disconnects_total", "reason", "transport_error")
	})
	after := admintest.Scrape(t, addr)
	if _, ok := after.Value("switchboard_edge_disconnects_total", "reason", "slow_consumer"); !ok {
		t.Error("disconnects_total has no slow_consumer series: every reason should read from start")
	}
}
