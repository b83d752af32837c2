package control

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"

	busv1 "github.com/switchboard-rt/switchboard/gen/switchboard/bus/v1"
	sbv1 "github.com/switchboard-rt/switchboard/gen/switchboard/v1"
	"github.com/switchboard-rt/switchboard/pkg/bus"
	"github.com/switchboard-rt/switchboard/pkg/socketio"
)

// Limits on what one request may ask for (docs/api.md, "Limits"). Each is
// far above what a legitimate caller asks for and keeps the work one call
// makes for control, NATS and every edge bounded. A request over one is
// refused with InvalidArgument naming the field and the limit.
const (
	// maxNameLen bounds a namespace, room, user or event name, in bytes
	// (Centrifugo's channel names: 255).
	maxNameLen = 256
	// maxSIDLen bounds a sid: edges issue 20-byte sids.
	maxSIDLen = 64
	// maxTargetNames bounds each list of a Target: rooms, except_rooms,
	// sids, users.
	maxTargetNames = 1000
	// maxRoomsPerCall bounds JoinRoom's and LeaveRoom's rooms.
	maxRoomsPerCall = 1000
	// maxBinaryParts bounds the binary attachments of an emit or an ack,
	// as edges bound a client's packet.
	maxBinaryParts = socketio.MaxAttachments
	// maxAckTimeout bounds EmitWithAck's timeout.
	maxAckTimeout = 10 * time.Minute
	// maxAckTokenLen bounds Ack's ack_token, in bytes (edges issue
	// tokens of the subject prefix plus about 30 bytes).
	maxAckTokenLen = 256
	// maxSubscribeFilters bounds each of Subscribe's namespaces and events.
	maxSubscribeFilters = 64
	// maxSubscriptions bounds the NATS subscriptions one Subscribe stream
	// makes: namespaces × events.
	maxSubscriptions = 256
	// maxQueueGroupLen bounds Subscribe's queue_group, in bytes.
	maxQueueGroupLen = 256
	// maxDataBytes bounds SetSocketData's data as JSON: it travels in each
	// of the sockets' client events and lifecycle events.
	maxDataBytes = 64 << 10
)

func invalid(format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, format, args...)
}

// checkName checks a name a caller chose: its length first, so that no
// error message quotes a huge value, then that it is not empty.
func checkName(field, name string) error {
	if len(name) > maxNameLen {
		return invalid("%s: %d bytes, at most %d", field, len(name), maxNameLen)
	}
	if name == "" {
		return invalid("%s is empty", field)
	}
	if !utf8.ValidString(name) {
		return invalid("%s is not valid UTF-8", field)
	}
	return nil
}

// checkNamespace checks a namespace name; "" means "/".
func checkNamespace(field, ns string) (string, error) {
	if ns == "" {
		ns = "/"
	}
	if err := checkName(field, ns); err != nil {
		return "", err
	}
	if !strings.HasPrefix(ns, "/") {
		return "", invalid("%s %q must start with \"/\" (like \"/\" or \"/chat\")", field, ns)
	}
	if strings.ContainsAny(ns, ",") {
		return "", invalid("%s %q: must be valid UTF-8 without commas", field, ns)
	}
	return ns, nil
}

// target is a validated Target with its namespace resolved.
type target struct {
	*sbv1.Target
	ns string
}

// sidsOnly reports whether the target names sockets by sid alone, so that
// it reaches only the edges those sids name.
func (t target) sidsOnly() bool {
	return len(t.Sids) > 0 && len(t.Rooms) == 0 && len(t.Users) == 0
}

// names reports whether the target names rooms, sids or users, rather than
// the whole namespace.
func (t target) names() bool {
	return len(t.Sids) > 0 || len(t.Rooms) > 0 || len(t.Users) > 0
}

// checkMassTarget is checkTarget for the RPCs that change what they select
// (JoinRoom, LeaveRoom, Disconnect, SetSocketData): a target that names no
// rooms, sids or users must say all, so that `Disconnect {}` does not
// disconnect a whole namespace by mistake.
func checkMassTarget(t *sbv1.Target) (target, error) {
	tt, err := checkTarget(t)
	if err == nil && !tt.names() && !t.GetAll() {
		return target{}, invalid("target selects no rooms, sids or users: set target.all to select every socket of %s", tt.ns)
	}
	return tt, err
}

