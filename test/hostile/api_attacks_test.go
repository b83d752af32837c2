package hostile

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/structpb"

	sbv1 "github.com/switchboard-rt/switchboard/gen/switchboard/v1"
)

// TestAPIAttacks: what one gRPC caller can ask of control, one attack
// after another against one stack. Every request over a limit of
// docs/api.md#limits is InvalidArgument naming the field and the limit,
// and control goes on answering that caller and everyone else.
func TestAPIAttacks(t *testing.T) {
	s := startStack(t)
	ctx := context.Background()

	// hello is a call that must work after the attack's: an emit to the
	// canary (which ignores the event) through the attacker's own
	// connection, with a report of the sockets it reached.
	hello := func(t *testing.T, api sbv1.ControlClient) {
		t.Helper()
		ctx, cancel := context.WithTimeout(ctx, waitTimeout)
		defer cancel()
		res, err := api.Emit(ctx, &sbv1.EmitRequest{Target: &sbv1.Target{Sids: []string{s.canary.sid}}, Event: "hello", Report: true})
		if err != nil || res.GetSockets() != 1 {
			t.Errorf("the next Emit: %v, %v; want 1 socket", res, err)
		}
	}

	// Names of 4,000 characters: a room for JoinRoom and for Emit, a
	// namespace for Subscribe. Each once became a NATS subject past the
	// 4 KB protocol line, NATS closed control's connection for good, and
	// every later call got Unavailable.
	t.Run("names of 4,000 characters", func(t *testing.T) {
		api := s.dial(t)
		a := s.begin(t)
		long := strings.Repeat("r", 4000)
		for range 3 {
			ctx, cancel := context.WithTimeout(ctx, waitTimeout)
			_, err := api.JoinRoom(ctx, &sbv1.JoinRoomRequest{Rooms: []string{long}})
			wantInvalid(t, "JoinRoom to a room of 4,000 characters", err, "rooms[0]", "4000 bytes", "at most 256")
			hello(t, api)
			_, err = api.Emit(ctx, &sbv1.EmitRequest{Target: &sbv1.Target{Rooms: []string{long}}, Event: "x"})
			wantInvalid(t, "Emit to a room of 4,000 characters", err, "target.rooms[0]", "4000 bytes", "at most 256")
			hello(t, api)
			st, err := api.Subscribe(ctx, &sbv1.SubscribeRequest{Namespaces: []string{"/" + long[1:]}})
			if err == nil {
				_, err = st.Recv()
			}
			wantInvalid(t, "Subscribe to a namespace of 4,000 characters", err, "namespaces[0]", "4000 bytes", "at most 256")
			hello(t, api)
			cancel()
		}
		a.check(t)
	})

	// One hostile but well-formed caller, in sequence, three times over:
	// each request asks for what no application needs and gets
	// InvalidArgument naming the limit, before control does any of the
	// work; a sid target naming 1,000 edges (allowed) goes once to every
	// edge, not once per edge named.
	t.Run("requests over the limits", func(t *testing.T) {
		api := s.dial(t)
		a := s.begin(t)
		names := func(n int, format string) []string {
			out := make([]string, n)
			for i := range out {
				out[i] = fmt.Sprintf(format, i)
			}
			return out
		}
		rooms := names(10_000, "room-%05d")
		// A sid starts with the id of its edge: 8 lowercase letters or
		// digits (pkg/control's edgeOfSID).
		sids := names(10_000, "%08dsid-of-an-edge")
		payload := structpb.NewStringValue(strings.Repeat("p", 100_000))
		for range 3 {
			ctx, cancel := context.WithTimeout(ctx, waitTimeout)
			_, err := api.Emit(ctx, &sbv1.EmitRequest{Event: strings.Repeat("e", 900_000)})
			wantInvalid(t, "Emit of an event named with 900,000 characters", err, "event", "900000 bytes", "at most 256")
			_, err = api.Emit(ctx, &sbv1.EmitRequest{Target: &sbv1.Target{Rooms: rooms}, Event: "x", Args: []*structpb.Value{payload}})
			wantInvalid(t, "Emit to 10,000 rooms", err, "target.rooms", "10000 rooms", "at most 1000")
			_, err = api.Emit(ctx, &sbv1.EmitRequest{Target: &sbv1.Target{Sids: sids}, Event: "x", Args: []*structpb.Value{payload}})
			wantInvalid(t, "Emit to sids of 10,000 edges", err, "target.sids", "10000 sids", "at most 1000")
			_, err = api.JoinRoom(ctx, &sbv1.JoinRoomRequest{Rooms: rooms})
			wantInvalid(t, "JoinRoom to 10,000 rooms", err, "rooms", "10000 rooms", "at most 1000")
			hello(t, api)
			cancel()
		}
		// Allowed, and answered once the gather timeout (2 s) has passed:
		// none of these edges exists to answer.
		ctx, cancel := context.WithTimeout(ctx, waitTimeout)
		defer cancel()
		if _, err := api.Emit(ctx, &sbv1.EmitRequest{Target: &sbv1.Target{Sids: sids[:1000]}, Event: "x", Args: []*structpb.Value{payload}}); err != nil {
			t.Errorf("Emit of 100 KB to sids of 1,000 edges: %v, want it done", err)
		}
		hello(t, api)
		a.check(t)
	})

	// A legitimate but heavy caller: a socket in 1,000 rooms (JoinRoom's
	// most per call), and emits of 100 KB to all 1,000 rooms (a Target's
	// most) for 3 s. The socket gets each emit exactly once; one such
	// emit used to be published once per room, 1,000 × 100 KB to the
	// edge holding the socket, per emit.
	t.Run("emits of 100 KB to 1,000 rooms", func(t *testing.T) {
		const rooms, size, duration, pace = 1000, 100_000, 3 * time.Second, 20 * time.Millisecond
		api := s.dial(t)
		c := dialWS(t, s.edgeAddr, "", nil)
		sid := c.connect(t, "/")
		names := make([]string, rooms)
		for i := range names {
			names[i] = fmt.Sprintf("heavy-%04d", i)
		}
		jr, err := api.JoinRoom(ctx, &sbv1.JoinRoomRequest{Target: &sbv1.Target{Sids: []string{sid}}, Rooms: names})
		if err != nil || jr.GetSockets() != 1 {
			t.Fatalf("JoinRoom of 1,000 rooms: %v, %v; want 1 socket", jr, err)
		}
		a := s.begin(t)
		req := &sbv1.EmitRequest{
			Target: &sbv1.Target{Rooms: names},
			Event:  "heavy",
			Args:   []*structpb.Value{structpb.NewStringValue(strings.Repeat("h", size))},
		}
		emits := 0
		tick := time.NewTicker(pace)
		for start := time.Now(); time.Since(start) < duration; <-tick.C {
			ctx, cancel := context.WithTimeout(ctx, waitTimeout)
			_, err := api.Emit(ctx, req)
			cancel()
			if err != nil {
				t.Fatalf("Emit %d: %v", emits+1, err)
			}
			emits++
		}
		tick.Stop()
		heavy := func(m string) bool { return strings.HasPrefix(m, `42["heavy",`) }
		c.msgs.WaitN(t, "every emit to reach the socket", emits, heavy)
		time.Sleep(200 * time.Millisecond) // a copy too many would be there by now
		if got := len(c.msgs.Matching(heavy)); got != emits {
			t.Errorf("the socket in 1,000 rooms got %d events for %d emits, want each once", got, emits)
		}
		t.Logf("%d emits of %d KB to %d rooms in %v", emits, size/1000, rooms, duration)
		c.close()
		a.check(t)
	})

	// Requests protobuf cannot decode: strings that are not UTF-8, and
	// google.protobuf.Value nested past protobuf's recursion limit (10,000
	// messages: 6,000 lists are 12,000). They are the caller's mistake,
	// InvalidArgument, not the Internal grpc-go answers by itself; Values
	// nested 200 deep are within the limit and are arguments like any
	// other.
	t.Run("requests that do not decode", func(t *testing.T) {
		conn := s.dialConn(t)
		a := s.begin(t)
		event := field(nil, 2, []byte("chat"))
		canary := field(nil, 4, []byte(s.canary.sid)) // Target.sids
		for range 3 {
			for _, tc := range []struct {
				name string
				err  error
				want string
			}{
				{"Emit event not UTF-8", rawUnary(conn, "/switchboard.v1.Control/Emit", field(nil, 2, []byte("\xff"))), "invalid UTF-8"},
				{"Emit room not UTF-8", rawUnary(conn, "/switchboard.v1.Control/Emit", field(event, 1, field(nil, 2, []byte("a\xfe")))), "invalid UTF-8"},
				{"JoinRoom room not UTF-8", rawUnary(conn, "/switchboard.v1.Control/JoinRoom", field(nil, 2, []byte("\xff\xfe"))), "invalid UTF-8"},
				{"ListSockets namespace not UTF-8", rawUnary(conn, "/switchboard.v1.Control/ListSockets", field(nil, 2, []byte("/\xff"))), "invalid UTF-8"},
				{"Ack token not UTF-8", rawUnary(conn, "/switchboard.v1.Control/Ack", field(nil, 1, []byte("\xc0\x80"))), "invalid UTF-8"},
				{"Subscribe namespace not UTF-8", rawStream(conn, "/switchboard.v1.Control/Subscribe", field(nil, 1, []byte("/\xff"))), "invalid UTF-8"},
				{"Emit args nested 6,000 deep", rawUnary(conn, "/switchboard.v1.Control/Emit", field(event, 3, deepValue(6000))), "recursion"},
			} {
				wantInvalid(t, tc.name, tc.err, tc.want)
			}
			if err := rawUnary(conn, "/switchboard.v1.Control/Emit", field(field(event, 1, canary), 3, deepValue(200))); err != nil {
				t.Errorf("Emit to the canary with args nested 200 deep: %v, want it done", err)
			}
		}
		hello(t, sbv1.NewControlClient(conn))
		a.check(t)
	})
}
