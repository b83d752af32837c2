package control

import (
	"context"
	"errors"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	busv1 "github.com/switchboard-rt/switchboard/gen/switchboard/bus/v1"
	sbv1 "github.com/switchboard-rt/switchboard/gen/switchboard/v1"
	"github.com/switchboard-rt/switchboard/pkg/bus"
	"github.com/switchboard-rt/switchboard/pkg/engineio"
)

// defaultAckTimeout is EmitWithAck's timeout when the request sets none.
const defaultAckTimeout = 5 * time.Second

// available fails fast with Unavailable while NATS is not connected, rather
// than letting calls hang in the client's reconnect buffer.
func (s *Server) available() error {
	if st := s.nc.Status(); st != nats.CONNECTED {
		return status.Errorf(codes.Unavailable, "message bus unavailable (NATS %s)", st)
	}
	return nil
}

// busError maps a NATS error to a gRPC status.
func busError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	case errors.Is(err, nats.ErrMaxPayload):
		return status.Errorf(codes.InvalidArgument, "message too large for the bus: %v", err)
	}
	return status.Errorf(codes.Unavailable, "message bus: %v", err)
}

// message is one NATS message of a fan-out.
type message struct {
	subject string
	payload []byte
}

// fanout is how one command reaches the edges: its messages and, for a
// command that gathers replies, the edges to wait for. Its copies stay
// within bus.CopiesFit, so a command costs about one payload on the bus
// whatever the number of rooms, users or edges its target names.
type fanout struct {
	msgs    []message
	expect  []string // edges whose replies are awaited
	replies int      // how many replies may arrive, to size their buffer
	parts   bool     // a reply may come in parts (its field more): never a plain request
}

// replyRoom is how many replies to buffer for a fan-out: twice those
// expected (a reply may come in parts), 64 at least.
func (f fanout) replyRoom() int { return max(64, 2*f.replies) }

// encode marshals the command that build makes for a target.
func encode(build func(*sbv1.Target) *busv1.EdgeCommand, t *sbv1.Target) ([]byte, error) {
	b, err := proto.Marshal(build(t))
	if err != nil {
		return nil, status.Errorf(codes.Internal, "encode: %v", err)
	}
	return b, nil
}

// broadcastFanout plans an Emit to a target that names rooms or users, or
// the whole namespace: one copy per subject of bus's plan (Subjects.Broadcast) while the
// copies fit, else one message on the namespace subject, which every edge
// with a socket in the namespace subscribes to.
func (s *Server) broadcastFanout(t target, build func(*sbv1.Target) *busv1.EdgeCommand) (fanout, error) {
	payload, err := encode(build, t.Target)
	if err != nil {
		return fanout{}, err
	}
	subjects := s.subj.Broadcast(t.ns, t.Target)
	if !bus.CopiesFit(len(subjects), len(subjects)*len(payload)) {
		subjects = []string{s.subj.Namespace(t.ns)}
	}
	f := fanout{msgs: make([]message, len(subjects))}
	for i, subj := range subjects {
		f.msgs[i] = message{subj, payload}
	}
	return f, nil
}

// commandFanout plans a command whose edges reply (a sid-only Emit,
// EmitWithAck, JoinRoom, ListSockets, ...). A target that names only sids
// goes to the edges they name, each copy with only that edge's sids, while
// the copies fit; otherwise, and for any other target, one message goes on
// the cluster subject. Control waits for the named edges, or for every live
// edge when the target does not name them.
func (s *Server) commandFanout(t target, build func(*sbv1.Target) *busv1.EdgeCommand) (fanout, error) {
	if !t.sidsOnly() {
		payload, err := encode(build, t.Target)
		if err != nil {
			return fanout{}, err
		}
		live := s.reg.liveIDs()
		return fanout{msgs: []message{{s.subj.Cluster(), payload}}, expect: live, replies: len(live)}, nil
	}
	edges := bus.SIDEdges(t.Target)
	bySID := map[string][]string{}
	for _, sid := range t.Sids {
		e := bus.EdgeOfSID(sid)
		bySID[e] = append(bySID[e], sid)
	}
	f := fanout{expect: edges, replies: len(edges)}
	size := 0
	for _, e := range edges {
		if !bus.CopiesFit(len(edges), size) {
			break // over the bounds already: one message goes instead
		}
		one := &sbv1.Target{Namespace: t.ns, Sids: bySID[e], ExceptRooms: t.ExceptRooms}
		payload, err := encode(build, one)
		if err != nil {
			return fanout{}, err
		}
		size += len(payload)
		f.msgs = append(f.msgs, message{s.subj.Edge(e), payload})
	}
	if !bus.CopiesFit(len(edges), size) {
		payload, err := encode(build, t.Target)
		if err != nil {
			return fanout{}, err
		}
		f.msgs = []message{{s.subj.Cluster(), payload}}
		// Every live edge answers a command on the cluster subject.
		f.replies += len(s.reg.liveIDs())
	}
	return f, nil
}