// checkTarget validates a Target: a namespace that starts with "/", lists
// within maxTargetNames, names within maxNameLen (sids within maxSIDLen
// and issued by an edge).
func checkTarget(t *sbv1.Target) (target, error) {
	if t == nil {
		t = &sbv1.Target{}
	}
	ns, err := checkNamespace("target.namespace", t.GetNamespace())
	if err != nil {
		return target{}, err
	}
	lists := []struct {
		field, unit string
		names       []string
		maxLen      int
	}{
		{"rooms", "rooms", t.Rooms, maxNameLen},
		{"except_rooms", "rooms", t.ExceptRooms, maxNameLen},
		{"sids", "sids", t.Sids, maxSIDLen},
		{"users", "users", t.Users, maxNameLen},
	}
	for _, l := range lists {
		if len(l.names) > maxTargetNames {
			return target{}, invalid("target.%s: %d %s, at most %d", l.field, len(l.names), l.unit, maxTargetNames)
		}
		for i, n := range l.names {
			switch {
			case len(n) > l.maxLen:
				return target{}, invalid("target.%s[%d]: %d bytes, at most %d", l.field, i, len(n), l.maxLen)
			case n == "":
				return target{}, invalid("target.%s[%d] is empty", l.field, i)
			case !utf8.ValidString(n):
				return target{}, invalid("target.%s[%d] is not valid UTF-8", l.field, i)
			}
		}
	}
	for i, sid := range t.Sids {
		if bus.EdgeOfSID(sid) == "" {
			return target{}, invalid("target.sids[%d] %q was not issued by a Switchboard edge", i, sid)
		}
	}
	if t.All && (len(t.Rooms) > 0 || len(t.Sids) > 0 || len(t.Users) > 0) {
		return target{}, invalid("target.all selects every socket: it cannot be combined with rooms, sids or users (except_rooms may be)")
	}
	c := &sbv1.Target{Namespace: ns, Rooms: t.Rooms, ExceptRooms: t.ExceptRooms, Sids: t.Sids, Users: t.Users}
	return target{Target: c, ns: ns}, nil
}

// checkAckToken checks that token is an ack reply subject an edge of this
// deployment issued: the ack prefix, an edge id, 128 random bits (bus.NewAckID).
func (s *Server) checkAckToken(token string) error {
	if len(token) > maxAckTokenLen {
		return invalid("ack_token: %d bytes, at most %d", len(token), maxAckTokenLen)
	}
	edge, ok := s.subj.IsAck(token)
	if ok {
		n := token[len(s.subj.AckPrefix())+len(edge)+1:]
		ok = bus.IsEdgeID(edge) && bus.IsAckID(n)
	}
	if !ok {
		return invalid("ack_token %q is not an ack token of this deployment", token)
	}
	return nil
}

// argsJSON turns an RPC's args (or args_json text) into a JSON array and
// checks that placeholders name existing binary parts.
func argsJSON(args []*structpb.Value, raw string, binary [][]byte) ([]byte, error) {
	if len(binary) > maxBinaryParts {
		return nil, invalid("binary: %d parts, at most %d", len(binary), maxBinaryParts)
	}
	if len(args) > 0 && len(raw) > 0 {
		return nil, invalid("args and args_json are mutually exclusive")
	}
	var out []byte
	if len(raw) > 0 {
		out = []byte(strings.TrimSpace(raw)) // one copy, checked and sent
		if len(out) == 0 || out[0] != '[' || !json.Valid(out) {
			return nil, invalid("args_json must be a JSON array, as text (\"[\\\"hi\\\"]\" in grpcurl)")
		}
	} else {
		vals := make([]any, len(args))
		for i, a := range args {
			vals[i] = a.AsInterface()
		}
		b, err := json.Marshal(vals)
		if err != nil {
			return nil, invalid("args: %v", err)
		}
		out = b
	}
	if err := checkPlaceholders(out, len(binary)); err != nil {
		return nil, err
	}
	return out, nil
}

