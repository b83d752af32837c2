package control

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"unicode/utf8"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	sbv1 "github.com/switchboard-rt/switchboard/gen/switchboard/v1"
	"github.com/switchboard-rt/switchboard/pkg/socketio"
)

func invalid(format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, format, args...)
}

// target is a validated Target with its namespace resolved.
type target struct {
	*sbv1.Target
	ns string
}

// checkTarget validates a Target: a namespace that starts with "/", and
// non-empty, valid UTF-8 names.
func checkTarget(t *sbv1.Target) (target, error) {
	if t == nil {
		t = &sbv1.Target{}
	}
	ns := t.GetNamespace()
	if ns == "" {
		ns = "/"
	}
	if !strings.HasPrefix(ns, "/") {
		return target{}, invalid("target.namespace %q must start with \"/\" (like \"/\" or \"/chat\")", ns)
	}
	if !utf8.ValidString(ns) || strings.ContainsAny(ns, ",") {
		return target{}, invalid("target.namespace %q: must be valid UTF-8 without commas", ns)
	}
	lists := []struct {
		field string
		names []string
	}{{"rooms", t.Rooms}, {"except_rooms", t.ExceptRooms}, {"sids", t.Sids}, {"users", t.Users}}
	for _, l := range lists {
		for i, n := range l.names {
			if n == "" {
				return target{}, invalid("target.%s[%d] is empty", l.field, i)
			}
			if !utf8.ValidString(n) {
				return target{}, invalid("target.%s[%d] is not valid UTF-8", l.field, i)
			}
		}
	}
	for i, sid := range t.Sids {
		if edgeOfSID(sid) == "" {
			return target{}, invalid("target.sids[%d] %q was not issued by a Switchboard edge", i, sid)
		}
	}
	c := &sbv1.Target{Namespace: ns, Rooms: t.Rooms, ExceptRooms: t.ExceptRooms, Sids: t.Sids, Users: t.Users}
	return target{Target: c, ns: ns}, nil
}

// edgeIDLen matches pkg/edge: a sid starts with its edge's 8-character id.
const edgeIDLen = 8

func edgeOfSID(sid string) string {
	if len(sid) <= edgeIDLen {
		return ""
	}
	id := sid[:edgeIDLen]
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return ""
		}
	}
	return id
}

// argsJSON turns an RPC's args (or raw args_json) into a JSON array and
// checks that placeholders name existing binary parts.
func argsJSON(args []*structpb.Value, raw []byte, binary [][]byte) ([]byte, error) {
	if len(args) > 0 && len(raw) > 0 {
		return nil, invalid("args and args_json are mutually exclusive")
	}
	var out []byte
	if len(raw) > 0 {
		raw = bytes.TrimSpace(raw)
		if !json.Valid(raw) || len(raw) == 0 || raw[0] != '[' {
			return nil, invalid("args_json must be a JSON array")
		}
		out = raw
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
// the number of binary parts, both ways: every part is referenced.
func checkPlaceholders(data []byte, n int) error {
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

// encodeEvent validates an event and encodes its Socket.IO packet once.
func (s *Server) encodeEvent(t target, event string, args []*structpb.Value, raw []byte, binary [][]byte) ([]byte, error) {
	if event == "" {
		return nil, invalid("event is empty")
	}
	if !utf8.ValidString(event) {
		return nil, invalid("event is not valid UTF-8")
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
	size := len(text)
	for _, b := range binary {
		size += len(b)
	}
	if size > s.cfg.MaxPayload {
		return nil, invalid("payload of %d bytes exceeds the %d-byte limit", size, s.cfg.MaxPayload)
	}
	return text, nil
}

func checkRooms(rooms []string) error {
	if len(rooms) == 0 {
		return invalid("rooms is empty")
	}
	for i, r := range rooms {
		if r == "" || !utf8.ValidString(r) {
			return invalid("rooms[%d] must be a non-empty UTF-8 string", i)
		}
	}
	return nil
}