// call is a validated command, planned for the edges: Emit, EmitWithAck,
// JoinRoom, LeaveRoom, Disconnect and SetSocketData are each a call, made
// by one RPC or as a command of a Pipeline stream.
type call struct {
	f     fanout
	reply bool          // the edges answer: gather their replies
	wait  time.Duration // how long they have to answer
	// ops: the edges run it on their operations path (docs/bus.md), not in
	// order with broadcasts; a Pipeline holds later emits until it is done.
	ops bool
	// answer is the response from what was gathered.
	answer func(gathered) proto.Message
}

// run makes a call: it publishes, and gathers the replies if any.
func (s *Server) run(ctx context.Context, c call) (proto.Message, error) {
	if err := s.available(); err != nil {
		return nil, err
	}
	if !c.reply {
		if err := s.publishAll(c.f); err != nil {
			return nil, err
		}
		return c.answer(gathered{}), nil
	}
	g, err := s.gather(ctx, c.f, c.wait)
	if err != nil {
		return nil, err
	}
	return c.answer(g), nil
}

// Emit implements switchboard.v1.Control.
func (s *Server) Emit(ctx context.Context, req *sbv1.EmitRequest) (*sbv1.EmitResponse, error) {
	c, err := s.planEmit(req)
	return unary[*sbv1.EmitResponse](ctx, s, c, err)
}

// planEmit validates an Emit: without report, one publish per subject of
// bus's plan; with report, a command every edge that may hold a selected
// socket answers.
func (s *Server) planEmit(req *sbv1.EmitRequest) (call, error) {
	t, err := checkTarget(req.Target)
	if err != nil {
		return call{}, err
	}
	text, err := s.encodeEvent(t, req.Event, req.Args, req.ArgsJson, req.Binary)
	if err != nil {
		return call{}, err
	}
	// Edges drop the later copies of an emit by its id, which only a
	// target that may come in copies needs (bus.Copies, the edges' own
	// test): a unicast goes without one (a random read saved per emit).
	var id string
	if bus.Copies(t.Target) > 1 {
		id = engineio.RandomID()
	}
	build := emitCommand(id, text, req)
	if !req.Report {
		f, err := s.broadcastFanout(t, build)
		return call{f: f, answer: func(gathered) proto.Message { return &sbv1.EmitResponse{} }}, err
	}
	f, err := s.commandFanout(t, build)
	return call{f: f, reply: true, wait: s.cfg.GatherTimeout, answer: func(g gathered) proto.Message { return emitReport(g) }}, err
}

// emitCommand builds an emit's Broadcast for a target.
func emitCommand(id string, text []byte, req *sbv1.EmitRequest) func(*sbv1.Target) *busv1.EdgeCommand {
	return func(tg *sbv1.Target) *busv1.EdgeCommand {
		return &busv1.EdgeCommand{Command: &busv1.EdgeCommand_Broadcast{Broadcast: &busv1.Broadcast{
			Id:          id,
			Target:      tg,
			Packet:      text,
			Attachments: req.Binary,
			Volatile:    req.Volatile,
		}}}
	}
}

// publishAll publishes a fan-out's messages, without replies.
func (s *Server) publishAll(f fanout) error {
	for _, m := range f.msgs {
		if err := s.nc.Publish(m.subject, m.payload); err != nil {
			return busError(err)
		}
	}
	return nil
}