// checkPlaceholders verifies {"_placeholder":true,"num":N} objects against
// the number of binary parts, both ways: every part is referenced. Without
// binary parts, arguments that do not mention "_placeholder" are not
// decoded: they cannot hold one (and a client reads placeholders only in a
// binary event).
func checkPlaceholders(data []byte, n int) error {
	if n == 0 && !bytes.Contains(data, []byte("_placeholder")) {
		return nil
	}
	used, err := socketio.Placeholders(data, n)
	var pe *socketio.PlaceholderError
	switch {
	case errors.As(err, &pe):
		return invalid("args: placeholder %v does not name one of the %d binary parts", pe.Num, pe.Attachments)
	case err != nil:
		return invalid("args: %v", err)
	}
	for i, u := range used {
		if !u {
			return invalid("binary[%d] is not referenced by a {\"_placeholder\":true,\"num\":%d} argument", i, i)
		}
	}
	return nil
}

// checkSize refuses a packet (text plus binary parts) over MaxPayload.
func (s *Server) checkSize(text []byte, binary [][]byte) error {
	size := len(text)
	for _, b := range binary {
		size += len(b)
	}
	if size > s.cfg.MaxPayload {
		return invalid("payload of %d bytes exceeds the %d-byte limit", size, s.cfg.MaxPayload)
	}
	return nil
}

// encodeEvent validates an event and encodes its Socket.IO packet once.
func (s *Server) encodeEvent(t target, event string, args []*structpb.Value, raw string, binary [][]byte) ([]byte, error) {
	if err := checkName("event", event); err != nil {
		return nil, err
	}
	if socketio.IsReservedEvent(event) {
		return nil, invalid("event %q is reserved by Socket.IO", event)
	}
	a, err := argsJSON(args, raw, binary)
	if err != nil {
		return nil, err
	}
	data, err := socketio.JoinEvent(event, a)
	if err != nil {
		return nil, invalid("args: %v", err)
	}
	typ := socketio.PacketEvent
	if len(binary) > 0 {
		typ = socketio.PacketBinaryEvent
	}
	p := &socketio.Packet{Type: typ, Namespace: t.ns, Data: data, Attachments: binary}
	text := p.AppendText(nil)
	if err := s.checkSize(text, binary); err != nil {
		return nil, err
	}
	return text, nil
}

// checkAckTimeout resolves EmitWithAck's timeout: unset means
// defaultAckTimeout; a set one is more than 0 and at most maxAckTimeout.
func checkAckTimeout(d *durationpb.Duration) (time.Duration, error) {
	if d == nil {
		return defaultAckTimeout, nil
	}
	if err := d.CheckValid(); err != nil {
		return 0, invalid("timeout: %v", err)
	}
	timeout := d.AsDuration()
	if timeout <= 0 || timeout > maxAckTimeout {
		return 0, invalid("timeout must be more than 0 and at most %v: got %v", maxAckTimeout, timeout)
	}
	return timeout, nil
}

// checkData turns SetSocketData's data or data_json into JSON (both unset
// is null) within maxDataBytes; with merge it must be an object.
func checkData(v *structpb.Value, raw string, merge bool) ([]byte, error) {
	if v != nil && raw != "" {
		return nil, invalid("data and data_json are mutually exclusive")
	}
	field := "data"
	var b []byte
	if raw != "" {
		field = "data_json"
		if len(raw) > maxDataBytes {
			return nil, invalid("data_json: at most %d bytes, got %d", maxDataBytes, len(raw))
		}
		b = []byte(strings.TrimSpace(raw))
		if !json.Valid(b) {
			return nil, invalid("data_json is not JSON text")
		}
		if merge && b[0] != '{' {
			return nil, invalid("data_json: must be an object when merge is set")
		}
	} else {
		if merge && v.GetStructValue() == nil {
			return nil, invalid("data: must be an object when merge is set")
		}
		var err error
		if b, err = json.Marshal(v.AsInterface()); err != nil {
			return nil, invalid("data: %v", err)
		}
	}
	if len(b) > maxDataBytes {
		return nil, invalid("%s: at most %d bytes as JSON, got %d", field, maxDataBytes, len(b))
	}
	return b, nil
}

// maxIncrementMembers bounds SetSocketData's increment.
const maxIncrementMembers = 64

// checkIncrement checks SetSocketData's increment: at most
// maxIncrementMembers members, each name 1 to maxNameLen bytes.
func checkIncrement(incr map[string]int64) error {
	if len(incr) > maxIncrementMembers {
		return invalid("increment: at most %d members, got %d", maxIncrementMembers, len(incr))
	}
	for k := range incr {
		if err := checkName("increment key", k); err != nil {
			return err
		}
	}
	return nil
}

