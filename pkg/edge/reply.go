package edge

import (
	"fmt"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	busv1 "github.com/switchboard-rt/switchboard/gen/switchboard/bus/v1"
	sbv1 "github.com/switchboard-rt/switchboard/gen/switchboard/v1"
)

// replyMargin is what a reply part leaves of NATS's max payload for the
// message's headers and its own framing.
const replyMargin = 1 << 10

// replyError makes the error of a reply.
func replyError(code sbv1.EdgeErrorCode, format string, args ...any) *busv1.ReplyError {
	return &busv1.ReplyError{Code: code, Message: fmt.Sprintf(format, args...)}
}

// refuse answers a command the edge will not do, with why.
func (c *cluster) refuse(m *nats.Msg, code sbv1.EdgeErrorCode, format string, args ...any) {
	c.answer(m, &busv1.EdgeReply{Error: replyError(code, format, args...)})
}

// respond answers m with reply, checked: a reply nats.go refuses is counted
// (ClusterStats.ReplyFailures) and logged, never dropped silently.
func (c *cluster) respond(m *nats.Msg, reply proto.Message) {
	if m.Reply == "" {
		return
	}
	b, err := proto.Marshal(reply)
	if err == nil {
		err = m.Respond(b)
	}
	if err != nil {
		c.replyFailed(err)
	}
}

// answer sends an edge's reply to a command (its edge id set here),
// checked as respond does. A reply over the bus's max payload goes in
// parts (EdgeReply.more), which control merges; should a part still not go,
// the last part says so (EDGE_ERROR_CODE_REPLY_INCOMPLETE), so that control
// knows why the reply is short instead of waiting for the rest.
func (c *cluster) answer(m *nats.Msg, r *busv1.EdgeReply) {
	if m.Reply == "" {
		return
	}
	r.EdgeId = c.id
	b, err := proto.Marshal(r)
	if q := r.GetQuery(); err != nil && q != nil && c.omitUnencodable(r, q, err) {
		b, err = proto.Marshal(r)
	}
	if err != nil {
		c.replyFailed(err)
		c.incomplete(m, err)
		return
	}
	limit := 0 // no NATS connection (a test's cluster): one part
	if c.nc != nil {
		limit = int(c.nc.MaxPayload()) - replyMargin
	}
	if limit <= 0 || len(b) <= limit {
		if err := m.Respond(b); err != nil {
			c.replyFailed(err)
			c.incomplete(m, err)
		}
		return
	}
	// A part over the limit holds one socket or ack alone: it is left
	// out, and the last part says so.
	var parts []*busv1.EdgeReply
	over := 0
	for _, p := range splitReply(r, limit) {
		if n := proto.Size(p); n > limit {
			over++
			c.replyFailed(fmt.Errorf("%w: a part of %d bytes, over %d", nats.ErrMaxPayload, n, limit))
			continue
		}
		parts = append(parts, p)
	}
	if over > 0 {
		last := &busv1.EdgeReply{Error: replyError(sbv1.EdgeErrorCode_EDGE_ERROR_CODE_REPLY_INCOMPLETE,
			"%d sockets left out of the reply: each alone is over the bus's max payload (%d bytes)", over, limit)}
		if len(parts) > 0 && parts[len(parts)-1].Error == nil {
			parts[len(parts)-1].Error = last.Error
		} else {
			parts = append(parts, last)
		}
	}
	for i, p := range parts {
		p.EdgeId, p.More = c.id, i < len(parts)-1
		b, err := proto.Marshal(p)
		if err == nil {
			err = m.Respond(b)
		}
		if err != nil {
			c.replyFailed(err)
			c.incomplete(m, err)
			return
		}
	}
}