// emitReport sums what the edges said they did with an emit.
func emitReport(g gathered) *sbv1.EmitResponse {
	var sockets, queued, dropped uint32
	resp := &sbv1.EmitResponse{MissingEdges: g.missing, EdgeErrors: g.errors}
	for edge, r := range g.replies {
		b := r.GetBroadcast()
		if b == nil || b.Sockets == 0 {
			continue
		}
		d := b.DroppedVolatile + b.DroppedSlow + b.DroppedClosed
		sockets, queued, dropped = sockets+b.Sockets, queued+b.Queued, dropped+d
		resp.Deliveries = append(resp.Deliveries, &sbv1.EdgeDelivery{
			EdgeId: edge, Sockets: proto.Uint32(b.Sockets), Queued: proto.Uint32(b.Queued),
			DroppedVolatile: proto.Uint32(b.DroppedVolatile), DroppedSlow: proto.Uint32(b.DroppedSlow),
			DroppedClosed: proto.Uint32(b.DroppedClosed),
		})
	}
	sort.Slice(resp.Deliveries, func(i, j int) bool { return resp.Deliveries[i].EdgeId < resp.Deliveries[j].EdgeId })
	resp.Sockets, resp.Queued, resp.Dropped = &sockets, &queued, &dropped
	return resp
}

// EmitWithAck implements switchboard.v1.Control.
func (s *Server) EmitWithAck(ctx context.Context, req *sbv1.EmitWithAckRequest) (*sbv1.EmitWithAckResponse, error) {
	// The edges' ack waits end early enough that their replies reach
	// control, and control's answer the caller, before its deadline.
	var left time.Duration
	if dl, ok := ctx.Deadline(); ok {
		left = max(time.Until(dl)*8/10, time.Millisecond)
	}
	c, err := s.planEmitWithAck(req, left)
	return unary[*sbv1.EmitWithAckResponse](ctx, s, c, err)
}

// planEmitWithAck validates an EmitWithAck; the sockets' ack timeout is at
// most within when that is set.
func (s *Server) planEmitWithAck(req *sbv1.EmitWithAckRequest, within time.Duration) (call, error) {
	t, err := checkTarget(req.Target)
	if err != nil {
		return call{}, err
	}
	text, err := s.encodeEvent(t, req.Event, req.Args, req.ArgsJson, req.Binary)
	if err != nil {
		return call{}, err
	}
	timeout, err := checkAckTimeout(req.Timeout)
	if err != nil {
		return call{}, err
	}
	if within > 0 {
		timeout = min(timeout, within)
	}
	id := engineio.RandomID()
	f, err := s.commandFanout(t, func(tg *sbv1.Target) *busv1.EdgeCommand {
		return &busv1.EdgeCommand{Command: &busv1.EdgeCommand_Broadcast{Broadcast: &busv1.Broadcast{
			Id:          id,
			Target:      tg,
			Packet:      text,
			Attachments: req.Binary,
			AckTimeout:  durationpb.New(timeout),
		}}}
	})
	f.parts = true // the acks of many sockets may pass NATS's max payload
	return call{f: f, reply: true, wait: timeout + s.cfg.GatherTimeout, answer: func(g gathered) proto.Message { return ackReport(g) }}, err
}

// ackReport gathers the edges' replies to an EmitWithAck.
func ackReport(g gathered) *sbv1.EmitWithAckResponse {
	resp := &sbv1.EmitWithAckResponse{MissingEdges: g.missing, EdgeErrors: g.errors}
	for edge, r := range g.replies {
		br := r.GetBroadcast()
		for _, a := range br.GetAcks() {
			resp.Acks = append(resp.Acks, &sbv1.SocketAck{Sid: a.Sid, EdgeId: edge, ArgsJson: validUTF8(a.ArgsJson), Binary: a.Attachments})
		}
		resp.TimedOutSids = append(resp.TimedOutSids, br.GetTimedOutSids()...)
	}
	sort.Slice(resp.Acks, func(i, j int) bool { return resp.Acks[i].Sid < resp.Acks[j].Sid })
	sort.Strings(resp.TimedOutSids)
	return resp
}

// validUTF8 is JSON text a client sent, fit for a protobuf string: bytes
// that are not UTF-8 (which valid JSON holds only inside strings) become
// U+FFFD.
func validUTF8(b []byte) string { return strings.ToValidUTF8(string(b), "\uFFFD") }

// gathered is what a cluster call collected: each edge's reply, by edge
// id, the expected edges whose reply is not complete (missing: no reply,
// a reply whose last part did not come, or one with an error) and, of
// those, the edges that answered why (errors), both sorted by edge id.
type gathered struct {
	replies map[string]*busv1.EdgeReply
	missing []string
	errors  []*sbv1.EdgeError
}

