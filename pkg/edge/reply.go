package edge

import (
	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	busv1 "github.com/switchboard-rt/switchboard/gen/switchboard/bus/v1"
)

// replyMargin is what a reply part leaves of NATS's max payload for the
// message's headers and its own framing.
const replyMargin = 1 << 10

// respond answers m with reply, checked: a reply nats.go refuses is counted
// (ClusterStats.ReplyFailures) and logged, never dropped silently.
func (c *cluster) respond(m *nats.Msg, reply proto.Message) {
	if m.Reply == "" {
		return
	}
	b, err := proto.Marshal(reply)
	if err != nil {
		c.replyFailed(err)
		return
	}
	c.respondEncoded(m, reply, b)
}

// respondEncoded is respond for a reply already encoded as b. A
// BroadcastReply or QueryReply over the bus's max payload goes in parts
// (their field more), which control merges.
func (c *cluster) respondEncoded(m *nats.Msg, reply proto.Message, b []byte) {
	limit := 0 // no NATS connection (a test's cluster): one part
	if c.nc != nil {
		limit = int(c.nc.MaxPayload()) - replyMargin
	}
	if limit <= 0 || len(b) <= limit {
		if err := m.Respond(b); err != nil {
			c.replyFailed(err)
		}
		return
	}
	var parts []proto.Message
	switch r := reply.(type) {
	case *busv1.QueryReply:
		for _, p := range splitQuery(r, limit) {
			parts = append(parts, p)
		}
	case *busv1.BroadcastReply:
		for _, p := range splitBroadcast(r, limit) {
			parts = append(parts, p)
		}
	default:
		parts = []proto.Message{reply}
	}
	for _, p := range parts {
		b, err := proto.Marshal(p)
		if err == nil {
			err = m.Respond(b)
		}
		if err != nil {
			c.replyFailed(err)
			return
		}
	}
}

// replyFailed counts a reply that could not be sent, and logs some of them
// (worthLogging).
func (c *cluster) replyFailed(err error) {
	if n := c.replyFails.Add(1); worthLogging(n) {
		c.log.Warn("edge: reply not sent", "err", err, "failures", n)
	}
}

// splitQuery cuts r into parts of at most limit bytes, each with more set
// but the last. One socket over the limit alone is a part of its own: NATS
// refuses it, which respond counts.
func splitQuery(r *busv1.QueryReply, limit int) []*busv1.QueryReply {
	if limit <= 0 || proto.Size(r) <= limit || len(r.Sockets)+len(r.Rooms) <= 1 {
		return []*busv1.QueryReply{r}
	}
	a := &busv1.QueryReply{EdgeId: r.EdgeId}
	b := &busv1.QueryReply{EdgeId: r.EdgeId}
	if len(r.Sockets) > 1 || len(r.Rooms) == 0 {
		h := len(r.Sockets) / 2
		a.Sockets, b.Sockets, b.Rooms = r.Sockets[:h], r.Sockets[h:], r.Rooms
	} else {
		h := len(r.Rooms) / 2
		a.Sockets, a.Rooms, b.Rooms = r.Sockets, r.Rooms[:h], r.Rooms[h:]
	}
	out := append(splitQuery(a, limit), splitQuery(b, limit)...)
	for _, p := range out[:len(out)-1] {
		p.More = true
	}
	out[len(out)-1].More = r.More
	return out
}

// splitBroadcast is splitQuery for a BroadcastReply: every part carries the
// count of sockets (a scalar, which merging keeps from the last part).
func splitBroadcast(r *busv1.BroadcastReply, limit int) []*busv1.BroadcastReply {
	if limit <= 0 || proto.Size(r) <= limit || len(r.Acks)+len(r.TimedOutSids) <= 1 {
		return []*busv1.BroadcastReply{r}
	}
	a := &busv1.BroadcastReply{EdgeId: r.EdgeId, Sockets: r.Sockets}
	b := &busv1.BroadcastReply{EdgeId: r.EdgeId, Sockets: r.Sockets}
	if len(r.Acks) > 1 || len(r.TimedOutSids) == 0 {
		h := len(r.Acks) / 2
		a.Acks, b.Acks, b.TimedOutSids = r.Acks[:h], r.Acks[h:], r.TimedOutSids
	} else {
		h := len(r.TimedOutSids) / 2
		a.Acks, a.TimedOutSids, b.TimedOutSids = r.Acks, r.TimedOutSids[:h], r.TimedOutSids[h:]
	}
	out := append(splitBroadcast(a, limit), splitBroadcast(b, limit)...)
	for _, p := range out[:len(out)-1] {
		p.More = true
	}
	out[len(out)-1].More = r.More
	return out
}
