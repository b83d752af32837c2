package control_test

// The API as its callers meet it (issue 15): JSON carried as text both
// ways, Emit's report, mass operations that need target.all, ListSockets'
// filters and pages, ListRooms' pages, zero counts that show, malformed
// requests. Each test runs control (embedded NATS), in-process edges with
// fixed ids, a gRPC client on 127.0.0.1 and, where a client is needed,
// official socket.io-client connections (testdata/api_clients.mjs) whose
// packets are compared as the text that came over the wire.
//
// The stack and its clients are this file's own (prefixed api); control,
// Subscribe streams and the Node.js process are started by the helpers of
// cluster_test.go (startControl, subscribe) and nodeproc_test.go.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/structpb"

	sbv1 "github.com/switchboard-rt/switchboard/gen/switchboard/v1"
	"github.com/switchboard-rt/switchboard/internal/rawgrpc"
	"github.com/switchboard-rt/switchboard/internal/repotest"
	"github.com/switchboard-rt/switchboard/internal/testfeed"
	"github.com/switchboard-rt/switchboard/internal/testlog"
	"github.com/switchboard-rt/switchboard/pkg/control"
	"github.com/switchboard-rt/switchboard/pkg/edge"
	"github.com/switchboard-rt/switchboard/pkg/socketio"
)

const (
	// apiWait bounds every wait for the stack or a client.
	apiWait = 5 * time.Second
	// apiGather is control's GatherTimeout: how long a call waits for an
	// edge that does not answer.
	apiGather = 700 * time.Millisecond
	// apiBig is an integer that a float64 (JSON.parse, encoding/json into
	// any) rounds: text that keeps it was not parsed on the way.
	apiBig = "12345678901234567890"
	// apiArgs is event arguments whose key order and big number must
	// survive as written.
	apiArgs = `[{"b":1,"a":2},` + apiBig + `]`
)

// apiEvent is the text of an EVENT packet of "/" named event with apiArgs.
func apiEvent(event string) string { return `2["` + event + `",` + apiArgs[1:] }

// apiEdgeIDs name the edges: the first sorts after the second, so that
// order by edge id is not start order.
var apiEdgeIDs = []string{"edgezzzz", "edgeaaaa"}

// ---- the stack ----

// apiStack is control, its edges and a gRPC client of it.
type apiStack struct {
	t     *testing.T
	ctl   *control.Server
	conn  *grpc.ClientConn
	api   sbv1.ControlClient
	edges []*edge.Edge
	life  *testfeed.Feed[*sbv1.SubscribeResponse] // connects and disconnects
	node  *apiNode                                // started by clients()
}

// apiAuthenticate is the edges' connect hook: the CONNECT auth payload
// names the socket's user and initial rooms.
func apiAuthenticate(hs *socketio.Handshake) (*socketio.ConnectResult, error) {
	var a struct {
		User  string   `json:"user"`
		Rooms []string `json:"rooms"`
	}
	if err := json.Unmarshal(hs.Auth, &a); err != nil {
		return nil, err
	}
	return &socketio.ConnectResult{User: a.User, Rooms: a.Rooms}, nil
}

// runUntilCleanup runs run until the test ends, then cancels it and waits.
func runUntilCleanup(t *testing.T, what string, run func(context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("%s Run: %v", what, err)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("%s did not shut down", what)
		}
	})
}

// newAPIStack starts control and an in-process edge per id of edgeIDs
// (heartbeats every 100ms), and waits until control lists them all.
func newAPIStack(t *testing.T, edgeIDs ...string) *apiStack {
	t.Helper()
	log := testlog.New(t)
	tc := startControl(t, control.Config{EmbeddedNATSAddr: "127.0.0.1:0", GatherTimeout: apiGather, Logger: log})
	s := &apiStack{t: t, ctl: tc.Server, conn: tc.conn, api: tc.api}
	for _, id := range edgeIDs {
		e, err := edge.New(edge.Config{
			Addr: "127.0.0.1:0", NATSURL: tc.NATSURL(), EdgeID: id,
			HeartbeatInterval: 100 * time.Millisecond, Logger: log,
			EventRate: -1, HandshakeRate: -1, // as fixture.startEdge's
		})
		if err != nil {
			t.Fatalf("edge.New: %v", err)
		}
		e.SocketIO().OnNamespace(func(ns *socketio.Namespace) { ns.Authenticate(apiAuthenticate) })
		if err := e.Listen(); err != nil {
			t.Fatalf("edge Listen: %v", err)
		}
		runUntilCleanup(t, "edge "+id, e.Run)
		s.edges = append(s.edges, e)
	}
	s.waitEdges(edgeIDs...)
	s.life = s.subscribe(&sbv1.SubscribeRequest{Kinds: []sbv1.EventKind{
		sbv1.EventKind_EVENT_KIND_CONNECT, sbv1.EventKind_EVENT_KIND_DISCONNECT,
	}})
	return s
}

func (s *apiStack) url(edge int) string { return "http://" + s.edges[edge].Addr().String() }