// gather publishes f's messages with one reply inbox and collects a reply
// per edge until every expected edge answered or wait passed.
//
// A call answers before the caller's deadline with what it has (answerBy):
// edges that have not answered by then are missing, rather than the work
// of those that did lost to DeadlineExceeded.
func (s *Server) gather(ctx context.Context, f fanout, wait time.Duration) (gathered, error) {
	wait = answerBy(ctx, wait)
	if len(f.msgs) == 1 && len(f.expect) == 1 && !f.parts {
		return s.ask(ctx, f.msgs[0].subject, f.expect[0], f.msgs[0].payload, wait)
	}
	inbox := s.nc.NewRespInbox()
	// Room for every reply: a full channel drops messages (slow consumer).
	ch := make(chan *nats.Msg, f.replyRoom())
	sub, err := s.nc.ChanSubscribe(inbox, ch)
	if err != nil {
		return gathered{}, busError(err)
	}
	defer sub.Unsubscribe()
	if err := s.publishRequests(f, inbox); err != nil {
		return gathered{}, err
	}
	return s.collect(ctx, f, wait, ch)
}

// publishRequests publishes f's messages with reply subject inbox.
func (s *Server) publishRequests(f fanout, inbox string) error {
	for _, m := range f.msgs {
		if err := s.nc.PublishRequest(m.subject, inbox, m.payload); err != nil {
			return busError(err)
		}
	}
	return nil
}

// noResponders reports whether m is NATS's answer to a request that no
// subscriber took.
func noResponders(m *nats.Msg) bool {
	return len(m.Data) == 0 && m.Header.Get("Status") == "503"
}

// collect takes the replies to f's messages from ch, a reply per edge (in
// parts when f.parts), until every expected edge answered or wait passed.
func (s *Server) collect(ctx context.Context, f fanout, wait time.Duration, ch <-chan *nats.Msg) (gathered, error) {
	pending := map[string]bool{}
	for _, e := range f.expect {
		pending[e] = true
	}
	// With no edge known yet (a control that just started has seen no
	// heartbeat), take what arrives within a short grace period.
	grace := len(f.expect) == 0
	if grace {
		wait = min(wait, 250*time.Millisecond)
	}
	raw := map[string][]byte{}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for grace || len(pending) > 0 {
		select {
		case m := <-ch:
			if noResponders(m) && len(f.msgs) == 1 {
				break // nobody subscribes to the one subject: no reply will come
			}
			if id, more := replyHeader(m.Data); id != "" {
				// A reply in parts: each merges into the ones before it
				// (concatenated protobuf messages are merged), the last
				// has no more.
				raw[id] = append(raw[id], m.Data...)
				if !more {
					delete(pending, id)
				}
			}
			continue
		case <-timer.C:
		case <-ctx.Done():
			if len(raw) == 0 {
				return gathered{}, busError(ctx.Err())
			}
		case <-s.stop:
			return gathered{}, status.Error(codes.Unavailable, "control is shutting down")
		}
		break
	}
	return s.decodeReplies(raw, pending), nil
}

// decodeReplies decodes the replies gather collected (raw, by edge id;
// pending, the expected edges whose last part has not come). An edge whose
// reply has an error or does not decode is missing and in errors; what it
// did report is kept.
func (s *Server) decodeReplies(raw map[string][]byte, pending map[string]bool) gathered {
	g := gathered{replies: make(map[string]*busv1.EdgeReply, len(raw))}
	miss := map[string]bool{}
	for e := range pending {
		miss[e] = true
	}
	for id, b := range raw {
		r := new(busv1.EdgeReply)
		if err := proto.Unmarshal(b, r); err != nil {
			r.Error = &busv1.ReplyError{Code: sbv1.EdgeErrorCode_EDGE_ERROR_CODE_BAD_REPLY, Message: "reply does not decode: " + err.Error()}
		} else {
			g.replies[id] = r
		}
		if r.Error != nil {
			miss[id] = true
			g.errors = append(g.errors, &sbv1.EdgeError{EdgeId: id, Code: r.Error.Code, Message: r.Error.Message})
			if n := s.edgeErrors.Add(1); n&(n-1) == 0 {
				s.log.Warn("control: an edge answered with an error", "edge", id, "code", r.Error.Code, "err", r.Error.Message, "errors", n)
			}
		}
	}
	for e := range miss {
		g.missing = append(g.missing, e)
	}
	sort.Strings(g.missing)
	sort.Slice(g.errors, func(i, j int) bool { return g.errors[i].EdgeId < g.errors[j].EdgeId })
	return g
}