// omitUnencodable takes out of q the sockets that make r unencodable, and
// says so in r's error; it reports whether it took any. describe makes
// every string valid, but should a socket still not encode, the reply goes
// without it (counted, logged) rather than not at all: one socket's data
// must not hide every other socket of the edge.
func (c *cluster) omitUnencodable(r *busv1.EdgeReply, q *busv1.QueryReply, cause error) bool {
	kept := q.Sockets[:0]
	var omitted []string
	for _, s := range q.Sockets {
		if _, err := proto.Marshal(s); err != nil {
			omitted = append(omitted, s.GetSid())
			continue
		}
		kept = append(kept, s)
	}
	if len(omitted) == 0 {
		return false
	}
	q.Sockets = kept
	c.omitted.Add(uint64(len(omitted)))
	c.log.Warn("edge: sockets left out of a reply: they cannot be encoded", "sids", omitted, "err", cause)
	r.Error = replyError(sbv1.EdgeErrorCode_EDGE_ERROR_CODE_REPLY_INCOMPLETE, "%d sockets left out: they cannot be encoded: %v", len(omitted), cause)
	return true
}

// incomplete ends a reply that could not be sent in full with a last part
// that says why.
func (c *cluster) incomplete(m *nats.Msg, cause error) {
	r := &busv1.EdgeReply{EdgeId: c.id, Error: replyError(sbv1.EdgeErrorCode_EDGE_ERROR_CODE_REPLY_INCOMPLETE, "reply not sent in full: %v", cause)}
	b, err := proto.Marshal(r)
	if err == nil {
		err = m.Respond(b)
	}
	if err != nil {
		c.replyFailed(err)
	}
}

// replyFailed counts a reply that could not be sent, and logs some of them
// (worthLogging).
func (c *cluster) replyFailed(err error) {
	if n := c.replyFails.Add(1); worthLogging(n) {
		c.log.Warn("edge: reply not sent", "err", err, "failures", n)
	}
}

// splitReply cuts r into parts of at most limit bytes each, by halving the
// list its reply holds (sockets, rooms, acks, timed-out sids) until each
// part fits. One item over the limit alone is a part of its own, which
// answer leaves out. The error, if any, goes
// with the last part; every part of a BroadcastReply carries its count of
// sockets (a scalar, which merging keeps from the last part).
func splitReply(r *busv1.EdgeReply, limit int) []*busv1.EdgeReply {
	if proto.Size(r) <= limit {
		return []*busv1.EdgeReply{r}
	}
	var a, b *busv1.EdgeReply
	switch x := r.Reply.(type) {
	case *busv1.EdgeReply_Query:
		q := x.Query
		if len(q.Sockets)+len(q.Rooms) <= 1 {
			return []*busv1.EdgeReply{r}
		}
		qa, qb := &busv1.QueryReply{}, &busv1.QueryReply{}
		if len(q.Sockets) > 1 || len(q.Rooms) == 0 {
			h := len(q.Sockets) / 2
			qa.Sockets, qb.Sockets, qb.Rooms = q.Sockets[:h], q.Sockets[h:], q.Rooms
		} else {
			h := len(q.Rooms) / 2
			qa.Sockets, qa.Rooms, qb.Rooms = q.Sockets, q.Rooms[:h], q.Rooms[h:]
		}
		a = &busv1.EdgeReply{Reply: &busv1.EdgeReply_Query{Query: qa}}
		b = &busv1.EdgeReply{Reply: &busv1.EdgeReply_Query{Query: qb}, Error: r.Error}
	case *busv1.EdgeReply_Broadcast:
		br := x.Broadcast
		if len(br.Acks)+len(br.TimedOutSids) <= 1 {
			return []*busv1.EdgeReply{r}
		}
		ba := &busv1.BroadcastReply{Sockets: br.Sockets}
		bb := &busv1.BroadcastReply{Sockets: br.Sockets}
		if len(br.Acks) > 1 || len(br.TimedOutSids) == 0 {
			h := len(br.Acks) / 2
			ba.Acks, bb.Acks, bb.TimedOutSids = br.Acks[:h], br.Acks[h:], br.TimedOutSids
		} else {
			h := len(br.TimedOutSids) / 2
			ba.Acks, ba.TimedOutSids, bb.TimedOutSids = br.Acks, br.TimedOutSids[:h], br.TimedOutSids[h:]
		}
		a = &busv1.EdgeReply{Reply: &busv1.EdgeReply_Broadcast{Broadcast: ba}}
		b = &busv1.EdgeReply{Reply: &busv1.EdgeReply_Broadcast{Broadcast: bb}, Error: r.Error}
	default:
		return []*busv1.EdgeReply{r}
	}
	return append(splitReply(a, limit), splitReply(b, limit)...)
}