// Pages of ListSockets and ListRooms.
const (
	defaultPageSize = 100
	maxPageSize     = 1000
	// maxPageTokenLen bounds a page token: a room name's base64 and a prefix.
	maxPageTokenLen = 512
)

// Kinds of page token: the first bytes of its decoded form.
const (
	socketsPage = "s:"
	roomsPage   = "r:"
)

// pageToken is the opaque token of the page after key.
func pageToken(kind, key string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(kind + key))
}

// checkPageToken returns the key a page token resumes after ("" for none).
func checkPageToken(kind, token string) (string, error) {
	if token == "" {
		return "", nil
	}
	if len(token) > maxPageTokenLen {
		return "", invalid("page_token: %d bytes, at most %d", len(token), maxPageTokenLen)
	}
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || !strings.HasPrefix(string(b), kind) || !utf8.Valid(b) {
		return "", invalid("page_token is not a next_page_token of this RPC")
	}
	return string(b[len(kind):]), nil
}

// checkPageSize resolves a page size: 0 is defaultPageSize.
func checkPageSize(n uint32) (uint32, error) {
	if n == 0 {
		return defaultPageSize, nil
	}
	if n > maxPageSize {
		return 0, invalid("page_size: %d, at most %d", n, maxPageSize)
	}
	return n, nil
}

// checkListSockets turns a ListSocketsRequest into the query edges answer.
func checkListSockets(req *sbv1.ListSocketsRequest) (*busv1.Query, error) {
	q := &busv1.Query{Kind: busv1.QueryKind_QUERY_KIND_SOCKETS, Target: &sbv1.Target{}}
	if req.Namespace == "" {
		q.AnyNamespace = true
	} else {
		ns, err := checkNamespace("namespace", req.Namespace)
		if err != nil {
			return nil, err
		}
		q.Target.Namespace = ns
	}
	if req.Room != "" {
		if err := checkName("room", req.Room); err != nil {
			return nil, err
		}
		q.Target.Rooms = []string{req.Room}
	}
	if req.User != "" {
		if err := checkName("user", req.User); err != nil {
			return nil, err
		}
		q.Target.Users = []string{req.User}
	}
	if req.Sid != "" {
		if len(req.Sid) > maxSIDLen {
			return nil, invalid("sid: %d bytes, at most %d", len(req.Sid), maxSIDLen)
		}
		if bus.EdgeOfSID(req.Sid) == "" {
			return nil, invalid("sid %q was not issued by a Switchboard edge", req.Sid)
		}
		q.Target.Sids = []string{req.Sid}
	}
	limit, err := checkPageSize(req.PageSize)
	if err != nil {
		return nil, err
	}
	if q.After, err = checkPageToken(socketsPage, req.PageToken); err != nil {
		return nil, err
	}
	if !req.CountOnly {
		q.Limit = limit
	}
	return q, nil
}

// checkRooms checks JoinRoom's and LeaveRoom's rooms.
func checkRooms(rooms []string) error {
	if len(rooms) == 0 {
		return invalid("rooms is empty")
	}
	if len(rooms) > maxRoomsPerCall {
		return invalid("rooms: %d rooms, at most %d", len(rooms), maxRoomsPerCall)
	}
	for i, r := range rooms {
		if len(r) > maxNameLen {
			return invalid("rooms[%d]: %d bytes, at most %d", i, len(r), maxNameLen)
		}
		if r == "" || !utf8.ValidString(r) {
			return invalid("rooms[%d] must be a non-empty UTF-8 string", i)
		}
	}
	return nil
}