// answerBy cuts wait so that an answer sent when it ends reaches the
// caller before ctx's deadline: a twentieth of the time left (at least
// 10 ms, at most 250 ms) is kept for the answer's way back.
func answerBy(ctx context.Context, wait time.Duration) time.Duration {
	dl, ok := ctx.Deadline()
	if !ok {
		return wait
	}
	left := time.Until(dl)
	margin := min(max(left/20, 10*time.Millisecond), 250*time.Millisecond)
	return max(min(wait, left-margin), 0)
}

// ask is gather for one edge (a unicast by sid, the common case): a plain
// request on the connection's shared reply subscription, no subscription of
// its own, and an edge that is gone is known at once (no responders).
func (s *Server) ask(ctx context.Context, subject, edge string, payload []byte, wait time.Duration) (gathered, error) {
	rctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	msg, err := s.nc.RequestWithContext(rctx, subject, payload)
	missing := gathered{missing: []string{edge}}
	switch {
	case err == nil:
		if id, _ := replyHeader(msg.Data); id != "" {
			return s.decodeReplies(map[string][]byte{id: msg.Data}, nil), nil
		}
		return missing, nil
	case errors.Is(err, nats.ErrNoResponders):
		return missing, nil
	case ctx.Err() != nil:
		return gathered{}, busError(ctx.Err())
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
		return missing, nil
	}
	return gathered{}, busError(err)
}

// Fields of an EdgeReply (bus.proto): edge_id is field 1, more field 15.
const (
	replyEdgeField = 1
	replyMoreField = 15
)

// replyHeader reads a reply's edge id and more flag, without decoding the
// rest: "" if it is not a reply.
func replyHeader(b []byte) (edge string, more bool) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return "", false
		}
		b = b[n:]
		switch {
		case num == replyEdgeField && typ == protowire.BytesType:
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return "", false
			}
			edge, b = string(v), b[m:]
		case num == replyMoreField && typ == protowire.VarintType:
			v, m := protowire.ConsumeVarint(b)
			if m < 0 {
				return "", false
			}
			more, b = v != 0, b[m:]
		default:
			m := protowire.ConsumeFieldValue(num, typ, b)
			if m < 0 {
				return "", false
			}
			b = b[m:]
		}
	}
	return edge, more
}

// planSockets validates a join, leave, disconnect or set data across the
// cluster: the edges' replies are summed into the response resp makes.
func (s *Server) planSockets(t *sbv1.Target, op *busv1.SocketsOperation, resp func(*busv1.SocketsOperationReply, gathered) proto.Message) (call, error) {
	tt, err := checkMassTarget(t)
	if err != nil {
		return call{}, err
	}
	f, err := s.commandFanout(tt, func(tg *sbv1.Target) *busv1.EdgeCommand {
		o := &busv1.SocketsOperation{
			Target: tg, Action: op.Action, Rooms: op.Rooms, CloseConnection: op.CloseConnection,
			DataJson: op.DataJson, Merge: op.Merge, Increment: op.Increment,
		}
		return &busv1.EdgeCommand{Command: &busv1.EdgeCommand_Sockets{Sockets: o}}
	})
	f.parts = true // many sockets or rooms may pass NATS's max payload
	answer := func(g gathered) proto.Message {
		sum := &busv1.SocketsOperationReply{}
		datas := 0
		for _, r := range g.replies {
			sum.Sockets += r.GetSockets().GetSockets()
			sum.SocketsFull += r.GetSockets().GetSocketsFull()
			sum.DataRefused += r.GetSockets().GetDataRefused()
			if d := r.GetSockets().GetDataJson(); len(d) > 0 {
				sum.DataJson, datas = d, datas+1
			}
		}
		// One socket's data, only when it is the one the target selected
		// (set, and no other refused or possibly set by a missing edge).
		if datas != 1 || sum.Sockets != 1 || sum.DataRefused != 0 || len(g.missing) != 0 {
			sum.DataJson = nil
		}
		return resp(sum, g)
	}
	return call{f: f, reply: true, wait: s.cfg.GatherTimeout, ops: true, answer: answer}, err
}

