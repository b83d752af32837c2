package control_test

// Hostile but well-formed API requests (issue 12, "One API caller starves
// an edge"): every request field a caller chooses is bounded, a request
// over a bound is refused with InvalidArgument naming the field and the
// bound, and the control and its edges go on serving everyone else.

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/durationpb"

	sbv1 "github.com/switchboard-rt/switchboard/gen/switchboard/v1"
	"github.com/switchboard-rt/switchboard/pkg/bus"
)

// repeat returns n names "<prefix>0", "<prefix>1", ...
func repeat(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%d", prefix, i)
	}
	return out
}

// fakeSIDs returns n sids of n distinct edges that do not exist.
func fakeSIDs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("zz%06dAAAAAAAAAAAA", i)
	}
	return out
}

// recvErr opens a Subscribe stream and returns how it ends.
func recvErr(api sbv1.ControlClient, req *sbv1.SubscribeRequest) error {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	st, err := api.Subscribe(ctx, req)
	if err != nil {
		return err
	}
	if _, err := st.Header(); err != nil {
		return err
	}
	_, err = st.Recv()
	return err
}

// TestRequestLimits sends every RPC a request over each of its bounds, and
// checks that each is refused with InvalidArgument naming the field and the
// bound, that control's bus survives them all (a queue group or an ack
// token of 5,000 bytes made a NATS protocol line over the server's 4 KB
// limit, which closed control's connection for good), and that requests at
// the bounds are served.
func TestRequestLimits(t *testing.T) {
	f := startCluster(t, options{edges: 1})
	n := f.clients()
	c0 := n.connect(0, dial{edge: 0})
	ctx := context.Background()
	long := func(k int) string { return strings.Repeat("x", k) }
	emit := func(tg *sbv1.Target, event string) func() error {
		return func() error {
			_, err := f.api.Emit(ctx, &sbv1.EmitRequest{Target: tg, Event: event})
			return err
		}
	}
	ph := `{"_placeholder":true,"num":0}`
	cases := []struct {
		name string
		call func() error
		msg  string
	}{
		{"event name", emit(nil, long(900_000)), "event: 900000 bytes, at most 256"},
		{"namespace name", emit(&sbv1.Target{Namespace: "/" + long(4000)}, "e"), "target.namespace: 4001 bytes, at most 256"},
		{"room name", emit(&sbv1.Target{Rooms: []string{"a", long(4000)}}, "e"), "target.rooms[1]: 4000 bytes, at most 256"},
		{"except room name", emit(&sbv1.Target{ExceptRooms: []string{long(257)}}, "e"), "target.except_rooms[0]: 257 bytes, at most 256"},
		{"user name", emit(&sbv1.Target{Users: []string{long(300)}}, "e"), "target.users[0]: 300 bytes, at most 256"},
		{"sid", emit(&sbv1.Target{Sids: []string{c0.edgeID + long(5000)}}, "e"), "target.sids[0]: 5008 bytes, at most 64"},
		{"rooms per target", emit(&sbv1.Target{Rooms: repeat("r", 10_000)}, "e"), "target.rooms: 10000 rooms, at most 1000"},
		{"except rooms per target", emit(&sbv1.Target{ExceptRooms: repeat("r", 1001)}, "e"), "target.except_rooms: 1001 rooms, at most 1000"},
		{"sids per target", emit(&sbv1.Target{Sids: fakeSIDs(10_000)}, "e"), "target.sids: 10000 sids, at most 1000"},
		{"users per target", emit(&sbv1.Target{Users: repeat("u", 1001)}, "e"), "target.users: 1001 users, at most 1000"},
		{"binary parts", func() error {
			_, err := f.api.Emit(ctx, &sbv1.EmitRequest{Event: "e", Binary: make([][]byte, 1001)})
			return err
		}, "binary: 1001 parts, at most 1000"},
		{"EmitWithAck rooms", func() error {
			_, err := f.api.EmitWithAck(ctx, &sbv1.EmitWithAckRequest{Target: &sbv1.Target{Rooms: repeat("r", 1001)}, Event: "e"})
			return err
		}, "target.rooms: 1001 rooms, at most 1000"},
		{"EmitWithAck timeout", func() error {
			_, err := f.api.EmitWithAck(ctx, &sbv1.EmitWithAckRequest{Event: "e", Timeout: durationpb.New(11 * time.Minute)})
			return err
		}, "timeout must be more than 0 and at most 10m0s: got 11m0s"},
		{"EmitWithAck zero timeout", func() error {
			_, err := f.api.EmitWithAck(ctx, &sbv1.EmitWithAckRequest{Event: "e", Timeout: durationpb.New(0)})
			return err
		}, "timeout must be more than 0 and at most 10m0s: got 0s"},
		{"JoinRoom rooms", func() error {
			_, err := f.api.JoinRoom(ctx, &sbv1.JoinRoomRequest{Target: &sbv1.Target{Sids: []string{c0.sid}}, Rooms: repeat("r", 10_000)})
			return err
		}, "rooms: 10000 rooms, at most 1000"},
		{"JoinRoom room name", func() error {
			_, err := f.api.JoinRoom(ctx, &sbv1.JoinRoomRequest{Target: &sbv1.Target{Sids: []string{c0.sid}}, Rooms: []string{long(4000)}})
			return err
		}, "rooms[0]: 4000 bytes, at most 256"},
		{"JoinRoom target", func() error {
			_, err := f.api.JoinRoom(ctx, &sbv1.JoinRoomRequest{Target: &sbv1.Target{Users: repeat("u", 1001)}, Rooms: []string{"a"}})
			return err
		}, "target.users: 1001 users, at most 1000"},
		{"LeaveRoom rooms", func() error {
			_, err := f.api.LeaveRoom(ctx, &sbv1.LeaveRoomRequest{Rooms: repeat("r", 1001)})
			return err
		}, "rooms: 1001 rooms, at most 1000"},
		{"Disconnect target", func() error {
			_, err := f.api.Disconnect(ctx, &sbv1.DisconnectRequest{Target: &sbv1.Target{Rooms: []string{long(257)}}})
			return err
		}, "target.rooms[0]: 257 bytes, at most 256"},
		{"ListSockets sid", func() error {
			_, err := f.api.ListSockets(ctx, &sbv1.ListSocketsRequest{Sid: c0.edgeID + long(57)})
			return err
		}, "sid: 65 bytes, at most 64"},
		{"ListSockets room", func() error {
			_, err := f.api.ListSockets(ctx, &sbv1.ListSocketsRequest{Room: long(257)})
			return err
		}, "room: 257 bytes, at most 256"},
		{"ListSockets page size", func() error {
			_, err := f.api.ListSockets(ctx, &sbv1.ListSocketsRequest{PageSize: 1001})
			return err
		}, "page_size: 1001, at most 1000"},
		{"ListRooms namespace", func() error {
			_, err := f.api.ListRooms(ctx, &sbv1.ListRoomsRequest{Namespace: "/" + long(4000)})
			return err
		}, "namespace: 4001 bytes, at most 256"},
		{"Subscribe namespace", func() error {
			return recvErr(f.api, &sbv1.SubscribeRequest{Namespaces: []string{"/" + long(4000)}})
		}, "namespaces[0]: 4001 bytes, at most 256"},
		{"Subscribe event", func() error {
			return recvErr(f.api, &sbv1.SubscribeRequest{Events: []string{long(4000)}})
		}, "events[0]: 4000 bytes, at most 256"},
		{"Subscribe namespaces", func() error {
			return recvErr(f.api, &sbv1.SubscribeRequest{Namespaces: repeat("/n", 65)})
		}, "namespaces: 65 filters, at most 64"},
		{"Subscribe events", func() error {
			return recvErr(f.api, &sbv1.SubscribeRequest{Events: repeat("e", 10_000)})
		}, "events: 10000 filters, at most 64"},
		{"Subscribe subscriptions", func() error {
			return recvErr(f.api, &sbv1.SubscribeRequest{Namespaces: repeat("/n", 20), Events: repeat("e", 20)})
		}, "namespaces × events: 400 subscriptions, at most 256"},
		{"Subscribe unknown kind", func() error {
			return recvErr(f.api, &sbv1.SubscribeRequest{Kinds: []sbv1.EventKind{7}})
		}, "kinds[0]: 7 is not an EventKind"},
		{"Subscribe queue group", func() error {
			return recvErr(f.api, &sbv1.SubscribeRequest{QueueGroup: long(5000)})
		}, "queue_group: 5000 bytes, at most 256"},
		{"Subscribe queue group with a space", func() error {
			return recvErr(f.api, &sbv1.SubscribeRequest{QueueGroup: "my workers"})
		}, `queue_group "my workers": must not contain spaces or control characters`},
		{"Ack token", func() error {
			_, err := f.api.Ack(ctx, &sbv1.AckRequest{AckToken: "sb.v1.ack." + c0.edgeID + "." + long(5000)})
			return err
		}, "ack_token: 5019 bytes, at most 256"},
		{"Ack token with a foreign edge", func() error {
			_, err := f.api.Ack(ctx, &sbv1.AckRequest{AckToken: "sb.v1.ack.NOT-EDGE.1"})
			return err
		}, "is not an ack token of this deployment"},
		{"Ack args", func() error {
			_, err := f.api.Ack(ctx, &sbv1.AckRequest{AckToken: "sb.v1.ack." + c0.edgeID + "." + bus.NewAckID(), ArgsJson: `["` + long(1_000_000) + `"]`})
			return err
		}, "exceeds the 1000000-byte limit"},
		{"Ack binary parts", func() error {
			_, err := f.api.Ack(ctx, &sbv1.AckRequest{AckToken: "sb.v1.ack." + c0.edgeID + "." + bus.NewAckID(), ArgsJson: "[" + ph + "]", Binary: make([][]byte, 1001)})
			return err
		}, "binary: 1001 parts, at most 1000"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantCode(t, tc.name, tc.call(), codes.InvalidArgument, tc.msg)
		})
	}

	// Control's bus is alive, and requests at every bound are served.
	t.Run("at the bounds", func(t *testing.T) {
		room, event := long(256), "e"+long(255)
		if _, err := f.api.JoinRoom(ctx, &sbv1.JoinRoomRequest{Target: &sbv1.Target{Sids: []string{c0.sid}}, Rooms: []string{room}}); err != nil {
			t.Fatalf("JoinRoom of a 256-byte room: %v", err)
		}
		// 1,000 rooms that select nobody: accepted, nobody joins.
		resp, err := f.api.JoinRoom(ctx, &sbv1.JoinRoomRequest{Target: &sbv1.Target{Rooms: []string{"nobody"}}, Rooms: repeat("r", 1000)})
		if err != nil || resp.Sockets == nil || *resp.Sockets != 0 {
			t.Fatalf("JoinRoom of 1,000 rooms = %v, %v", resp, err)
		}
		f.emit(&sbv1.EmitRequest{Target: &sbv1.Target{Rooms: append(repeat("r", 999), room)}, Event: event})
		f.received(event, `[]`, c0)
		er := f.emit(&sbv1.EmitRequest{Target: &sbv1.Target{Sids: append(fakeSIDs(999), c0.sid)}, Event: "by-sid", Report: true})
		if er.Sockets == nil || *er.Sockets != 1 || len(er.Deliveries) != 1 || er.Deliveries[0].EdgeId != c0.edgeID {
			t.Errorf("Emit to 1,000 sids of 1,000 edges = %v, want 1 socket, on client 0's edge", er)
		}
		f.received("by-sid", `[]`, c0)
		// 16 namespaces × 16 events = 256 subscriptions, a 256-byte queue
		// group: the stream is live and carries what the client sends.
		evs := repeat("e", 16)
		fd := f.subscribe(&sbv1.SubscribeRequest{Namespaces: append(repeat("/n", 15), "/"), Events: evs, QueueGroup: long(256)})
		n.emit(c0.c, "e15", -1, "hi")
		fd.Wait(t, "the client's e15 on a stream at the bounds", func(r *sbv1.SubscribeResponse) bool {
			return r.GetClientEvent().GetEvent() == "e15" && r.GetClientEvent().GetSid() == c0.sid
		})
	})
}

