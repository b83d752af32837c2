package control

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
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

// sidEdges returns the distinct edges t's sids name, in order.
func sidEdges(t target) []string { return bus.SIDEdges(t.Target) }

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
	edges := sidEdges(t)
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

// Emit implements switchboard.v1.Control.
func (s *Server) Emit(ctx context.Context, req *sbv1.EmitRequest) (*sbv1.EmitResponse, error) {
	t, err := checkTarget(req.Target)
	if err != nil {
		return nil, err
	}
	text, err := s.encodeEvent(t, req.Event, req.Args, req.ArgsJson, req.Binary)
	if err != nil {
		return nil, err
	}
	if err := s.available(); err != nil {
		return nil, err
	}
	id := engineio.RandomID()
	build := func(tg *sbv1.Target) *busv1.EdgeCommand {
		return &busv1.EdgeCommand{Command: &busv1.EdgeCommand_Broadcast{Broadcast: &busv1.Broadcast{
			Id:          id,
			Target:      tg,
			Packet:      text,
			Attachments: req.Binary,
			Volatile:    req.Volatile,
		}}}
	}
	resp := &sbv1.EmitResponse{Edges: uint32(len(sidEdges(t)))}
	if !t.sidsOnly() {
		f, err := s.broadcastFanout(t, build)
		if err != nil {
			return nil, err
		}
		for _, m := range f.msgs {
			if err := s.nc.Publish(m.subject, m.payload); err != nil {
				return nil, busError(err)
			}
		}
		resp.Subjects = uint32(len(f.msgs))
		return resp, nil
	}
	// Unicast or multicast by sid: each edge confirms its deliveries.
	f, err := s.commandFanout(t, build)
	if err != nil {
		return nil, err
	}
	resp.Subjects = uint32(len(f.msgs))
	g, err := s.gather(ctx, f, s.cfg.GatherTimeout)
	if err != nil {
		return nil, err
	}
	var n uint32
	for _, r := range g.replies {
		n += r.GetBroadcast().GetSockets()
	}
	resp.Sockets, resp.MissingEdges, resp.EdgeErrors = &n, g.missing, g.errors
	return resp, nil
}