func (s *Server) planJoin(req *sbv1.JoinRoomRequest) (call, error) {
	if err := checkRooms(req.Rooms); err != nil {
		return call{}, err
	}
	op := &busv1.SocketsOperation{Action: busv1.SocketsAction_SOCKETS_ACTION_JOIN, Rooms: req.Rooms}
	return s.planSockets(req.Target, op, func(r *busv1.SocketsOperationReply, g gathered) proto.Message {
		return &sbv1.JoinRoomResponse{Sockets: &r.Sockets, SocketsFull: &r.SocketsFull, MissingEdges: g.missing, EdgeErrors: g.errors}
	})
}

func (s *Server) planLeave(req *sbv1.LeaveRoomRequest) (call, error) {
	if err := checkRooms(req.Rooms); err != nil {
		return call{}, err
	}
	op := &busv1.SocketsOperation{Action: busv1.SocketsAction_SOCKETS_ACTION_LEAVE, Rooms: req.Rooms}
	return s.planSockets(req.Target, op, func(r *busv1.SocketsOperationReply, g gathered) proto.Message {
		return &sbv1.LeaveRoomResponse{Sockets: &r.Sockets, MissingEdges: g.missing, EdgeErrors: g.errors}
	})
}

func (s *Server) planDisconnect(req *sbv1.DisconnectRequest) (call, error) {
	op := &busv1.SocketsOperation{Action: busv1.SocketsAction_SOCKETS_ACTION_DISCONNECT, CloseConnection: req.CloseConnection}
	return s.planSockets(req.Target, op, func(r *busv1.SocketsOperationReply, g gathered) proto.Message {
		return &sbv1.DisconnectResponse{Sockets: &r.Sockets, MissingEdges: g.missing, EdgeErrors: g.errors}
	})
}

func (s *Server) planSetData(req *sbv1.SetSocketDataRequest) (call, error) {
	if err := checkIncrement(req.Increment); err != nil {
		return call{}, err
	}
	op := &busv1.SocketsOperation{Action: busv1.SocketsAction_SOCKETS_ACTION_SET_DATA, Increment: req.Increment}
	// Counters alone keep the rest of the data: no data_json goes, and
	// merge, which would need an object, means nothing.
	if len(req.Increment) == 0 || req.Data != nil || req.DataJson != "" {
		data, err := checkData(req.Data, req.DataJson, req.Merge)
		if err != nil {
			return call{}, err
		}
		op.DataJson, op.Merge = data, req.Merge
	}
	return s.planSockets(req.Target, op, func(r *busv1.SocketsOperationReply, g gathered) proto.Message {
		return &sbv1.SetSocketDataResponse{Sockets: &r.Sockets, MissingEdges: g.missing, EdgeErrors: g.errors, DataJson: string(r.DataJson)}
	})
}

// unary makes the call plan validated, for a unary RPC.
func unary[Resp proto.Message](ctx context.Context, s *Server, c call, err error) (Resp, error) {
	var zero Resp
	if err != nil {
		return zero, err
	}
	r, err := s.run(ctx, c)
	if err != nil {
		return zero, err
	}
	return r.(Resp), nil
}

// JoinRoom implements switchboard.v1.Control.
func (s *Server) JoinRoom(ctx context.Context, req *sbv1.JoinRoomRequest) (*sbv1.JoinRoomResponse, error) {
	c, err := s.planJoin(req)
	return unary[*sbv1.JoinRoomResponse](ctx, s, c, err)
}

// LeaveRoom implements switchboard.v1.Control.
func (s *Server) LeaveRoom(ctx context.Context, req *sbv1.LeaveRoomRequest) (*sbv1.LeaveRoomResponse, error) {
	c, err := s.planLeave(req)
	return unary[*sbv1.LeaveRoomResponse](ctx, s, c, err)
}

// Disconnect implements switchboard.v1.Control.
func (s *Server) Disconnect(ctx context.Context, req *sbv1.DisconnectRequest) (*sbv1.DisconnectResponse, error) {
	c, err := s.planDisconnect(req)
	return unary[*sbv1.DisconnectResponse](ctx, s, c, err)
}