// TestRoomsPerSocket: 10,000 room joins for one socket, in calls of 1,000,
// once drove its edge to 1.4 GB. A socket is in at most the edge's
// MaxRoomsPerSocket rooms (1,000 by default): JoinRoom reports the sockets
// it could not add to every room as sockets_full, the socket keeps the
// rooms it had, others still join, and the edge's heartbeat counts the
// refused joins for ClusterInfo.
func TestRoomsPerSocket(t *testing.T) {
	f := startCluster(t, options{edges: 1})
	n := f.clients()
	c0 := n.connect(0, dial{edge: 0})
	c1 := n.connect(1, dial{edge: 0})
	ctx := context.Background()
	join := func(tg *sbv1.Target, rooms []string) *sbv1.JoinRoomResponse {
		t.Helper()
		resp, err := f.api.JoinRoom(ctx, &sbv1.JoinRoomRequest{Target: tg, Rooms: rooms})
		if err != nil {
			t.Fatalf("JoinRoom: %v", err)
		}
		return resp
	}
	if r := join(&sbv1.Target{Sids: []string{c0.sid}}, repeat("r", 1000)); r.GetSockets() != 1 || r.SocketsFull == nil || *r.SocketsFull != 0 {
		t.Errorf("1,000 rooms for one socket: %v, want 1 socket, none full", r)
	}
	for i := 1; i < 10; i++ {
		r := join(&sbv1.Target{Sids: []string{c0.sid}}, repeat(fmt.Sprintf("r%d-", i), 1000))
		if r.GetSockets() != 1 || r.GetSocketsFull() != 1 {
			t.Fatalf("call %d: %v, want 1 socket, 1 full", i+1, r)
		}
	}
	if r := join(&sbv1.Target{Sids: []string{c0.sid, c1.sid}}, []string{"extra", "r0"}); r.GetSockets() != 2 || r.GetSocketsFull() != 1 {
		t.Errorf("a room for both: %v, want 2 sockets, 1 full", r)
	}
	// ListRooms pages: 1,001 rooms in pages of at most 400.
	count := map[string]uint32{}
	pages := 0
	for token := ""; pages == 0 || token != ""; pages++ {
		rooms, err := f.api.ListRooms(ctx, &sbv1.ListRoomsRequest{PageSize: 400, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		if len(rooms.Rooms) > 400 || pages > 3 {
			t.Fatalf("ListRooms page %d: %d rooms, want at most 400 in 3 pages", pages, len(rooms.Rooms))
		}
		for _, r := range rooms.Rooms {
			if _, dup := count[r.Name]; dup {
				t.Errorf("ListRooms: room %q on two pages", r.Name)
			}
			count[r.Name] = r.GetSockets()
		}
		token = rooms.NextPageToken
	}
	if pages != 3 {
		t.Errorf("ListRooms of 1,001 rooms took %d pages of 400, want 3", pages)
	}
	// 1,000 rooms of c0 (r0 shared with c1) and "extra", c1's; the sockets'
	// own rooms are not listed.
	if len(count) != 1001 || count["extra"] != 1 || count["r0"] != 2 || count["r1-0"] != 0 {
		t.Errorf("ListRooms: %d rooms, extra %d, r0 %d, r1-0 %d; want 1001, 1, 2, 0", len(count), count["extra"], count["r0"], count["r1-0"])
	}
	f.emit(&sbv1.EmitRequest{Target: &sbv1.Target{Rooms: []string{"r999"}}, Event: "last"})
	f.received("last", `[]`, c0)
	eventually(t, "ClusterInfo to count the refused joins", func() bool {
		ci, err := f.api.ClusterInfo(ctx, &sbv1.ClusterInfoRequest{})
		// 9 calls of 1,000 rooms, and "extra" for c0: one refusal each.
		return err == nil && len(ci.Edges) == 1 && ci.Edges[0].GetCounters().GetRoomJoinsRefused() == 10
	})
}