// EmitWithAck implements switchboard.v1.Control.
func (s *Server) EmitWithAck(ctx context.Context, req *sbv1.EmitWithAckRequest) (*sbv1.EmitWithAckResponse, error) {
	t, err := checkTarget(req.Target)
	if err != nil {
		return nil, err
	}
	text, err := s.encodeEvent(t, req.Event, req.Args, req.ArgsJson, req.Binary)
	if err != nil {
		return nil, err
	}
	timeout, err := checkAckTimeout(req.Timeout)
	if err != nil {
		return nil, err
	}
	// The edges' ack waits end early enough that their replies reach
	// control, and control's answer the caller, before its deadline.
	if dl, ok := ctx.Deadline(); ok && time.Until(dl)*8/10 < timeout {
		timeout = max(time.Until(dl)*8/10, time.Millisecond)
	}
	if err := s.available(); err != nil {
		return nil, err
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
	if err != nil {
		return nil, err
	}
	f.parts = true // the acks of many sockets may pass NATS's max payload
	g, err := s.gather(ctx, f, timeout+s.cfg.GatherTimeout)
	if err != nil {
		return nil, err
	}
	resp := &sbv1.EmitWithAckResponse{MissingEdges: g.missing, EdgeErrors: g.errors}
	for edge, r := range g.replies {
		br := r.GetBroadcast()
		for _, a := range br.GetAcks() {
			args, err := jsonToValues(a.ArgsJson)
			if err != nil {
				args = nil
			}
			resp.Acks = append(resp.Acks, &sbv1.SocketAck{Sid: a.Sid, EdgeId: edge, Args: args, Binary: a.Attachments})
		}
		resp.TimedOutSids = append(resp.TimedOutSids, br.GetTimedOutSids()...)
	}
	sort.Slice(resp.Acks, func(i, j int) bool { return resp.Acks[i].Sid < resp.Acks[j].Sid })
	sort.Strings(resp.TimedOutSids)
	return resp, nil
}

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
	ch := make(chan *nats.Msg, max(64, 2*f.replies))
	sub, err := s.nc.ChanSubscribe(inbox, ch)
	if err != nil {
		return gathered{}, busError(err)
	}
	defer sub.Unsubscribe()
	for _, m := range f.msgs {
		if err := s.nc.PublishRequest(m.subject, inbox, m.payload); err != nil {
			return gathered{}, busError(err)
		}
	}
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

func jsonToValues(b []byte) ([]*structpb.Value, error) {
	if len(b) == 0 {
		return nil, nil
	}
	var vals []any
	if err := json.Unmarshal(b, &vals); err != nil {
		return nil, err
	}
	out := make([]*structpb.Value, len(vals))
	for i, v := range vals {
		pv, err := structpb.NewValue(v)
		if err != nil {
			return nil, err
		}
		out[i] = pv
	}
	return out, nil
}

// socketsOp runs a join, leave, disconnect or set data across the cluster;
// it sums the edges' replies.
func (s *Server) socketsOp(ctx context.Context, t *sbv1.Target, op *busv1.SocketsOperation) (*busv1.SocketsOperationReply, gathered, error) {
	tt, err := checkTarget(t)
	if err != nil {
		return nil, gathered{}, err
	}
	if err := s.available(); err != nil {
		return nil, gathered{}, err
	}
	f, err := s.commandFanout(tt, func(tg *sbv1.Target) *busv1.EdgeCommand {
		o := &busv1.SocketsOperation{
			Target: tg, Action: op.Action, Rooms: op.Rooms, CloseConnection: op.CloseConnection,
			DataJson: op.DataJson, Merge: op.Merge,
		}
		return &busv1.EdgeCommand{Command: &busv1.EdgeCommand_Sockets{Sockets: o}}
	})
	if err != nil {
		return nil, gathered{}, err
	}
	f.parts = true // many sockets or rooms may pass NATS's max payload
	g, err := s.gather(ctx, f, s.cfg.GatherTimeout)
	if err != nil {
		return nil, gathered{}, err
	}
	sum := &busv1.SocketsOperationReply{}
	for _, r := range g.replies {
		sum.Sockets += r.GetSockets().GetSockets()
		sum.SocketsFull += r.GetSockets().GetSocketsFull()
	}
	return sum, g, nil
}

// JoinRoom implements switchboard.v1.Control.
func (s *Server) JoinRoom(ctx context.Context, req *sbv1.JoinRoomRequest) (*sbv1.JoinRoomResponse, error) {
	if err := checkRooms(req.Rooms); err != nil {
		return nil, err
	}
	r, g, err := s.socketsOp(ctx, req.Target, &busv1.SocketsOperation{Action: busv1.SocketsAction_SOCKETS_ACTION_JOIN, Rooms: req.Rooms})
	if err != nil {
		return nil, err
	}
	return &sbv1.JoinRoomResponse{Sockets: r.Sockets, SocketsFull: r.SocketsFull, MissingEdges: g.missing, EdgeErrors: g.errors}, nil
}

// LeaveRoom implements switchboard.v1.Control.
func (s *Server) LeaveRoom(ctx context.Context, req *sbv1.LeaveRoomRequest) (*sbv1.LeaveRoomResponse, error) {
	if err := checkRooms(req.Rooms); err != nil {
		return nil, err
	}
	r, g, err := s.socketsOp(ctx, req.Target, &busv1.SocketsOperation{Action: busv1.SocketsAction_SOCKETS_ACTION_LEAVE, Rooms: req.Rooms})
	if err != nil {
		return nil, err
	}
	return &sbv1.LeaveRoomResponse{Sockets: r.Sockets, MissingEdges: g.missing, EdgeErrors: g.errors}, nil
}

// Disconnect implements switchboard.v1.Control.
func (s *Server) Disconnect(ctx context.Context, req *sbv1.DisconnectRequest) (*sbv1.DisconnectResponse, error) {
	r, g, err := s.socketsOp(ctx, req.Target, &busv1.SocketsOperation{Action: busv1.SocketsAction_SOCKETS_ACTION_DISCONNECT, CloseConnection: req.CloseConnection})
	if err != nil {
		return nil, err
	}
	return &sbv1.DisconnectResponse{Sockets: r.Sockets, MissingEdges: g.missing, EdgeErrors: g.errors}, nil
}

// SetSocketData implements switchboard.v1.Control.
func (s *Server) SetSocketData(ctx context.Context, req *sbv1.SetSocketDataRequest) (*sbv1.SetSocketDataResponse, error) {
	data, err := checkData(req.Data, req.Merge)
	if err != nil {
		return nil, err
	}
	r, g, err := s.socketsOp(ctx, req.Target, &busv1.SocketsOperation{Action: busv1.SocketsAction_SOCKETS_ACTION_SET_DATA, DataJson: data, Merge: req.Merge})
	if err != nil {
		return nil, err
	}
	return &sbv1.SetSocketDataResponse{Sockets: r.Sockets, MissingEdges: g.missing, EdgeErrors: g.errors}, nil
}

func (s *Server) query(ctx context.Context, t target, kind busv1.QueryKind) ([]*busv1.QueryReply, gathered, error) {
	if err := s.available(); err != nil {
		return nil, gathered{}, err
	}
	f, err := s.commandFanout(t, func(tg *sbv1.Target) *busv1.EdgeCommand {
		return &busv1.EdgeCommand{Command: &busv1.EdgeCommand_Query{Query: &busv1.Query{Kind: kind, Target: tg}}}
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

// ListSockets implements switchboard.v1.Control.
func (s *Server) ListSockets(ctx context.Context, req *sbv1.ListSocketsRequest) (*sbv1.ListSocketsResponse, error) {
	t, err := checkTarget(req.Target)
	if err != nil {
		return nil, err
	}
	replies, g, err := s.query(ctx, t, busv1.QueryKind_QUERY_KIND_SOCKETS)
	if err != nil {
		return nil, err
	}
	resp := &sbv1.ListSocketsResponse{MissingEdges: g.missing, EdgeErrors: g.errors}
	for _, r := range replies {
		resp.Sockets = append(resp.Sockets, r.Sockets...)
	}
	sort.Slice(resp.Sockets, func(i, j int) bool { return resp.Sockets[i].Sid < resp.Sockets[j].Sid })
	return resp, nil
}

// ListRooms implements switchboard.v1.Control.
func (s *Server) ListRooms(ctx context.Context, req *sbv1.ListRoomsRequest) (*sbv1.ListRoomsResponse, error) {
	ns, err := checkNamespace("namespace", req.Namespace)
	if err != nil {
		return nil, err
	}
	t := target{Target: &sbv1.Target{Namespace: ns}, ns: ns}
	replies, g, err := s.query(ctx, t, busv1.QueryKind_QUERY_KIND_ROOMS)
	if err != nil {
		return nil, err
	}
	counts := map[string]uint32{}
	for _, r := range replies {
		for _, room := range r.Rooms {
			counts[room.Name] += room.Sockets
		}
	}
	resp := &sbv1.ListRoomsResponse{MissingEdges: g.missing, EdgeErrors: g.errors}
	for name, n := range counts {
		resp.Rooms = append(resp.Rooms, &sbv1.Room{Name: name, Sockets: n})
	}
	sort.Slice(resp.Rooms, func(i, j int) bool { return resp.Rooms[i].Name < resp.Rooms[j].Name })
	return resp, nil
}

// ClusterInfo implements switchboard.v1.Control.
func (s *Server) ClusterInfo(ctx context.Context, req *sbv1.ClusterInfoRequest) (*sbv1.ClusterInfoResponse, error) {
	st := s.Stats()
	resp := &sbv1.ClusterInfoResponse{ControlVersion: Version, ControlCounters: &sbv1.ControlCounters{
		SlowStreams:         st.SlowStreams,
		StreamEventsDropped: st.StreamEventsDropped,
		BusErrors:           st.BusErrors,
		BusReconnects:       st.BusReconnects,
		EdgeErrors:          st.EdgeErrors,
	}}
	for _, e := range s.reg.live() {
		hb := e.hb
		resp.Edges = append(resp.Edges, &sbv1.Edge{
			Id:            hb.EdgeId,
			Address:       hb.Address,
			Version:       hb.Version,
			StartedAt:     hb.StartedAt,
			LastHeartbeat: timestamppb.New(e.seen), // received, not sent: the edge's clock may differ
			Connections:   hb.Connections,
			Sockets:       hb.Sockets,
			Counters:      hb.Counters,
		})
	}
	return resp, nil
}

// Ack implements switchboard.v1.Control.
func (s *Server) Ack(ctx context.Context, req *sbv1.AckRequest) (*sbv1.AckResponse, error) {
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
	if err := s.available(); err != nil {
		return nil, err
	}
	rctx, cancel := context.WithTimeout(ctx, s.cfg.GatherTimeout)
	defer cancel()
	var reply busv1.EventAckReply
	err = bus.Request(rctx, s.nc, req.AckToken, &busv1.EventAck{ArgsJson: args, Attachments: req.Binary}, &reply)
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return nil, status.Error(codes.NotFound, "no edge waits for this ack: its socket is gone or it was answered")
	case err != nil:
		return nil, busError(err)
	case reply.Error != nil:
		s.edgeErrors.Add(1)
		return nil, status.Errorf(codes.Unavailable, "the edge did not take the ack (%s): %s", reply.Error.Code, reply.Error.Message)
	case !reply.Delivered:
		return nil, status.Error(codes.NotFound, "the event was already answered or its socket is gone")
	}
	return &sbv1.AckResponse{}, nil
}