// SetSocketData implements switchboard.v1.Control.
func (s *Server) SetSocketData(ctx context.Context, req *sbv1.SetSocketDataRequest) (*sbv1.SetSocketDataResponse, error) {
	c, err := s.planSetData(req)
	return unary[*sbv1.SetSocketDataResponse](ctx, s, c, err)
}

func (s *Server) query(ctx context.Context, t target, q *busv1.Query) ([]*busv1.QueryReply, gathered, error) {
	if err := s.available(); err != nil {
		return nil, gathered{}, err
	}
	// q's target, not each copy's: a query names at most one sid, so
	// every copy would be the same, and q.Target holds its filters.
	f, err := s.commandFanout(t, func(*sbv1.Target) *busv1.EdgeCommand {
		return &busv1.EdgeCommand{Command: &busv1.EdgeCommand_Query{Query: q}}
	})
	if err != nil {
		return nil, gathered{}, err
	}
	f.parts = true // many sockets or rooms may pass NATS's max payload
	g, err := s.gather(ctx, f, s.cfg.GatherTimeout)
	if err != nil {
		return nil, gathered{}, err
	}
	out := make([]*busv1.QueryReply, 0, len(g.replies))
	for _, r := range g.replies {
		if q := r.GetQuery(); q != nil {
			out = append(out, q)
		}
	}
	return out, g, nil
}

// ListSockets implements switchboard.v1.Control: each edge sends its
// first page_size matching sockets after the token's sid, in sid order, and
// control keeps the first page_size of them all. A socket of that page is
// among its own edge's first page_size, so none is left out.
func (s *Server) ListSockets(ctx context.Context, req *sbv1.ListSocketsRequest) (*sbv1.ListSocketsResponse, error) {
	q, err := checkListSockets(req)
	if err != nil {
		return nil, err
	}
	t := target{Target: q.Target, ns: q.Target.Namespace}
	if len(q.Target.Sids) == 1 {
		t = target{Target: &sbv1.Target{Namespace: q.Target.Namespace, Sids: q.Target.Sids}, ns: q.Target.Namespace}
	}
	replies, g, err := s.query(ctx, t, q)
	if err != nil {
		return nil, err
	}
	resp := &sbv1.ListSocketsResponse{MissingEdges: g.missing, EdgeErrors: g.errors}
	var total uint32
	more := false
	for _, r := range replies {
		total += r.Total
		more = more || r.Truncated
		resp.Sockets = append(resp.Sockets, r.Sockets...)
	}
	resp.Total = &total
	sort.Slice(resp.Sockets, func(i, j int) bool { return resp.Sockets[i].Sid < resp.Sockets[j].Sid })
	if n := int(q.Limit); len(resp.Sockets) > n || (more && n > 0 && len(resp.Sockets) == n) {
		resp.Sockets = resp.Sockets[:n]
		resp.NextPageToken = pageToken(socketsPage, resp.Sockets[n-1].Sid)
	}
	return resp, nil
}

// ListRooms implements switchboard.v1.Control, a page at a time as
// ListSockets.
func (s *Server) ListRooms(ctx context.Context, req *sbv1.ListRoomsRequest) (*sbv1.ListRoomsResponse, error) {
	ns, err := checkNamespace("namespace", req.Namespace)
	if err != nil {
		return nil, err
	}
	limit, err := checkPageSize(req.PageSize)
	if err != nil {
		return nil, err
	}
	after, err := checkPageToken(roomsPage, req.PageToken)
	if err != nil {
		return nil, err
	}
	t := target{Target: &sbv1.Target{Namespace: ns}, ns: ns}
	// The edge reads the namespace from q.Target, not from the fan-out's.
	q := &busv1.Query{Kind: busv1.QueryKind_QUERY_KIND_ROOMS, Target: &sbv1.Target{Namespace: ns}, After: after, Limit: limit}
	replies, g, err := s.query(ctx, t, q)
	if err != nil {
		return nil, err
	}
	counts := map[string]uint32{}
	more := false
	for _, r := range replies {
		more = more || r.Truncated
		for _, room := range r.Rooms {
			counts[room.Name] += room.GetSockets()
		}
	}
	resp := &sbv1.ListRoomsResponse{MissingEdges: g.missing, EdgeErrors: g.errors}
	for name, n := range counts {
		resp.Rooms = append(resp.Rooms, &sbv1.Room{Name: name, Sockets: proto.Uint32(n)})
	}
	sort.Slice(resp.Rooms, func(i, j int) bool { return resp.Rooms[i].Name < resp.Rooms[j].Name })
	if n := int(limit); len(resp.Rooms) > n || (more && len(resp.Rooms) == n) {
		resp.Rooms = resp.Rooms[:n]
		resp.NextPageToken = pageToken(roomsPage, resp.Rooms[n-1].Name)
	}
	return resp, nil
}