// checkSubscribe checks a SubscribeRequest's filters, counts and queue
// group, and returns the kinds it asks for (all when it names none).
func checkSubscribe(req *sbv1.SubscribeRequest) ([]sbv1.EventKind, error) {
	if n := len(req.Namespaces); n > maxSubscribeFilters {
		return nil, invalid("namespaces: %d filters, at most %d", n, maxSubscribeFilters)
	}
	if n := len(req.Events); n > maxSubscribeFilters {
		return nil, invalid("events: %d filters, at most %d", n, maxSubscribeFilters)
	}
	if n := max(1, len(req.Namespaces)) * max(1, len(req.Events)); n > maxSubscriptions {
		return nil, invalid("namespaces × events: %d subscriptions, at most %d", n, maxSubscriptions)
	}
	for i, ns := range req.Namespaces {
		if len(ns) > maxNameLen {
			return nil, invalid("namespaces[%d]: %d bytes, at most %d", i, len(ns), maxNameLen)
		}
		if ns == "" || ns[0] != '/' {
			return nil, invalid("namespaces[%d] %q must start with \"/\"", i, ns)
		}
	}
	for i, ev := range req.Events {
		if len(ev) > maxNameLen {
			return nil, invalid("events[%d]: %d bytes, at most %d", i, len(ev), maxNameLen)
		}
		if ev == "" {
			return nil, invalid("events[%d] is empty", i)
		}
	}
	if q := req.QueueGroup; len(q) > maxQueueGroupLen {
		return nil, invalid("queue_group: %d bytes, at most %d", len(q), maxQueueGroupLen)
	} else if strings.ContainsFunc(q, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
		return nil, invalid("queue_group %q: must not contain spaces or control characters", q)
	}
	kinds := req.Kinds
	if len(kinds) == 0 {
		kinds = []sbv1.EventKind{
			sbv1.EventKind_EVENT_KIND_CLIENT_EVENT, sbv1.EventKind_EVENT_KIND_CONNECT,
			sbv1.EventKind_EVENT_KIND_DISCONNECT, sbv1.EventKind_EVENT_KIND_EDGE_LOST,
		}
	}
	for i, k := range kinds {
		if k == sbv1.EventKind_EVENT_KIND_UNSPECIFIED {
			return nil, invalid("kinds: EVENT_KIND_UNSPECIFIED is not a kind")
		}
		if _, ok := sbv1.EventKind_name[int32(k)]; !ok {
			return nil, invalid("kinds[%d]: %d is not an EventKind", i, k)
		}
	}
	return kinds, nil
}

// ---- requests that do not decode ----
//
// grpc-go answers Internal for every request its codec cannot decode (a
// string that is not UTF-8, messages nested past protobuf's recursion
// limit, bytes that are not protobuf), before any interceptor or handler
// runs. Those are the caller's mistakes: requestCodec decodes them into an
// empty request marked with the error, and the interceptors answer
// InvalidArgument for a marked request before any handler sees it.

// decodeOptions are the gRPC server options that make a request that does
// not decode an InvalidArgument error: a codec and interceptors that go
// together (the interceptors are chained after any given before).
func decodeOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ForceServerCodecV2(requestCodec{encoding.GetCodecV2("proto")}),
		grpc.ChainUnaryInterceptor(malformedUnary),
		grpc.ChainStreamInterceptor(malformedStream),
	}
}

// requestCodec is gRPC's proto codec, except that a message that does not
// decode is reset and marked with the error (malformedField) instead of
// failing.
type requestCodec struct{ encoding.CodecV2 }

// malformedField is the unknown field that marks a request that did not
// decode: protobuf's highest field number, which no message of this API
// uses; its value is the decoding error.
const malformedField protowire.Number = protowire.MaxValidNumber

func (c requestCodec) Unmarshal(data mem.BufferSlice, v any) error {
	err := c.CodecV2.Unmarshal(data, v)
	m, ok := v.(proto.Message)
	if err == nil || !ok {
		return err
	}
	proto.Reset(m)
	mark := protowire.AppendTag(nil, malformedField, protowire.BytesType)
	mark = protowire.AppendString(mark, err.Error())
	m.ProtoReflect().SetUnknown(mark)
	return nil
}

// malformed returns the InvalidArgument error for a request that
// requestCodec marked, or nil.
func malformed(req any) error {
	m, ok := req.(proto.Message)
	if !ok {
		return nil
	}
	b := m.ProtoReflect().GetUnknown()
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil
		}
		b = b[n:]
		if num == malformedField && typ == protowire.BytesType {
			msg, _ := protowire.ConsumeString(b)
			msg = strings.TrimPrefix(strings.TrimPrefix(msg, "proto:"), " ")
			return invalid("malformed request: %s", msg)
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return nil
		}
		b = b[n:]
	}
	return nil
}

func malformedUnary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if err := malformed(req); err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

func malformedStream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	return handler(srv, checkedStream{ss})
}

// checkedStream answers InvalidArgument for a received message that did
// not decode.
type checkedStream struct{ grpc.ServerStream }

func (s checkedStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	return malformed(m)
}
