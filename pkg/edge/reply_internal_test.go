package edge

import (
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	natstest "github.com/nats-io/nats-server/v2/test"
	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	busv1 "github.com/switchboard-rt/switchboard/gen/switchboard/bus/v1"
	sbv1 "github.com/switchboard-rt/switchboard/gen/switchboard/v1"
)

// TestQueryReplyWithoutUnencodableSocket: should a socket still make a
// query reply unencodable (a string that is not UTF-8 that describe did not
// clean), the edge answers without that socket, and counts it, instead of
// not answering at all, which made ListSockets report the edge missing and
// hide all its sockets; and the reply says that it left sockets out.
func TestQueryReplyWithoutUnencodableSocket(t *testing.T) {
	opts := natstest.DefaultTestOptions
	opts.Port = server.RANDOM_PORT
	ns := natstest.RunServer(&opts)
	t.Cleanup(ns.Shutdown)
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)

	c := &cluster{id: "e1234567", log: slog.New(slog.DiscardHandler)}
	sub, err := nc.Subscribe("query", func(m *nats.Msg) {
		c.answer(m, &busv1.EdgeReply{Reply: &busv1.EdgeReply_Query{Query: &busv1.QueryReply{Sockets: []*sbv1.Socket{
			{Sid: "e1234567good1"},
			{Sid: "e1234567bad", Handshake: &sbv1.Handshake{Query: map[string]string{"x": "\xff"}}},
			{Sid: "e1234567good2"},
		}}}})
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	m, err := nc.Request("query", nil, 5*time.Second)
	if err != nil {
		t.Fatalf("no reply: %v", err)
	}
	var reply busv1.EdgeReply
	if err := proto.Unmarshal(m.Data, &reply); err != nil {
		t.Fatal(err)
	}
	var sids []string
	for _, s := range reply.GetQuery().GetSockets() {
		sids = append(sids, s.Sid)
	}
	if len(sids) != 2 || sids[0] != "e1234567good1" || sids[1] != "e1234567good2" {
		t.Errorf("reply lists %v, want the two good sockets", sids)
	}
	if reply.EdgeId != c.id {
		t.Errorf("reply from edge %q, want %q", reply.EdgeId, c.id)
	}
	if e := reply.Error; e.GetCode() != sbv1.EdgeErrorCode_EDGE_ERROR_CODE_REPLY_INCOMPLETE {
		t.Errorf("reply error %v, want REPLY_INCOMPLETE", e)
	}
	if n := c.omitted.Load(); n != 1 {
		t.Errorf("%d sockets counted as left out, want 1", n)
	}
}