// ClusterInfo implements switchboard.v1.Control.
func (s *Server) ClusterInfo(ctx context.Context, req *sbv1.ClusterInfoRequest) (*sbv1.ClusterInfoResponse, error) {
	st := s.Stats()
	resp := &sbv1.ClusterInfoResponse{ControlVersion: Version, ControlCounters: &sbv1.ControlCounters{
		SlowStreams:         proto.Uint64(st.SlowStreams),
		StreamEventsDropped: proto.Uint64(st.StreamEventsDropped),
		BusErrors:           proto.Uint64(st.BusErrors),
		BusReconnects:       proto.Uint64(st.BusReconnects),
		EdgeErrors:          proto.Uint64(st.EdgeErrors),
	}}
	for _, e := range s.reg.live() {
		hb := e.hb
		resp.Edges = append(resp.Edges, &sbv1.Edge{
			Id:            hb.EdgeId,
			Address:       hb.Address,
			Version:       hb.Version,
			StartedAt:     hb.StartedAt,
			LastHeartbeat: timestamppb.New(e.seen), // received, not sent: the edge's clock may differ
			Connections:   proto.Uint32(hb.Connections),
			Sockets:       proto.Uint32(hb.Sockets),
			Counters:      hb.Counters,
		})
	}
	return resp, nil
}

// Ack implements switchboard.v1.Control.
func (s *Server) Ack(ctx context.Context, req *sbv1.AckRequest) (*sbv1.AckResponse, error) {
	payload, err := s.planAck(req)
	if err != nil {
		return nil, err
	}
	if err := s.available(); err != nil {
		return nil, err
	}
	rctx, cancel := context.WithTimeout(ctx, s.cfg.GatherTimeout)
	defer cancel()
	msg, err := s.nc.RequestWithContext(rctx, req.AckToken, payload)
	if errors.Is(err, nats.ErrNoResponders) {
		return nil, errNoAckWaiter
	}
	if err != nil {
		return nil, busError(err)
	}
	return s.ackAnswer(msg.Data)
}

// errNoAckWaiter is Ack's NOT_FOUND when no edge subscribes to the token.
var errNoAckWaiter = status.Error(codes.NotFound, "no edge waits for this ack: its socket is gone or it was answered")

// planAck validates an Ack and encodes what goes to the edge.
func (s *Server) planAck(req *sbv1.AckRequest) ([]byte, error) {
	if err := s.checkAckToken(req.AckToken); err != nil {
		return nil, err
	}
	args, err := argsJSON(req.Args, req.ArgsJson, req.Binary)
	if err != nil {
		return nil, err
	}
	if err := s.checkSize(args, req.Binary); err != nil {
		return nil, err
	}
	b, err := proto.Marshal(&busv1.EventAck{ArgsJson: args, Attachments: req.Binary})
	if err != nil {
		return nil, status.Errorf(codes.Internal, "encode: %v", err)
	}
	return b, nil
}

// ackAnswer turns the edge's EventAckReply into Ack's answer.
func (s *Server) ackAnswer(data []byte) (*sbv1.AckResponse, error) {
	var reply busv1.EventAckReply
	if err := proto.Unmarshal(data, &reply); err != nil {
		s.edgeErrors.Add(1)
		return nil, status.Errorf(codes.Unavailable, "the edge's answer does not decode: %v", err)
	}
	switch {
	case reply.Error != nil:
		s.edgeErrors.Add(1)
		return nil, status.Errorf(codes.Unavailable, "the edge did not take the ack (%s): %s", reply.Error.Code, reply.Error.Message)
	case !reply.Delivered:
		return nil, status.Error(codes.NotFound, "the event was already answered or its socket is gone")
	}
	return &sbv1.AckResponse{}, nil
}