func (s *apiStack) clusterInfo() *sbv1.ClusterInfoResponse {
	s.t.Helper()
	ci, err := s.api.ClusterInfo(context.Background(), &sbv1.ClusterInfoRequest{})
	if err != nil {
		s.t.Fatalf("ClusterInfo: %v", err)
	}
	return ci
}

// waitEdges waits until ClusterInfo lists exactly these edges.
func (s *apiStack) waitEdges(ids ...string) {
	s.t.Helper()
	want := slices.Sorted(slices.Values(ids))
	deadline := time.Now().Add(apiWait)
	for {
		var got []string
		for _, e := range s.clusterInfo().Edges {
			got = append(got, e.Id)
		}
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("ClusterInfo lists edges %v, want %v", got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// subscribe opens a Subscribe stream, waits until it is live and collects
// what it receives until the test ends.
func (s *apiStack) subscribe(req *sbv1.SubscribeRequest) *testfeed.Feed[*sbv1.SubscribeResponse] {
	s.t.Helper()
	return subscribe(s.t, s.api, req)
}

func (s *apiStack) waitConnected(sid string) {
	s.t.Helper()
	s.life.Wait(s.t, "control to see "+sid+" connect", func(r *sbv1.SubscribeResponse) bool {
		return r.GetConnected().GetSocket().GetSid() == sid
	})
}

// sockets lists one page of sockets, failing the test on an error.
func (s *apiStack) sockets(req *sbv1.ListSocketsRequest) *sbv1.ListSocketsResponse {
	s.t.Helper()
	resp, err := s.api.ListSockets(context.Background(), req)
	if err != nil {
		s.t.Fatalf("ListSockets(%v): %v", req, err)
	}
	if len(resp.MissingEdges) > 0 {
		s.t.Errorf("ListSockets(%v): edges %v missing", req, resp.MissingEdges)
	}
	return resp
}

// socket is the listing of one socket.
func (s *apiStack) socket(sid string) *sbv1.Socket {
	s.t.Helper()
	resp := s.sockets(&sbv1.ListSocketsRequest{Sid: sid})
	if len(resp.Sockets) != 1 {
		s.t.Fatalf("ListSockets sid %s listed %d sockets", sid, len(resp.Sockets))
	}
	return resp.Sockets[0]
}

func apiSIDs(socks []*sbv1.Socket) []string {
	out := []string{}
	for _, s := range socks {
		out = append(out, s.Sid)
	}
	return out
}

// apiCounted is the answer of a mass operation: how many sockets it
// selected.
type apiCounted interface{ GetSockets() uint32 }

// ---- Node.js clients ----

// apiLine is one line of testdata/api_clients.mjs.
type apiLine struct {
	nodeLine
	Text string `json:"text"`
}

// apiNode is the Node.js process holding a test's clients.
type apiNode struct {
	*nodeProc[apiLine]
	s *apiStack
}

// apiDial says how a client connects.
type apiDial struct {
	edge   int    // index in apiStack.edges
	ns     string // "" means "/"
	auth   string // CONNECT auth payload as JSON text, sent in its key order
	ackRaw string // answer the server's acks with this text, as it is
}

// clients starts the Node.js process on first use.
func (s *apiStack) clients() *apiNode {
	s.t.Helper()
	if s.node == nil {
		s.node = &apiNode{nodeProc: startClients[apiLine](s.t, "api_clients.mjs"), s: s}
	}
	return s.node
}

// connect connects client c, waits until control has seen it connect and
// returns its sid.
func (n *apiNode) connect(c int, d apiDial) string {
	t := n.s.t
	t.Helper()
	cmd := map[string]any{"op": "connect", "c": c, "url": n.s.url(d.edge), "ns": d.ns}
	if d.auth != "" {
		cmd["auth"] = json.RawMessage(d.auth)
	}
	if d.ackRaw != "" {
		cmd["ackRaw"] = d.ackRaw
	}
	n.send(cmd)
	l := n.lines.Wait(t, fmt.Sprintf("client %d to connect", c), func(l apiLine) bool {
		return l.C == c && (l.Ev == "connect" || l.Ev == "connect_error")
	})
	if l.Ev == "connect_error" {
		t.Fatalf("client %d: connect_error %q", c, l.Message)
	}
	n.s.waitConnected(l.SID)
	return l.SID
}

// packet waits for client c to receive a packet whose text starts with
// prefix, and returns the text.
func (n *apiNode) packet(c int, prefix string) string {
	n.s.t.Helper()
	return n.lines.Wait(n.s.t, fmt.Sprintf("client %d to receive %s...", c, prefix), func(l apiLine) bool {
		return l.C == c && l.Ev == "packet" && strings.HasPrefix(l.Text, prefix)
	}).Text
}

// apiUser is the auth payload of a socket of user with rooms.
func apiUser(user string, rooms ...string) string {
	b, _ := json.Marshal(map[string]any{"user": user, "rooms": rooms})
	return string(b)
}

// ---- a raw Engine.IO client ----

// apiStalledPoller connects to "/" of an edge over long-polling by hand,
// reads its CONNECT answer, and then sends no GET again: the edge has no
// request to write to, so a volatile packet cannot be taken right away.
// It returns the socket's sid.
func apiStalledPoller(t *testing.T, edgeURL string) string {
	t.Helper()
	hc := &http.Client{Timeout: apiWait, Transport: &http.Transport{}}
	t.Cleanup(hc.CloseIdleConnections)
	base := edgeURL + "/socket.io/?EIO=4&transport=polling"
	do := func(method, url, body string) string {
		t.Helper()
		req, err := http.NewRequest(method, url, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, url, err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("%s %s: %d %q %v", method, url, resp.StatusCode, b, err)
		}
		return string(b)
	}
	open := do("GET", base, "")
	var hs struct{ SID string }
	if !strings.HasPrefix(open, "0") || json.Unmarshal([]byte(open[1:]), &hs) != nil || hs.SID == "" {
		t.Fatalf("open packet %q", open)
	}
	url := base + "&sid=" + hs.SID
	do("POST", url, "40")
	answer := do("GET", url, "")
	var ok struct{ SID string }
	if !strings.HasPrefix(answer, "40{") || json.Unmarshal([]byte(strings.Split(answer, "\x1e")[0][2:]), &ok) != nil {
		t.Fatalf("CONNECT answered %q", answer)
	}
	return ok.SID
}

// ---- tests ----

// TestAPIJSONText: JSON goes through control as the text it was written
// in, key order and big numbers kept, both ways: args_json to a client,
// a client's event args in ClientEvent.args_json, a client's ack in
// SocketAck.args_json, data_json in Socket.data_json, the CONNECT auth
// payload in Handshake.auth_json (without "token").
func TestAPIJSONText(t *testing.T) {
	s := newAPIStack(t, apiEdgeIDs[0])
	n := s.clients()
	sid := n.connect(0, apiDial{auth: `{"z":1,"token":"secret","user":"u","a":[2,1]}`, ackRaw: apiArgs})
	ctx := context.Background()

	t.Run("args_json to the client", func(t *testing.T) {
		if _, err := s.api.Emit(ctx, &sbv1.EmitRequest{Target: &sbv1.Target{Sids: []string{sid}}, Event: "down", ArgsJson: apiArgs}); err != nil {
			t.Fatalf("Emit: %v", err)
		}
		if got, want := n.packet(0, `2["down"`), apiEvent("down"); got != want {
			t.Errorf("the client received %s, want %s", got, want)
		}
	})

	t.Run("ClientEvent.args_json", func(t *testing.T) {
		events := s.subscribe(&sbv1.SubscribeRequest{Events: []string{"up"}, Kinds: []sbv1.EventKind{sbv1.EventKind_EVENT_KIND_CLIENT_EVENT}})
		n.send(map[string]any{"op": "raw", "c": 0, "text": apiEvent("up")})
		ev := events.Wait(t, "the client's event", func(r *sbv1.SubscribeResponse) bool { return r.GetClientEvent() != nil }).GetClientEvent()
		if ev.ArgsJson != apiArgs || ev.Sid != sid {
			t.Errorf("ClientEvent from %s args_json %s, want %s from %s", ev.Sid, ev.ArgsJson, apiArgs, sid)
		}
	})

	t.Run("SocketAck.args_json", func(t *testing.T) {
		resp, err := s.api.EmitWithAck(ctx, &sbv1.EmitWithAckRequest{Target: &sbv1.Target{Sids: []string{sid}}, Event: "ask"})
		if err != nil {
			t.Fatalf("EmitWithAck: %v", err)
		}
		if len(resp.Acks) != 1 || resp.Acks[0].Sid != sid || resp.Acks[0].ArgsJson != apiArgs {
			t.Errorf("EmitWithAck = %v, want one ack from %s with args_json %s", resp, sid, apiArgs)
		}
	})

	t.Run("Socket.data_json", func(t *testing.T) {
		set := func(req *sbv1.SetSocketDataRequest) {
			t.Helper()
			req.Target = &sbv1.Target{Sids: []string{sid}}
			resp, err := s.api.SetSocketData(ctx, req)
			if err != nil || resp.GetSockets() != 1 {
				t.Fatalf("SetSocketData = %v, %v; want 1 socket", resp, err)
			}
		}
		// Numbers keep their precision; keys come back sorted (the data is
		// kept decoded, for merges), as the proto says.
		const text = `{"b":1,"a":"x","n":` + apiBig + `}`
		const want = `{"a":"x","b":1,"n":` + apiBig + `}`
		set(&sbv1.SetSocketDataRequest{DataJson: text})
		if got := s.socket(sid).DataJson; got != want {
			t.Errorf("after data_json %s: Socket.data_json %s, want %s", text, got, want)
		}
		v, err := structpb.NewValue(map[string]any{"k": []any{true, "v"}})
		if err != nil {
			t.Fatal(err)
		}
		set(&sbv1.SetSocketDataRequest{Data: v})
		if got := s.socket(sid).DataJson; got != `{"k":[true,"v"]}` {
			t.Errorf("after data {k: [true, v]}: Socket.data_json %s", got)
		}
	})

	t.Run("Handshake.auth_json", func(t *testing.T) {
		if got, want := s.socket(sid).GetHandshake().GetAuthJson(), `{"z":1,"user":"u","a":[2,1]}`; got != want {
			t.Errorf("auth_json %s, want %s: the client's order, without token", got, want)
		}
	})

	t.Run("data and data_json", func(t *testing.T) {
		_, err := s.api.SetSocketData(ctx, &sbv1.SetSocketDataRequest{
			Target: &sbv1.Target{Sids: []string{sid}}, Data: structpb.NewNumberValue(1), DataJson: "2",
		})
		wantCode(t, "SetSocketData with data and data_json", err, codes.InvalidArgument, "data and data_json")
	})
}

// TestAPIEmitReport: Emit answers nothing unless asked to report; its
// report counts each edge's sockets and frames, sorted by edge id, drops a
// volatile event for a connection that cannot take it, and names the edge
// that does not answer.
func TestAPIEmitReport(t *testing.T) {
	s := newAPIStack(t, apiEdgeIDs...)
	n := s.clients()
	// Room r: two sockets on edge 0 (edgezzzz), one on edge 1 (edgeaaaa);
	// one socket of each edge is elsewhere.
	for c, d := range []apiDial{
		{edge: 0, auth: apiUser("u0", "r")},
		{edge: 0, auth: apiUser("u1", "r")},
		{edge: 1, auth: apiUser("u2", "r")},
		{edge: 0, auth: apiUser("u3", "other")},
		{edge: 1, auth: apiUser("u4")},
	} {
		n.connect(c, d)
	}
	ctx := context.Background()
	emit := func(req *sbv1.EmitRequest) *sbv1.EmitResponse {
		t.Helper()
		resp, err := s.api.Emit(ctx, req)
		if err != nil {
			t.Fatalf("Emit(%v): %v", req, err)
		}
		return resp
	}
	delivery := func(edge string, sockets, queued, volatile uint32) *sbv1.EdgeDelivery {
		return &sbv1.EdgeDelivery{
			EdgeId: edge, Sockets: &sockets, Queued: &queued,
			DroppedVolatile: &volatile, DroppedSlow: proto.Uint32(0), DroppedClosed: proto.Uint32(0),
		}
	}
	want := func(t *testing.T, what string, got, want *sbv1.EmitResponse) {
		t.Helper()
		if !proto.Equal(got, want) {
			t.Errorf("%s: Emit answered %v, want %v", what, got, want)
		}
	}
	room := &sbv1.Target{Rooms: []string{"r"}}

	t.Run("no report", func(t *testing.T) {
		want(t, "without report", emit(&sbv1.EmitRequest{Target: room, Event: "plain"}), &sbv1.EmitResponse{})
		for c := range 3 {
			n.packet(c, `2["plain"]`)
		}
	})

	t.Run("report", func(t *testing.T) {
		want(t, "with report", emit(&sbv1.EmitRequest{Target: room, Event: "counted", Report: true}), &sbv1.EmitResponse{
			Sockets: proto.Uint32(3), Queued: proto.Uint32(3), Dropped: proto.Uint32(0),
			Deliveries: []*sbv1.EdgeDelivery{delivery("edgeaaaa", 1, 1, 0), delivery("edgezzzz", 2, 2, 0)},
		})
		want(t, "to nobody", emit(&sbv1.EmitRequest{Target: &sbv1.Target{Rooms: []string{"nobody"}}, Event: "none", Report: true}), &sbv1.EmitResponse{
			Sockets: proto.Uint32(0), Queued: proto.Uint32(0), Dropped: proto.Uint32(0),
		})
	})

	t.Run("volatile dropped", func(t *testing.T) {
		sid := apiStalledPoller(t, s.url(0))
		s.waitConnected(sid)
		to := &sbv1.Target{Sids: []string{sid}}
		want(t, "volatile to a poller without a GET", emit(&sbv1.EmitRequest{Target: to, Event: "v", Volatile: true, Report: true}), &sbv1.EmitResponse{
			Sockets: proto.Uint32(1), Queued: proto.Uint32(0), Dropped: proto.Uint32(1),
			Deliveries: []*sbv1.EdgeDelivery{delivery("edgezzzz", 1, 0, 1)},
		})
		// The same event, not volatile, waits in the queue for the next GET.
		want(t, "not volatile to the same poller", emit(&sbv1.EmitRequest{Target: to, Event: "v", Report: true}), &sbv1.EmitResponse{
			Sockets: proto.Uint32(1), Queued: proto.Uint32(1), Dropped: proto.Uint32(0),
			Deliveries: []*sbv1.EdgeDelivery{delivery("edgezzzz", 1, 1, 0)},
		})
	})

	t.Run("missing edge", func(t *testing.T) {
		// An edge process killed: no goodbye, so control lists it until
		// three heartbeats (6s) pass, and a report waits for it in vain.
		const deadID = "edgedead"
		kill := startEdgeProcess(t, s.ctl.NATSURL(), "2s", deadID)
		s.waitEdges(append(slices.Clone(apiEdgeIDs), deadID)...)
		kill()
		// Without report, Emit waits for no edge.
		start := time.Now()
		want(t, "without report, an edge killed", emit(&sbv1.EmitRequest{Target: room, Event: "after-kill"}), &sbv1.EmitResponse{})
		if d := time.Since(start); d >= apiGather {
			t.Errorf("Emit without report took %v: it waited for the killed edge", d)
		}
		want(t, "with an edge killed", emit(&sbv1.EmitRequest{Target: room, Event: "after-kill", Report: true}), &sbv1.EmitResponse{
			Sockets: proto.Uint32(3), Queued: proto.Uint32(3), Dropped: proto.Uint32(0), MissingEdges: []string{deadID},
			Deliveries: []*sbv1.EdgeDelivery{delivery("edgeaaaa", 1, 1, 0), delivery("edgezzzz", 2, 2, 0)},
		})
	})
}

// TestAPITargetAll: JoinRoom, LeaveRoom, Disconnect and SetSocketData
// refuse a target that names nothing unless it says all, and do nothing;
// with all they reach every socket of the namespace (but except_rooms);
// all with rooms, sids or users is refused; Emit takes an empty target as
// the whole namespace.
func TestAPITargetAll(t *testing.T) {
	s := newAPIStack(t, apiEdgeIDs...)
	n := s.clients()
	var all []string
	for c, d := range []apiDial{
		{edge: 0, auth: apiUser("u0", "base")},
		{edge: 1, auth: apiUser("u1", "base")},
		{edge: 1, auth: apiUser("u2", "base", "vip")},
	} {
		all = append(all, n.connect(c, d))
	}
	slices.Sort(all)
	ctx := context.Background()
	// ops are the mass operations, each as a function of its target.
	ops := []struct {
		name string
		call func(*sbv1.Target) (apiCounted, error)
	}{
		{"JoinRoom", func(tg *sbv1.Target) (apiCounted, error) {
			return s.api.JoinRoom(ctx, &sbv1.JoinRoomRequest{Target: tg, Rooms: []string{"joined"}})
		}},
		{"LeaveRoom", func(tg *sbv1.Target) (apiCounted, error) {
			return s.api.LeaveRoom(ctx, &sbv1.LeaveRoomRequest{Target: tg, Rooms: []string{"base"}})
		}},
		{"SetSocketData", func(tg *sbv1.Target) (apiCounted, error) {
			return s.api.SetSocketData(ctx, &sbv1.SetSocketDataRequest{Target: tg, DataJson: `{"set":1}`})
		}},
		{"Disconnect", func(tg *sbv1.Target) (apiCounted, error) {
			return s.api.Disconnect(ctx, &sbv1.DisconnectRequest{Target: tg})
		}},
	}
	// untouched checks that every socket is as it connected.
	untouched := func(t *testing.T) {
		t.Helper()
		resp := s.sockets(&sbv1.ListSocketsRequest{})
		if got := apiSIDs(resp.Sockets); !slices.Equal(got, all) {
			t.Fatalf("sockets %v, want %v", got, all)
		}
		for _, so := range resp.Sockets {
			if !slices.Contains(so.Rooms, "base") || slices.Contains(so.Rooms, "joined") || so.DataJson != "" {
				t.Errorf("socket %s: rooms %v, data %q: a refused call changed it", so.Sid, so.Rooms, so.DataJson)
			}
		}
	}

	t.Run("refused without all", func(t *testing.T) {
		empty := map[string]*sbv1.Target{
			"no target":         nil,
			"{}":                {},
			"namespace /":       {Namespace: "/"},
			"only except_rooms": {ExceptRooms: []string{"vip"}},
		}
		for _, op := range ops {
			for name, tg := range empty {
				_, err := op.call(tg)
				wantCode(t, op.name+" "+name, err, codes.InvalidArgument, "target.all")
			}
		}
		untouched(t)
	})

	t.Run("all with names", func(t *testing.T) {
		for _, op := range ops {
			for name, tg := range map[string]*sbv1.Target{
				"rooms": {All: true, Rooms: []string{"base"}},
				"sids":  {All: true, Sids: all[:1]},
				"users": {All: true, Users: []string{"u0"}},
			} {
				_, err := op.call(tg)
				wantCode(t, op.name+" all with "+name, err, codes.InvalidArgument, "target.all")
			}
		}
		untouched(t)
	})

	t.Run("Emit to {}", func(t *testing.T) {
		for i, tg := range []*sbv1.Target{nil, {}} {
			event := fmt.Sprintf("everyone%d", i)
			if _, err := s.api.Emit(ctx, &sbv1.EmitRequest{Target: tg, Event: event}); err != nil {
				t.Fatalf("Emit to %v: %v", tg, err)
			}
			for c := range all {
				n.packet(c, `2["`+event+`"]`)
			}
		}
	})

	t.Run("with all", func(t *testing.T) {
		everyone := &sbv1.Target{All: true}
		for _, tc := range []struct {
			op     int // index in ops
			target *sbv1.Target
			want   uint32
		}{
			{0, everyone, 3},
			{1, &sbv1.Target{All: true, ExceptRooms: []string{"vip"}}, 2},
			{2, everyone, 3},
		} {
			resp, err := ops[tc.op].call(tc.target)
			if err != nil || resp.GetSockets() != tc.want {
				t.Errorf("%s %v = %v, %v; want %d sockets", ops[tc.op].name, tc.target, resp, err, tc.want)
			}
		}
		for _, so := range s.sockets(&sbv1.ListSocketsRequest{}).Sockets {
			vip := slices.Contains(so.Rooms, "vip")
			if !slices.Contains(so.Rooms, "joined") || slices.Contains(so.Rooms, "base") != vip || so.DataJson != `{"set":1}` {
				t.Errorf("socket %s after the calls with all: rooms %v, data %q", so.Sid, so.Rooms, so.DataJson)
			}
		}
		resp, err := ops[3].call(everyone)
		if err != nil || resp.GetSockets() != 3 {
			t.Fatalf("Disconnect all = %v, %v; want 3 sockets", resp, err)
		}
		for c := range all {
			n.lines.Wait(t, fmt.Sprintf("client %d to disconnect", c), func(l apiLine) bool { return l.C == c && l.Ev == "disconnect" })
		}
		if left := s.sockets(&sbv1.ListSocketsRequest{}).Sockets; len(left) != 0 {
			t.Errorf("after Disconnect all: %v left", apiSIDs(left))
		}
	})
}

// TestAPIListSockets: ListSockets' filters combine, over namespaces and
// edges; pages go in sid order across edges, each socket once, with the
// total on every page; count_only counts; bad page sizes and tokens are
// refused. ListRooms pages the same way, counts summed over edges.
func TestAPIListSockets(t *testing.T) {
	s := newAPIStack(t, apiEdgeIDs...)
	n := s.clients()
	dials := []apiDial{
		{edge: 0, auth: apiUser("alice", "red", "amber")},
		{edge: 0, auth: apiUser("bob", "red", "blue")},
		{edge: 0, auth: apiUser("carol", "green")},
		{edge: 1, auth: apiUser("alice", "blue")},
		{edge: 1, auth: apiUser("bob", "red", "amber")},
		{edge: 1, ns: "/admin", auth: apiUser("alice", "red")},
	}
	sid := make([]string, len(dials))
	for c, d := range dials {
		sid[c] = n.connect(c, d)
	}
	pick := func(cs ...int) []string {
		out := []string{}
		for _, c := range cs {
			out = append(out, sid[c])
		}
		slices.Sort(out)
		return out
	}
	ctx := context.Background()

	t.Run("filters", func(t *testing.T) {
		for _, tc := range []struct {
			req  *sbv1.ListSocketsRequest
			want []string
		}{
			{&sbv1.ListSocketsRequest{}, pick(0, 1, 2, 3, 4, 5)},
			{&sbv1.ListSocketsRequest{Namespace: "/"}, pick(0, 1, 2, 3, 4)},
			{&sbv1.ListSocketsRequest{Namespace: "/admin"}, pick(5)},
			{&sbv1.ListSocketsRequest{Room: "red"}, pick(0, 1, 4, 5)},
			{&sbv1.ListSocketsRequest{Namespace: "/", Room: "red"}, pick(0, 1, 4)},
			{&sbv1.ListSocketsRequest{User: "alice"}, pick(0, 3, 5)},
			{&sbv1.ListSocketsRequest{Namespace: "/", User: "alice"}, pick(0, 3)},
			{&sbv1.ListSocketsRequest{Room: "red", User: "bob"}, pick(1, 4)},
			{&sbv1.ListSocketsRequest{Namespace: "/", Room: "blue", User: "alice"}, pick(3)},
			{&sbv1.ListSocketsRequest{Sid: sid[3]}, pick(3)},
			{&sbv1.ListSocketsRequest{Sid: sid[3], Room: "blue"}, pick(3)},
			{&sbv1.ListSocketsRequest{Sid: sid[3], User: "bob"}, pick()},
			{&sbv1.ListSocketsRequest{Sid: sid[5], Namespace: "/"}, pick()},
			{&sbv1.ListSocketsRequest{Room: "nowhere"}, pick()},
		} {
			resp := s.sockets(tc.req)
			if got := apiSIDs(resp.Sockets); !slices.Equal(got, tc.want) || resp.GetTotal() != uint32(len(tc.want)) || resp.Total == nil || resp.NextPageToken != "" {
				t.Errorf("ListSockets(%v) = %v total %v token %q, want %v", tc.req, got, resp.Total, resp.NextPageToken, tc.want)
			}
		}
	})

	t.Run("pages", func(t *testing.T) {
		var got []string
		req := &sbv1.ListSocketsRequest{Namespace: "/", PageSize: 2}
		for page := 1; ; page++ {
			resp := s.sockets(req)
			if len(resp.Sockets) > 2 || resp.GetTotal() != 5 {
				t.Errorf("page %d: %d sockets, total %d; want at most 2, total 5", page, len(resp.Sockets), resp.GetTotal())
			}
			got = append(got, apiSIDs(resp.Sockets)...)
			if resp.NextPageToken == "" {
				if page != 3 {
					t.Errorf("%d pages of 2 for 5 sockets, want 3", page)
				}
				break
			}
			if page == 5 {
				t.Fatalf("no last page after %d", page)
			}
			req.PageToken = resp.NextPageToken
		}
		if want := pick(0, 1, 2, 3, 4); !slices.Equal(got, want) {
			t.Errorf("pages listed %v, want %v: each socket once, in sid order", got, want)
		}
	})

	t.Run("count_only", func(t *testing.T) {
		resp := s.sockets(&sbv1.ListSocketsRequest{Namespace: "/", CountOnly: true, PageSize: 2})
		if len(resp.Sockets) != 0 || resp.GetTotal() != 5 || resp.NextPageToken != "" {
			t.Errorf("count_only = %d sockets, total %d, token %q; want none, 5, none", len(resp.Sockets), resp.GetTotal(), resp.NextPageToken)
		}
	})

	t.Run("rooms", func(t *testing.T) {
		type room struct {
			name    string
			sockets uint32
		}
		var got []room
		req := &sbv1.ListRoomsRequest{PageSize: 3}
		for page := 1; ; page++ {
			resp, err := s.api.ListRooms(ctx, req)
			if err != nil {
				t.Fatalf("ListRooms(%v): %v", req, err)
			}
			if len(resp.Rooms) > 3 || len(resp.MissingEdges) > 0 {
				t.Errorf("page %d: %d rooms (missing %v), want at most 3", page, len(resp.Rooms), resp.MissingEdges)
			}
			for _, r := range resp.Rooms {
				got = append(got, room{r.Name, r.GetSockets()})
			}
			if resp.NextPageToken == "" {
				if page != 2 {
					t.Errorf("%d pages of 3 for 4 rooms, want 2", page)
				}
				break
			}
			if page == 4 {
				t.Fatalf("no last page after %d", page)
			}
			req.PageToken = resp.NextPageToken
		}
		want := []room{{"amber", 2}, {"blue", 2}, {"green", 1}, {"red", 3}}
		if !slices.Equal(got, want) {
			t.Errorf("rooms of / = %v, want %v", got, want)
		}
	})

	t.Run("refused", func(t *testing.T) {
		first, err := s.api.ListSockets(ctx, &sbv1.ListSocketsRequest{PageSize: 1})
		if err != nil || first.NextPageToken == "" {
			t.Fatalf("ListSockets page_size 1 = %v, %v; want a next page", first, err)
		}
		roomsPage, err := s.api.ListRooms(ctx, &sbv1.ListRoomsRequest{PageSize: 1})
		if err != nil || roomsPage.NextPageToken == "" {
			t.Fatalf("ListRooms page_size 1 = %v, %v; want a next page", roomsPage, err)
		}
		for _, tc := range []struct {
			name string
			call func() error
			msg  string
		}{
			{"ListSockets page_size 1001", func() error {
				_, err := s.api.ListSockets(ctx, &sbv1.ListSocketsRequest{PageSize: 1001})
				return err
			}, "page_size: 1001, at most 1000"},
			{"ListSockets garbage page_token", func() error {
				_, err := s.api.ListSockets(ctx, &sbv1.ListSocketsRequest{PageToken: "not a token!"})
				return err
			}, "page_token"},
			{"ListSockets with a ListRooms page_token", func() error {
				_, err := s.api.ListSockets(ctx, &sbv1.ListSocketsRequest{PageToken: roomsPage.NextPageToken})
				return err
			}, "page_token"},
			{"ListRooms page_size 1001", func() error {
				_, err := s.api.ListRooms(ctx, &sbv1.ListRoomsRequest{PageSize: 1001})
				return err
			}, "page_size: 1001, at most 1000"},
			{"ListRooms with a ListSockets page_token", func() error {
				_, err := s.api.ListRooms(ctx, &sbv1.ListRoomsRequest{PageToken: first.NextPageToken})
				return err
			}, "page_token"},
		} {
			wantCode(t, tc.name, tc.call(), codes.InvalidArgument, tc.msg)
		}
	})
}

// TestAPIZeroCountsShow: counts are optional fields, so grpcurl (protojson)
// prints a count of zero instead of leaving it out: a JoinRoom that selects
// nobody says "sockets": 0, and ClusterInfo shows every counter at 0.
func TestAPIZeroCountsShow(t *testing.T) {
	s := newAPIStack(t, apiEdgeIDs[0])
	bin := repotest.Bin(t, "grpcurl")
	grpcurl := func(method, body string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, bin, "-plaintext", "-d", body, s.ctl.Addr().String(), "switchboard.v1.Control/"+method).CombinedOutput()
		if err != nil {
			t.Fatalf("grpcurl %s %s: %v\n%s", method, body, err, out)
		}
		return string(out)
	}
	shows := func(what, out string, fields ...string) {
		t.Helper()
		for _, f := range fields {
			if !strings.Contains(out, f) {
				t.Errorf("%s printed no %s:\n%s", what, f, out)
			}
		}
	}
	shows("JoinRoom of nobody", grpcurl("JoinRoom", `{"target":{"rooms":["nobody"]},"rooms":["x"]}`), `"sockets": 0`, `"socketsFull": 0`)
	shows("LeaveRoom of nobody", grpcurl("LeaveRoom", `{"target":{"rooms":["nobody"]},"rooms":["x"]}`), `"sockets": 0`)
	shows("Disconnect of nobody", grpcurl("Disconnect", `{"target":{"users":["nobody"]}}`), `"sockets": 0`)
	shows("Emit to nobody", grpcurl("Emit", `{"target":{"rooms":["nobody"]},"event":"e","report":true}`), `"sockets": 0`, `"queued": 0`, `"dropped": 0`)
	shows("ListSockets count_only", grpcurl("ListSockets", `{"count_only":true}`), `"total": 0`)
	if out := grpcurl("Emit", `{"event":"e"}`); strings.TrimSpace(out) != "{}" {
		t.Errorf("Emit without report printed %q, want {}", out)
	}

	// Every counter, by its JSON name: uint64 prints as a string.
	var counters []string
	for _, m := range []protoreflect.MessageDescriptor{
		(&sbv1.ControlCounters{}).ProtoReflect().Descriptor(),
		(&sbv1.EdgeCounters{}).ProtoReflect().Descriptor(),
	} {
		for i := range m.Fields().Len() {
			counters = append(counters, fmt.Sprintf("%q: \"0\"", m.Fields().Get(i).JSONName()))
		}
	}
	shows("ClusterInfo", grpcurl("ClusterInfo", `{}`), append(counters, `"connections": 0`, `"sockets": 0`)...)
}

// TestAPIMalformedFields: what TestDecodeErrors does not cover already:
// the JSON text fields and ListSockets' filters refuse bytes that are not
// UTF-8; Values are refused just past protobuf's recursion limit (10,000
// nested messages, 2 per list: 5,000 lists) and taken just below it, in
// Emit's args and SetSocketData's data; JSON text is refused just past
// encoding/json's 10,000 levels and taken at 10,000.
func TestAPIMalformedFields(t *testing.T) {
	s := newAPIStack(t, apiEdgeIDs[0])
	ctx := context.Background()
	msg := func(m proto.Message) []byte {
		b, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	emit := msg(&sbv1.EmitRequest{Event: "chat"})
	setAll := msg(&sbv1.SetSocketDataRequest{Target: &sbv1.Target{All: true}})
	const (
		emitM     = "/switchboard.v1.Control/Emit"
		setM      = "/switchboard.v1.Control/SetSocketData"
		ackM      = "/switchboard.v1.Control/EmitWithAck"
		listM     = "/switchboard.v1.Control/ListSockets"
		invalid   = "invalid UTF-8"
		recursion = "exceeded maximum recursion depth"
		accepted  = ""
	)
	field, deep := rawgrpc.Field, rawgrpc.DeepValue
	// nest is a JSON array of depth levels.
	nest := func(depth int) []byte { return []byte(strings.Repeat("[", depth) + strings.Repeat("]", depth)) }
	for _, tc := range []struct {
		name, method string
		req          []byte
		msg          string // accepted: the call succeeds
	}{
		{"Emit args_json not UTF-8", emitM, field(emit, 4, []byte("[\"\xff\"]")), invalid},
		{"EmitWithAck args_json not UTF-8", ackM, field(emit, 4, []byte("[\"\xff\"]")), invalid},
		{"SetSocketData data_json not UTF-8", setM, field(setAll, 4, []byte("\"\xfe\"")), invalid},
		{"ListSockets room not UTF-8", listM, field(nil, 3, []byte("r\xff")), invalid},
		{"ListSockets user not UTF-8", listM, field(nil, 4, []byte("\xc0\x80")), invalid},
		{"ListSockets page_token not UTF-8", listM, field(nil, 7, []byte("\xff")), invalid},
		{"Emit args 5000 lists deep", emitM, field(emit, 3, deep(5000)), recursion},
		{"Emit args 4999 lists deep", emitM, field(emit, 3, deep(4999)), accepted},
		{"SetSocketData data 5000 lists deep", setM, field(setAll, 2, deep(5000)), recursion},
		{"SetSocketData data 4999 lists deep", setM, field(setAll, 2, deep(4999)), accepted},
		{"Emit args_json 10001 levels", emitM, field(emit, 4, nest(10001)), "args_json must be a JSON array"},
		{"Emit args_json 10000 levels", emitM, field(emit, 4, nest(10000)), accepted},
		{"SetSocketData data_json 10001 levels", setM, field(setAll, 4, nest(10001)), "data_json is not JSON text"},
		{"SetSocketData data_json 10000 levels", setM, field(setAll, 4, nest(10000)), accepted},
	} {
		err := rawgrpc.Unary(ctx, s.conn, tc.method, tc.req)
		if tc.msg == accepted {
			if err != nil {
				t.Errorf("%s: %v, want it accepted", tc.name, err)
			}
			continue
		}
		wantCode(t, tc.name, err, codes.InvalidArgument, tc.msg)
	}
}
