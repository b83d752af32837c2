package control_test

// End-to-end tests of the control plane: one control instance with its
// embedded NATS, three edges, a real gRPC client using the generated stubs,
// and official socket.io-client connections spread over the edges, all on
// 127.0.0.1. The clients live in one Node.js process (testdata/clients.mjs)
// that takes commands on stdin and reports everything they see on stdout.
//
// Node.js with node_modules/socket.io-client (npm ci, `make test-deps`) is
// required.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"os/exec"
	"reflect"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"

	sbv1 "github.com/switchboard-rt/switchboard/gen/switchboard/v1"
	"github.com/switchboard-rt/switchboard/internal/repotest"
	"github.com/switchboard-rt/switchboard/internal/testfeed"
	"github.com/switchboard-rt/switchboard/internal/testlog"
	"github.com/switchboard-rt/switchboard/pkg/bus"
	"github.com/switchboard-rt/switchboard/pkg/control"
	"github.com/switchboard-rt/switchboard/pkg/edge"
	"github.com/switchboard-rt/switchboard/pkg/engineio"
	"github.com/switchboard-rt/switchboard/pkg/socketio"
)

// The edge binary (TestEdgeCrash) and grpcurl (TestGrpcurl) are built
// before any test's clock starts.
func TestMain(m *testing.M) { repotest.Main(m, "edge", "grpcurl") }

// waitTimeout bounds every wait for something the cluster or a client does.
const waitTimeout = 5 * time.Second

// gatherTimeout is the control's GatherTimeout in these tests: how long a
// scatter-gather call waits for an edge that does not answer.
const gatherTimeout = 700 * time.Millisecond

// ---- feeds: things that arrive over time ----

// feed is testfeed.Feed; newFeed's waits are bounded by waitTimeout.
type feed[T any] = testfeed.Feed[T]

func newFeed[T any]() *feed[T] { return testfeed.New[T](waitTimeout) }

// eventually polls cond, for state that offers nothing to wait on.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// ---- the cluster ----

// options shape a test cluster; zero values are the defaults.
type options struct {
	edges      int           // in-process edges; 0 means 3, -1 none
	heartbeat  time.Duration // edges' heartbeat interval; 0 means 100ms
	maxPayload int           // control's MaxPayload
	apiKeys    []string      // control's APIKeys
	natsURL    string        // an external NATS instead of the embedded one
	streamQ    int           // control's StreamQueue
}

// fixture is one control instance, its edges and a gRPC client.
type fixture struct {
	t      *testing.T
	log    *slog.Logger
	ctl    *control.Server
	addr   string // control's gRPC address
	conn   *grpc.ClientConn
	api    sbv1.ControlClient
	edges  []*testEdge
	life   *feed[*sbv1.SubscribeResponse] // every connect and disconnect
	node   *nodeClients                   // started by clients()
	fences int                            // fences sent so far
}

// testEdge is an edge running in-process.
type testEdge struct {
	*edge.Edge
	url  string // http://127.0.0.1:port
	stop func() // graceful stop: cancels Run and waits for it
}

// testControl is a control instance serving on a loopback port, and a gRPC
// client of it.
type testControl struct {
	*control.Server
	addr string
	conn *grpc.ClientConn
	api  sbv1.ControlClient
	stop func() // cancels Run and waits for it
}

func startControl(t *testing.T, cfg control.Config) *testControl {
	t.Helper()
	cfg.GRPCAddr = "127.0.0.1:0"
	if cfg.GatherTimeout == 0 {
		cfg.GatherTimeout = gatherTimeout
	}
	ctl, err := control.New(cfg)
	if err != nil {
		t.Fatalf("control.New: %v", err)
	}
	if err := ctl.Listen(); err != nil {
		t.Fatalf("control Listen: %v", err)
	}
	tc := &testControl{Server: ctl, addr: ctl.Addr().String()}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ctl.Run(ctx) }()
	var once sync.Once
	tc.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("control Run: %v", err)
				}
			case <-time.After(15 * time.Second):
				t.Errorf("control did not shut down")
			}
		})
	}
	t.Cleanup(tc.stop)
	tc.conn, err = grpc.NewClient(tc.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("grpc.NewClient: %v", err)
	}
	t.Cleanup(func() { tc.conn.Close() })
	tc.api = sbv1.NewControlClient(tc.conn)
	return tc
}

func startCluster(t *testing.T, o options) *fixture {
	t.Helper()
	f := &fixture{t: t, log: testlog.New(t)}
	tc := startControl(t, control.Config{
		NATSURL:          o.natsURL,
		EmbeddedNATSAddr: "127.0.0.1:0",
		MaxPayload:       o.maxPayload,
		APIKeys:          o.apiKeys,
		StreamQueue:      o.streamQ,
		Logger:           f.log,
	})
	f.ctl, f.addr, f.conn, f.api = tc.Server, tc.addr, tc.conn, tc.api

	n := o.edges
	if n == 0 {
		n = 3
	}
	hb := o.heartbeat
	if hb == 0 {
		hb = 100 * time.Millisecond
	}
	for range max(n, 0) {
		f.edges = append(f.edges, f.startEdge(hb))
	}
	if n > 0 {
		f.waitEdges(f.edgeIDs()...)
		f.life = f.subscribe(&sbv1.SubscribeRequest{Kinds: []sbv1.EventKind{
			sbv1.EventKind_EVENT_KIND_CONNECT, sbv1.EventKind_EVENT_KIND_DISCONNECT,
		}})
	}
	return f
}

// authenticate is the edges' connect hook: the CONNECT auth payload names
// the user, initial rooms and data, or asks to be refused.
func authenticate(hs *socketio.Handshake) (*socketio.ConnectResult, error) {
	var a struct {
		User  string   `json:"user"`
		Rooms []string `json:"rooms"`
		Data  any      `json:"data"`
		Deny  string   `json:"deny"`
	}
	if err := json.Unmarshal(hs.Auth, &a); err != nil {
		return nil, err
	}
	if a.Deny != "" {
		return nil, &socketio.ConnectError{Message: a.Deny}
	}
	return &socketio.ConnectResult{User: a.User, Rooms: a.Rooms, Data: a.Data}, nil
}

func (f *fixture) startEdge(heartbeat time.Duration) *testEdge {
	t := f.t
	t.Helper()
	e, err := edge.New(edge.Config{
		Addr:              "127.0.0.1:0",
		NATSURL:           f.ctl.NATSURL(),
		HeartbeatInterval: heartbeat,
		Engine:            engineio.Config{PingInterval: 500 * time.Millisecond, PingTimeout: 2 * time.Second},
		Logger:            f.log,
		// These tests blast events from one socket and connect many from
		// one address; the edge's limits for that are pkg/edge's tests'.
		EventRate: -1, HandshakeRate: -1,
	})
	if err != nil {
		t.Fatalf("edge.New: %v", err)
	}
	e.SocketIO().OnNamespace(func(ns *socketio.Namespace) { ns.Authenticate(authenticate) })
	if err := e.Listen(); err != nil {
		t.Fatalf("edge Listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("edge %s Run: %v", e.ID(), err)
				}
			case <-time.After(15 * time.Second):
				t.Errorf("edge %s did not shut down", e.ID())
			}
		})
	}
	t.Cleanup(stop)
	return &testEdge{Edge: e, url: "http://" + e.Addr().String(), stop: stop}
}

func (f *fixture) edgeIDs() []string {
	var ids []string
	for _, e := range f.edges {
		ids = append(ids, e.ID())
	}
	return ids
}

// clusterEdges returns the edge ids ClusterInfo lists.
func (f *fixture) clusterEdges() []string {
	f.t.Helper()
	ci, err := f.api.ClusterInfo(context.Background(), &sbv1.ClusterInfoRequest{})
	if err != nil {
		f.t.Fatalf("ClusterInfo: %v", err)
	}
	var ids []string
	for _, e := range ci.Edges {
		ids = append(ids, e.Id)
	}
	return ids
}

// waitEdges waits until ClusterInfo lists exactly these edges.
func (f *fixture) waitEdges(ids ...string) {
	f.t.Helper()
	want := slices.Sorted(slices.Values(ids))
	eventually(f.t, fmt.Sprintf("ClusterInfo to list edges %v", want), func() bool {
		return slices.Equal(f.clusterEdges(), want)
	})
}

// subscribe opens a Subscribe stream, waits until it is live (its headers)
// and collects what it receives until the test ends.
func (f *fixture) subscribe(req *sbv1.SubscribeRequest) *feed[*sbv1.SubscribeResponse] {
	f.t.Helper()
	return subscribe(f.t, f.api, req)
}

func subscribe(t *testing.T, api sbv1.ControlClient, req *sbv1.SubscribeRequest) *feed[*sbv1.SubscribeResponse] {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	st, err := api.Subscribe(ctx, req)
	if err != nil {
		cancel()
		t.Fatalf("Subscribe: %v", err)
	}
	if _, err := st.Header(); err != nil {
		cancel()
		t.Fatalf("Subscribe headers: %v", err)
	}
	fd := newFeed[*sbv1.SubscribeResponse]()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			r, err := st.Recv()
			if err != nil {
				fd.End(err)
				return
			}
			fd.Add(r)
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return fd
}

func connectedSID(sid string) func(*sbv1.SubscribeResponse) bool {
	return func(r *sbv1.SubscribeResponse) bool { return r.GetConnected().GetSocket().GetSid() == sid }
}

func disconnectedSID(sid string) func(*sbv1.SubscribeResponse) bool {
	return func(r *sbv1.SubscribeResponse) bool { return r.GetDisconnected().GetSid() == sid }
}

// ---- Node.js clients ----

// line is one JSON line of testdata/clients.mjs.
type line struct {
	nodeLine
	Event string          `json:"event"`
	Args  json.RawMessage `json:"args"`
	Asked bool            `json:"asked"`
	ID    int             `json:"id"`
}

// nodeClients is the Node.js process holding the test's clients.
type nodeClients struct {
	*nodeProc[line]
	f *fixture

	mu      sync.Mutex
	clients map[int]*client // guarded by mu; connected clients by index
}

// client is one socket of the Node.js process.
type client struct {
	c      int
	sid    string
	ns     string
	edgeID string // edge the client connected to
	auth   map[string]any
}

// clients starts the Node.js process on first use.
func (f *fixture) clients() *nodeClients {
	f.t.Helper()
	if f.node == nil {
		f.node = &nodeClients{nodeProc: startClients[line](f.t, "clients.mjs"), f: f, clients: map[int]*client{}}
	}
	return f.node
}

// dial says how a client connects.
type dial struct {
	edge       int            // index of the edge in fixture.edges
	url        string         // instead of edge: this edge URL
	ns         string         // namespace; "" means "/"
	auth       map[string]any // CONNECT auth payload
	query      map[string]any // handshake query parameters
	transports []string       // nil: polling then upgrade
	share      *client        // multiplex the connection of this client
	noAck      bool           // never answer the server's acks
}

// transportsFor spreads the transports over the clients: polling then
// upgrade, WebSocket only, polling only.
func transportsFor(c int) []string {
	return [][]string{nil, {"websocket"}, {"polling"}}[c%3]
}

// connect connects client c and waits until it is connected and control has
// seen it connect (after which the edge's subscriptions for the socket are
// in place).
func (n *nodeClients) connect(c int, d dial) *client {
	t := n.f.t
	t.Helper()
	ns := d.ns
	if ns == "" {
		ns = "/"
	}
	cmd := map[string]any{"op": "connect", "c": c, "ns": ns, "auth": d.auth, "noAck": d.noAck}
	if d.share != nil {
		cmd["share"] = d.share.c
	} else {
		url := d.url
		if url == "" {
			url = n.f.edges[d.edge].url
		}
		cmd["url"], cmd["transports"], cmd["query"] = url, d.transports, d.query
	}
	n.send(cmd)
	l := n.lines.Wait(t, fmt.Sprintf("client %d to connect", c), func(l line) bool {
		return l.C == c && (l.Ev == "connect" || l.Ev == "connect_error")
	})
	if l.Ev == "connect_error" {
		t.Fatalf("client %d: connect_error %q", c, l.Message)
	}
	n.f.life.Wait(t, fmt.Sprintf("control to see client %d connect", c), connectedSID(l.SID))
	cl := &client{c: c, sid: l.SID, ns: ns, auth: d.auth}
	if d.share != nil {
		cl.edgeID = d.share.edgeID
	} else if d.url == "" {
		cl.edgeID = n.f.edges[d.edge].ID()
	}
	n.mu.Lock()
	n.clients[c] = cl
	n.mu.Unlock()
	return cl
}

// emit makes client c emit; with ack >= 0 it asks for an ack with that id.
func (n *nodeClients) emit(c int, event string, ack int, args ...any) {
	cmd := map[string]any{"op": "emit", "c": c, "event": event, "args": args}
	if ack >= 0 {
		cmd["ack"] = ack
	}
	n.send(cmd)
}

// disconnected waits until client c reports its disconnection and returns
// the reason; c no longer counts as connected.
func (n *nodeClients) disconnected(c int) string {
	n.f.t.Helper()
	l := n.lines.Wait(n.f.t, fmt.Sprintf("client %d to disconnect", c), func(l line) bool {
		return l.C == c && l.Ev == "disconnect"
	})
	n.mu.Lock()
	delete(n.clients, c)
	n.mu.Unlock()
	return l.Reason
}

func (n *nodeClients) connected() []*client {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.SortedFunc(maps.Values(n.clients), func(a, b *client) int { return a.c - b.c })
}

// events returns the events named event that each client received.
func (n *nodeClients) events(event string) map[int][]line {
	out := map[int][]line{}
	for _, l := range n.lines.Matching(func(l line) bool { return l.Ev == "event" && l.Event == event }) {
		out[l.C] = append(out[l.C], l)
	}
	return out
}

// fence emits a "fence" event to every namespace with a connected client
// and waits until each of them has it. Packets to one socket keep their
// order (control's NATS connection, the edge's single dispatcher, the
// socket's queue), so a client that has the fence has received every
// earlier emit too, duplicates included: what it has not got by then it
// will never get.
func (f *fixture) fence() {
	t := f.t
	t.Helper()
	f.fences++
	k := f.fences
	n := f.clients()
	clients := n.connected()
	namespaces := map[string]bool{}
	for _, c := range clients {
		namespaces[c.ns] = true
	}
	for ns := range namespaces {
		f.emit(&sbv1.EmitRequest{Target: &sbv1.Target{Namespace: ns}, Event: "fence", Args: values(t, k)})
	}
	for _, c := range clients {
		n.lines.Wait(t, fmt.Sprintf("client %d to get fence %d", c.c, k), func(l line) bool {
			return l.C == c.c && l.Ev == "event" && l.Event == "fence" && string(l.Args) == fmt.Sprintf("[%d]", k)
		})
	}
}

// received checks, after a fence, that exactly the clients want received
// event, each exactly once, with args when args is not empty.
func (f *fixture) received(event string, args string, want ...*client) {
	t := f.t
	t.Helper()
	f.fence()
	got := f.node.events(event)
	wantSet := map[int]bool{}
	for _, c := range want {
		wantSet[c.c] = true
	}
	for c, ls := range got {
		if !wantSet[c] {
			t.Errorf("%s: client %d received it %d times, want never", event, c, len(ls))
		}
	}
	for _, c := range want {
		ls := got[c.c]
		if len(ls) != 1 {
			t.Errorf("%s: client %d received it %d times, want once", event, c.c, len(ls))
			continue
		}
		if args != "" {
			jsonEqual(t, fmt.Sprintf("%s args of client %d", event, c.c), ls[0].Args, args)
		}
	}
}

// ---- helpers ----

func values(t *testing.T, vs ...any) []*structpb.Value {
	t.Helper()
	out := make([]*structpb.Value, len(vs))
	for i, v := range vs {
		pv, err := structpb.NewValue(v)
		if err != nil {
			t.Fatalf("structpb.NewValue(%v): %v", v, err)
		}
		out[i] = pv
	}
	return out
}

// jsonEqual checks that got, JSON text, means the same as want, whatever
// the key order and spacing.
func jsonEqual[T ~string | ~[]byte](t *testing.T, what string, got T, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Errorf("%s: %q is not JSON: %v", what, got, err)
		return
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("%s: want %q is not JSON: %v", what, want, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("%s = %s, want %s", what, got, want)
	}
}

func (f *fixture) emit(req *sbv1.EmitRequest) *sbv1.EmitResponse {
	f.t.Helper()
	resp, err := f.api.Emit(context.Background(), req)
	if err != nil {
		f.t.Fatalf("Emit(%v): %v", req, err)
	}
	return resp
}

func wantCode(t *testing.T, what string, err error, code codes.Code, msg string) {
	t.Helper()
	st, _ := status.FromError(err)
	if st.Code() != code || !strings.Contains(st.Message(), msg) {
		t.Errorf("%s: got %v %q, want %v with %q", what, st.Code(), st.Message(), code, msg)
	}
}

func sids(cs ...*client) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.sid
	}
	slices.Sort(out)
	return out
}

func (f *fixture) listSockets(req *sbv1.ListSocketsRequest) *sbv1.ListSocketsResponse {
	f.t.Helper()
	resp, err := f.api.ListSockets(context.Background(), req)
	if err != nil {
		f.t.Fatalf("ListSockets(%v): %v", req, err)
	}
	return resp
}

// mainNS lists the sockets of the main namespace "/".
var mainNS = &sbv1.ListSocketsRequest{Namespace: "/"}

func listedSIDs(resp *sbv1.ListSocketsResponse) []string {
	var out []string
	for _, s := range resp.Sockets {
		out = append(out, s.Sid)
	}
	return out
}

// ---- tests ----

// TestEmitTargets emits to every kind of target and checks that exactly
// the selected sockets receive the event, each once, across edges.
func TestEmitTargets(t *testing.T) {
	f := startCluster(t, options{})
	n := f.clients()
	auth := func(user string, rooms ...string) map[string]any {
		a := map[string]any{"rooms": rooms}
		if user != "" {
			a["user"] = user
		}
		return a
	}
	// Client i is on edge i%3. Users: alice on edges 0 and 2, bob on 1
	// and 2. Rooms a, b, c overlap; x is the except room.
	c0 := n.connect(0, dial{edge: 0, auth: auth("alice", "a"), transports: transportsFor(0)})
	c1 := n.connect(1, dial{edge: 1, auth: auth("bob", "a", "b"), transports: transportsFor(1)})
	c2 := n.connect(2, dial{edge: 2, auth: auth("alice", "b"), transports: transportsFor(2)})
	c3 := n.connect(3, dial{edge: 0, auth: auth("carol", "b", "x"), transports: transportsFor(3)})
	c4 := n.connect(4, dial{edge: 1, auth: auth("", "c"), transports: transportsFor(4)})
	c5 := n.connect(5, dial{edge: 2, auth: auth("bob"), transports: transportsFor(5)})
	chat := n.connect(6, dial{share: c0, ns: "/chat", auth: auth("alice", "a")})
	for _, c := range []*client{c0, c1, c2, c3, c4, c5} {
		if !strings.HasPrefix(c.sid, c.edgeID) {
			t.Fatalf("client %d: sid %q does not start with its edge id %q", c.c, c.sid, c.edgeID)
		}
	}

	t.Run("cluster info", func(t *testing.T) {
		// Edge 0 holds clients 0 and 3, and client 0's /chat socket on the
		// same connection.
		want := map[string][2]uint32{
			f.edges[0].ID(): {2, 3}, f.edges[1].ID(): {2, 2}, f.edges[2].ID(): {2, 2},
		}
		var ci *sbv1.ClusterInfoResponse
		eventually(t, "heartbeats to count every connection and socket", func() bool {
			var err error
			ci, err = f.api.ClusterInfo(context.Background(), &sbv1.ClusterInfoRequest{})
			if err != nil {
				t.Fatalf("ClusterInfo: %v", err)
			}
			got := map[string][2]uint32{}
			for _, e := range ci.Edges {
				got[e.Id] = [2]uint32{e.GetConnections(), e.GetSockets()}
			}
			return maps.Equal(got, want)
		})
		for i, e := range ci.Edges {
			te := f.edges[slices.Index(f.edgeIDs(), e.Id)]
			if i > 0 && ci.Edges[i-1].Id >= e.Id {
				t.Errorf("edges not sorted by id: %v", ci.Edges)
			}
			if e.Address != te.Addr().String() || e.Version != edge.Version || e.StartedAt == nil {
				t.Errorf("edge %v, want address %s, version %s", e, te.Addr(), edge.Version)
			}
			if age := time.Since(e.LastHeartbeat.AsTime()); age < 0 || age > time.Second {
				t.Errorf("edge %s: last heartbeat %v ago", e.Id, age)
			}
		}
		if ci.ControlVersion != control.Version {
			t.Errorf("control version %q", ci.ControlVersion)
		}
	})
	t.Run("namespace", func(t *testing.T) {
		// Without report: an empty answer, once the event is on the bus
		// (bus's TestBroadcastPlan checks the one namespace subject).
		resp := f.emit(&sbv1.EmitRequest{Event: "e-ns", Args: values(t, "hi", map[string]any{"n": 1})})
		if !proto.Equal(resp, &sbv1.EmitResponse{}) {
			t.Errorf("EmitResponse = %v, want it empty without report", resp)
		}
		f.received("e-ns", `["hi",{"n":1}]`, c0, c1, c2, c3, c4, c5)
	})
	t.Run("other namespace", func(t *testing.T) {
		f.emit(&sbv1.EmitRequest{Target: &sbv1.Target{Namespace: "/chat"}, Event: "e-chat"})
		f.received("e-chat", `[]`, chat)
		// Room a of /chat holds only the /chat socket.
		f.emit(&sbv1.EmitRequest{Target: &sbv1.Target{Namespace: "/chat", Rooms: []string{"a"}}, Event: "e-chat-a"})
		f.received("e-chat-a", `[]`, chat)
	})
	t.Run("one room", func(t *testing.T) {
		f.emit(&sbv1.EmitRequest{Target: &sbv1.Target{Rooms: []string{"a"}}, Event: "e-a", Args: values(t, 1)})
		f.received("e-a", `[1]`, c0, c1)
	})
	t.Run("overlapping rooms except", func(t *testing.T) {
		// One subject per room (bus's TestBroadcastPlan), each socket once.
		f.emit(&sbv1.EmitRequest{
			Target: &sbv1.Target{Rooms: []string{"a", "b", "c"}, ExceptRooms: []string{"x"}},
			Event:  "e-abc",
		})
		// c1 is in a and b: once. c3 is in b but also in x: never.
		f.received("e-abc", `[]`, c0, c1, c2, c4)
	})
	t.Run("sids", func(t *testing.T) {
		// deliveries: the edges that selected sockets, sorted, with their
		// socket counts.
		deliveries := func(resp *sbv1.EmitResponse) map[string]uint32 {
			t.Helper()
			out := map[string]uint32{}
			for i, d := range resp.Deliveries {
				if i > 0 && resp.Deliveries[i-1].EdgeId >= d.EdgeId {
					t.Errorf("deliveries not sorted by edge: %v", resp.Deliveries)
				}
				out[d.EdgeId] = d.GetSockets()
			}
			return out
		}
		resp := f.emit(&sbv1.EmitRequest{Target: &sbv1.Target{Sids: []string{c1.sid, c3.sid, c2.sid}}, Event: "e-sids", Report: true})
		want := map[string]uint32{c1.edgeID: 1, c2.edgeID: 1, c3.edgeID: 1}
		if got := deliveries(resp); resp.GetSockets() != 3 || resp.Sockets == nil || !maps.Equal(got, want) || len(resp.MissingEdges) != 0 {
			t.Errorf("EmitResponse = %v, want 3 sockets, one on each of the 3 edges", resp)
		}
		f.received("e-sids", `[]`, c1, c2, c3)
		// Two sids on one edge: one edge, both sockets.
		resp = f.emit(&sbv1.EmitRequest{Target: &sbv1.Target{Sids: []string{c0.sid, c3.sid}}, Event: "e-sids-0", Report: true})
		if got := deliveries(resp); resp.GetSockets() != 2 || !maps.Equal(got, map[string]uint32{c0.edgeID: 2}) {
			t.Errorf("EmitResponse = %v, want 1 edge, 2 sockets", resp)
		}
		f.received("e-sids-0", `[]`, c0, c3)
		// The sid of a socket that is gone: its edge delivers to nobody.
		gone := c0.edgeID + "zzzzzzzzzzzz"
		resp = f.emit(&sbv1.EmitRequest{Target: &sbv1.Target{Sids: []string{gone}}, Event: "e-gone", Report: true})
		if resp.Sockets == nil || *resp.Sockets != 0 || len(resp.Deliveries) != 0 || len(resp.MissingEdges) != 0 {
			t.Errorf("EmitResponse = %v, want 0 sockets, no deliveries", resp)
		}
		f.received("e-gone", "")
	})
	t.Run("own room", func(t *testing.T) {
		// Every socket is in the room named by its id: io.to(socket.id).
		// No edge subscribes to a sid's room: the plan adds the sid's edge
		// subject (bus's TestBroadcastPlan), and c2 gets the event once.
		f.emit(&sbv1.EmitRequest{Target: &sbv1.Target{Rooms: []string{c2.sid}}, Event: "e-own"})
		f.received("e-own", `[]`, c2)
		f.emit(&sbv1.EmitRequest{Target: &sbv1.Target{Rooms: []string{c1.sid, "a", c4.sid}, ExceptRooms: []string{c0.sid}}, Event: "e-own-a"})
		f.received("e-own-a", `[]`, c1, c4)
	})
	t.Run("users", func(t *testing.T) {
		f.emit(&sbv1.EmitRequest{Target: &sbv1.Target{Users: []string{"alice"}}, Event: "e-alice"})
		f.received("e-alice", `[]`, c0, c2)
		// c2 (alice) and c1 (bob) are in b.
		f.emit(&sbv1.EmitRequest{Target: &sbv1.Target{Users: []string{"alice", "bob"}, ExceptRooms: []string{"b"}}, Event: "e-ab"})
		f.received("e-ab", `[]`, c0, c5)
	})
	t.Run("mixed", func(t *testing.T) {
		f.emit(&sbv1.EmitRequest{
			Target: &sbv1.Target{Rooms: []string{"c", "a"}, Sids: []string{c0.sid, c5.sid}, Users: []string{"carol", "bob"}},
			Event:  "e-mixed",
		})
		f.received("e-mixed", `[]`, c0, c1, c3, c4, c5)
	})
	t.Run("binary", func(t *testing.T) {
		ph := func(n int) map[string]any { return map[string]any{"_placeholder": true, "num": n} }
		f.emit(&sbv1.EmitRequest{
			Target: &sbv1.Target{Rooms: []string{"b"}},
			Event:  "e-bin",
			Args:   values(t, "file", ph(0), map[string]any{"nested": []any{ph(1)}}),
			Binary: [][]byte{{1, 2, 3}, {255}},
		})
		f.received("e-bin", `["file",{"$bin":"AQID"},{"nested":[{"$bin":"/w=="}]}]`, c1, c2, c3)
	})
	t.Run("args_json", func(t *testing.T) {
		f.emit(&sbv1.EmitRequest{Target: &sbv1.Target{Sids: []string{c4.sid}}, Event: "e-raw", ArgsJson: ` ["x",{"n":1.5},[1,2],null,"é🌍"] `})
		f.received("e-raw", `["x",{"n":1.5},[1,2],null,"é🌍"]`, c4)
	})
	t.Run("volatile", func(t *testing.T) {
		// A volatile event may be dropped for a socket whose transport is
		// busy, but never reaches another socket nor one twice.
		f.emit(&sbv1.EmitRequest{Target: &sbv1.Target{Rooms: []string{"a"}}, Event: "e-vol", Volatile: true})
		f.fence()
		for c, ls := range n.events("e-vol") {
			if (c != c0.c && c != c1.c) || len(ls) > 1 {
				t.Errorf("e-vol: client %d received it %d times", c, len(ls))
			}
		}
	})
}

// TestRooms joins and leaves rooms by room, user and sid across edges, and
// checks that ListSockets and ListRooms agree with what the clients see.
func TestRooms(t *testing.T) {
	f := startCluster(t, options{})
	n := f.clients()
	c0 := n.connect(0, dial{edge: 0, auth: map[string]any{"user": "alice", "data": map[string]any{"plan": "pro"}}, query: map[string]any{"room": "x y", "v": "1"}})
	c1 := n.connect(1, dial{edge: 1, auth: map[string]any{"user": "bob"}, transports: []string{"websocket"}})
	c2 := n.connect(2, dial{edge: 2, auth: map[string]any{"user": "bob"}, transports: []string{"polling"}})
	c3 := n.connect(3, dial{edge: 0, auth: map[string]any{"user": "carol", "rooms": []any{"lobby"}}})
	c4 := n.connect(4, dial{edge: 1, auth: map[string]any{"rooms": []any{"lobby"}}})
	all := []*client{c0, c1, c2, c3, c4}
	ctx := context.Background()

	join := func(tg *sbv1.Target, want uint32, rooms ...string) {
		t.Helper()
		resp, err := f.api.JoinRoom(ctx, &sbv1.JoinRoomRequest{Target: tg, Rooms: rooms})
		if err != nil {
			t.Fatalf("JoinRoom: %v", err)
		}
		if resp.Sockets == nil || *resp.Sockets != want || len(resp.MissingEdges) != 0 {
			t.Errorf("JoinRoom(%v, %v) = %v, want %d sockets", tg, rooms, resp, want)
		}
	}
	leave := func(tg *sbv1.Target, want uint32, rooms ...string) {
		t.Helper()
		resp, err := f.api.LeaveRoom(ctx, &sbv1.LeaveRoomRequest{Target: tg, Rooms: rooms})
		if err != nil {
			t.Fatalf("LeaveRoom: %v", err)
		}
		if resp.Sockets == nil || *resp.Sockets != want || len(resp.MissingEdges) != 0 {
			t.Errorf("LeaveRoom(%v, %v) = %v, want %d sockets", tg, rooms, resp, want)
		}
	}
	rooms := func(want string) {
		t.Helper()
		resp, err := f.api.ListRooms(ctx, &sbv1.ListRoomsRequest{})
		if err != nil {
			t.Fatalf("ListRooms: %v", err)
		}
		var got []string
		for _, r := range resp.Rooms {
			if r.Sockets == nil {
				t.Errorf("room %q: sockets unset", r.Name)
			}
			got = append(got, fmt.Sprintf("%s:%d", r.Name, r.GetSockets()))
		}
		if strings.Join(got, " ") != want || len(resp.MissingEdges) != 0 {
			t.Errorf("ListRooms = %v (missing %v), want %s", got, resp.MissingEdges, want)
		}
	}
	list := func(req *sbv1.ListSocketsRequest, want ...*client) {
		t.Helper()
		resp := f.listSockets(req)
		if got := listedSIDs(resp); !slices.Equal(got, sids(want...)) || len(resp.MissingEdges) != 0 || resp.GetTotal() != uint32(len(want)) {
			t.Errorf("ListSockets(%v) = %v (total %d, missing %v), want %v", req, got, resp.GetTotal(), resp.MissingEdges, sids(want...))
		}
	}

	join(&sbv1.Target{Rooms: []string{"lobby"}}, 2, "game")
	join(&sbv1.Target{Users: []string{"bob"}}, 2, "vip", "game")
	join(&sbv1.Target{Sids: []string{c0.sid}}, 1, "solo")
	f.emit(&sbv1.EmitRequest{Target: &sbv1.Target{Rooms: []string{"vip"}}, Event: "e-vip"})
	f.received("e-vip", `[]`, c1, c2)
	f.emit(&sbv1.EmitRequest{Target: &sbv1.Target{Rooms: []string{"game"}}, Event: "e-game"})
	f.received("e-game", `[]`, c1, c2, c3, c4)
	f.emit(&sbv1.EmitRequest{Target: &sbv1.Target{Rooms: []string{"solo"}}, Event: "e-solo"})
	f.received("e-solo", `[]`, c0)
	rooms("game:4 lobby:2 solo:1 vip:2")

	// Every field of every socket, as the clients know them.
	wantRooms := map[*client][]string{
		c0: {"solo"}, c1: {"game", "vip"}, c2: {"game", "vip"}, c3: {"game", "lobby"}, c4: {"game", "lobby"},
	}
	resp := f.listSockets(mainNS)
	if got := listedSIDs(resp); !slices.Equal(got, sids(all...)) {
		t.Fatalf("ListSockets = %v, want %v", got, sids(all...))
	}
	bySID := map[string]*sbv1.Socket{}
	for _, s := range resp.Sockets {
		bySID[s.Sid] = s
	}
	for _, c := range all {
		s := bySID[c.sid]
		if s.Namespace != "/" || s.EdgeId != c.edgeID {
			t.Errorf("client %d: namespace %q edge %q, want / and %q", c.c, s.Namespace, s.EdgeId, c.edgeID)
		}
		if want := append([]string{c.sid}, wantRooms[c]...); !slices.Equal(s.Rooms, want) {
			t.Errorf("client %d: rooms %v, want %v", c.c, s.Rooms, want)
		}
		if user, _ := c.auth["user"].(string); s.User != user {
			t.Errorf("client %d: user %q, want %q", c.c, s.User, user)
		}
		authJSON, _ := json.Marshal(c.auth)
		jsonEqual(t, fmt.Sprintf("client %d handshake auth", c.c), s.GetHandshake().GetAuthJson(), string(authJSON))
		hs := s.GetHandshake()
		if !strings.HasPrefix(hs.RemoteAddress, "127.0.0.1:") || hs.ConnectedAt == nil {
			t.Errorf("client %d: handshake %v", c.c, hs)
		}
	}
	if got := bySID[c1.sid].Handshake.Transport; got != sbv1.Transport_TRANSPORT_WEBSOCKET {
		t.Errorf("client 1 transport = %v, want WEBSOCKET", got)
	}
	if got := bySID[c2.sid].Handshake.Transport; got != sbv1.Transport_TRANSPORT_POLLING {
		t.Errorf("client 2 transport = %v, want POLLING", got)
	}
	if q := bySID[c0.sid].Handshake.Query; q["room"] != "x y" || q["v"] != "1" {
		t.Errorf("client 0 handshake query = %v", q)
	}
	jsonEqual(t, "client 0 data", bySID[c0.sid].GetDataJson(), `{"plan":"pro"}`)
	if bySID[c1.sid].DataJson != "" {
		t.Errorf("client 1 data = %s, want none", bySID[c1.sid].DataJson)
	}

	// ListSockets filters by one room, user or sid; set together, they
	// combine (a socket matches every one).
	list(&sbv1.ListSocketsRequest{Room: "vip"}, c1, c2)
	list(&sbv1.ListSocketsRequest{User: "alice"}, c0)
	list(&sbv1.ListSocketsRequest{User: "carol"}, c3)
	list(&sbv1.ListSocketsRequest{User: "bob", Room: "vip"}, c1, c2)
	list(&sbv1.ListSocketsRequest{User: "carol", Room: "vip"})
	list(&sbv1.ListSocketsRequest{Sid: c2.sid}, c2)
	list(&sbv1.ListSocketsRequest{Sid: c4.sid, Room: "lobby"}, c4)
	list(&sbv1.ListSocketsRequest{Sid: c4.sid, Room: "vip"})
	list(&sbv1.ListSocketsRequest{Room: "game", User: "carol"}, c3)
	list(&sbv1.ListSocketsRequest{Namespace: "/chat"})

	leave(&sbv1.Target{Users: []string{"bob"}}, 2, "vip")
	leave(&sbv1.Target{Rooms: []string{"game"}}, 4, "game")
	leave(&sbv1.Target{Sids: []string{c0.sid}}, 1, "solo", "not-in-it")
	f.emit(&sbv1.EmitRequest{Target: &sbv1.Target{Rooms: []string{"vip", "game", "solo"}}, Event: "e-left"})
	f.received("e-left", "")
	rooms("lobby:2")
	list(&sbv1.ListSocketsRequest{Room: "game"})
	list(&sbv1.ListSocketsRequest{Room: "lobby"}, c3, c4)
}

// jsonField is member key of the JSON object in text when it is a string,
// else "".
func jsonField(t *testing.T, text, key string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(text), &m); err != nil {
		t.Errorf("%q is not a JSON object: %v", text, err)
	}
	s, _ := m[key].(string)
	return s
}

// TestDisconnect disconnects a namespace socket alone, then a whole
// connection.
func TestDisconnect(t *testing.T) {
	f := startCluster(t, options{})
	n := f.clients()
	c0 := n.connect(0, dial{edge: 0})
	c0chat := n.connect(1, dial{share: c0, ns: "/chat"})
	c2 := n.connect(2, dial{edge: 1, auth: map[string]any{"user": "dave"}, transports: []string{"websocket"}})
	c2chat := n.connect(3, dial{share: c2, ns: "/chat", auth: map[string]any{"user": "dave"}})
	c4 := n.connect(4, dial{edge: 2})
	ctx := context.Background()

	// close_connection false: only the "/" socket of client 0 goes; its
	// /chat socket on the same connection stays.
	resp, err := f.api.Disconnect(ctx, &sbv1.DisconnectRequest{Target: &sbv1.Target{Sids: []string{c0.sid}}})
	if err != nil || resp.Sockets == nil || *resp.Sockets != 1 {
		t.Fatalf("Disconnect = %v, %v; want 1 socket", resp, err)
	}
	if reason := n.disconnected(c0.c); reason != "io server disconnect" {
		t.Errorf("client 0 disconnect reason %q, want \"io server disconnect\"", reason)
	}
	ev := f.life.Wait(t, "client 0's disconnect", disconnectedSID(c0.sid)).GetDisconnected()
	if ev.Reason != "server namespace disconnect" || ev.EdgeId != c0.edgeID || ev.Namespace != "/" {
		t.Errorf("disconnected = %v", ev)
	}
	f.emit(&sbv1.EmitRequest{Target: &sbv1.Target{Namespace: "/chat"}, Event: "still-here"})
	f.received("still-here", `[]`, c0chat, c2chat)

	// close_connection true: every socket of dave's connection goes.
	resp, err = f.api.Disconnect(ctx, &sbv1.DisconnectRequest{Target: &sbv1.Target{Users: []string{"dave"}}, CloseConnection: true})
	if err != nil || resp.Sockets == nil || *resp.Sockets != 1 {
		t.Fatalf("Disconnect = %v, %v; want 1 socket", resp, err)
	}
	if reason := n.disconnected(c2.c); reason != "io server disconnect" {
		t.Errorf("client 2 disconnect reason %q, want \"io server disconnect\"", reason)
	}
	if reason := n.disconnected(c2chat.c); reason != "io server disconnect" && reason != "transport close" {
		t.Errorf("client 3 (/chat on the closed connection) disconnect reason %q", reason)
	}
	f.life.Wait(t, "client 2's disconnect", disconnectedSID(c2.sid))
	f.life.Wait(t, "client 3's disconnect", disconnectedSID(c2chat.sid))

	if got := listedSIDs(f.listSockets(mainNS)); !slices.Equal(got, sids(c4)) {
		t.Errorf("ListSockets / = %v, want %v", got, sids(c4))
	}
	if got := listedSIDs(f.listSockets(&sbv1.ListSocketsRequest{Namespace: "/chat"})); !slices.Equal(got, sids(c0chat)) {
		t.Errorf("ListSockets /chat = %v, want %v", got, sids(c0chat))
	}
	if got := listedSIDs(f.listSockets(&sbv1.ListSocketsRequest{})); !slices.Equal(got, sids(c0chat, c4)) {
		t.Errorf("ListSockets of every namespace = %v, want %v", got, sids(c0chat, c4))
	}
	// Nothing selected: nothing happens.
	resp, err = f.api.Disconnect(ctx, &sbv1.DisconnectRequest{Target: &sbv1.Target{Rooms: []string{"nobody"}}, CloseConnection: true})
	if err != nil || resp.Sockets == nil || *resp.Sockets != 0 {
		t.Errorf("Disconnect(nobody) = %v, %v; want 0 sockets", resp, err)
	}
	f.fence() // everyone else is still connected
}

// TestEmitWithAck collects acks from sockets on different edges and names
// the one that did not answer in time.
func TestEmitWithAck(t *testing.T) {
	f := startCluster(t, options{})
	n := f.clients()
	c0 := n.connect(0, dial{edge: 0})
	c1 := n.connect(1, dial{edge: 1, transports: []string{"websocket"}})
	c2 := n.connect(2, dial{edge: 2, noAck: true})
	c3 := n.connect(3, dial{edge: 2, ns: "/chat"})
	ctx := context.Background()

	const timeout = 800 * time.Millisecond
	start := time.Now()
	resp, err := f.api.EmitWithAck(ctx, &sbv1.EmitWithAckRequest{
		Event: "ask", Args: values(t, "q", 1), Timeout: durationpb.New(timeout),
	})
	elapsed := time.Since(start)
	if err != nil {
		t.Fatalf("EmitWithAck: %v", err)
	}
	if elapsed < timeout || elapsed > timeout+time.Second {
		t.Errorf("EmitWithAck took %v, want the %v timeout", elapsed, timeout)
	}
	if len(resp.Acks) != 2 {
		t.Fatalf("acks = %v, want 2", resp.Acks)
	}
	for _, a := range resp.Acks {
		var c *client
		switch a.Sid {
		case c0.sid:
			c = c0
		case c1.sid:
			c = c1
		default:
			t.Fatalf("ack from %q", a.Sid)
		}
		if a.EdgeId != c.edgeID {
			t.Errorf("ack of client %d: edge %q, want %q", c.c, a.EdgeId, c.edgeID)
		}
		if got, want := a.ArgsJson, fmt.Sprintf(`["pong",%d]`, c.c); got != want {
			t.Errorf("ack of client %d: args %s, want %s", c.c, got, want)
		}
	}
	if !slices.Equal(resp.TimedOutSids, []string{c2.sid}) || len(resp.MissingEdges) != 0 {
		t.Errorf("timed out %v, missing %v; want [%s] and none", resp.TimedOutSids, resp.MissingEdges, c2.sid)
	}
	for _, c := range []*client{c0, c1, c2} {
		ls := n.events("ask")[c.c]
		if len(ls) != 1 || !ls[0].Asked {
			t.Errorf("client %d got ask %v, want once with an ack callback", c.c, ls)
		}
	}
	f.received("ask", `["q",1]`, c0, c1, c2)

	// Sids only: answered by both edges as soon as the clients ack.
	start = time.Now()
	resp, err = f.api.EmitWithAck(ctx, &sbv1.EmitWithAckRequest{
		Target: &sbv1.Target{Sids: []string{c0.sid, c1.sid}}, Event: "ask2", Timeout: durationpb.New(3 * time.Second),
	})
	if err != nil {
		t.Fatalf("EmitWithAck: %v", err)
	}
	if len(resp.Acks) != 2 || len(resp.TimedOutSids) != 0 || len(resp.MissingEdges) != 0 {
		t.Errorf("EmitWithAck(sids) = %v, want 2 acks", resp)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("EmitWithAck(sids) took %v, want no wait for the timeout", d)
	}

	// Binary in the request; the /chat socket answers from its namespace.
	resp, err = f.api.EmitWithAck(ctx, &sbv1.EmitWithAckRequest{
		Target: &sbv1.Target{Namespace: "/chat"}, Event: "ask-bin",
		Args:   values(t, map[string]any{"_placeholder": true, "num": 0}),
		Binary: [][]byte{{7, 7}},
	})
	if err != nil || len(resp.Acks) != 1 || resp.Acks[0].Sid != c3.sid || len(resp.TimedOutSids) != 0 {
		t.Fatalf("EmitWithAck(/chat) = %v, %v; want client 3's ack", resp, err)
	}
	f.received("ask-bin", `[{"$bin":"Bwc="}]`, c3)

	// The call's deadline comes before the 5s default timeout: the answer
	// still comes in time, naming the socket that did not ack.
	dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	resp, err = f.api.EmitWithAck(dctx, &sbv1.EmitWithAckRequest{Target: &sbv1.Target{Sids: []string{c0.sid, c2.sid}}, Event: "ask4"})
	cancel()
	if err != nil || len(resp.Acks) != 1 || resp.Acks[0].Sid != c0.sid || !slices.Equal(resp.TimedOutSids, []string{c2.sid}) {
		t.Errorf("EmitWithAck within a 2s deadline = %v, %v; want client 0's ack and client 2 timed out", resp, err)
	}

	// Nobody selected: an empty answer, at once.
	start = time.Now()
	resp, err = f.api.EmitWithAck(ctx, &sbv1.EmitWithAckRequest{Target: &sbv1.Target{Rooms: []string{"empty"}}, Event: "ask3"})
	if err != nil || len(resp.Acks)+len(resp.TimedOutSids)+len(resp.MissingEdges) != 0 {
		t.Errorf("EmitWithAck(empty room) = %v, %v; want nothing", resp, err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("EmitWithAck(empty room) took %v", d)
	}
}

// TestSubscribe streams client events and lifecycle, and answers a client's
// ack through the Ack RPC.
func TestSubscribe(t *testing.T) {
	f := startCluster(t, options{})
	n := f.clients()
	ctx := context.Background()
	all := f.subscribe(&sbv1.SubscribeRequest{Namespaces: []string{"/"}})
	chatOnly := f.subscribe(&sbv1.SubscribeRequest{Events: []string{"chat"}, Kinds: []sbv1.EventKind{sbv1.EventKind_EVENT_KIND_CLIENT_EVENT}})
	eventsOnly := f.subscribe(&sbv1.SubscribeRequest{Kinds: []sbv1.EventKind{sbv1.EventKind_EVENT_KIND_CLIENT_EVENT}})
	other := f.subscribe(&sbv1.SubscribeRequest{Namespaces: []string{"/other"}})
	twice := f.subscribe(&sbv1.SubscribeRequest{Namespaces: []string{"/", "/"}, Events: []string{"chat", "chat"}})
	workers := []*feed[*sbv1.SubscribeResponse]{
		f.subscribe(&sbv1.SubscribeRequest{QueueGroup: "workers", Events: []string{"job"}}),
		f.subscribe(&sbv1.SubscribeRequest{QueueGroup: "workers", Events: []string{"job"}}),
	}

	c0 := n.connect(0, dial{edge: 1, auth: map[string]any{"user": "alice", "hint": "t0"}})
	conn := all.Wait(t, "client 0's connect", connectedSID(c0.sid)).GetConnected().GetSocket()
	if conn.EdgeId != c0.edgeID || conn.User != "alice" || conn.Namespace != "/" || jsonField(t, conn.GetHandshake().GetAuthJson(), "hint") != "t0" {
		t.Errorf("connected = %v", conn)
	}

	event := func(fd *feed[*sbv1.SubscribeResponse], name string) *sbv1.ClientEvent {
		t.Helper()
		return fd.Wait(t, "client event "+name, func(r *sbv1.SubscribeResponse) bool {
			return r.GetClientEvent().GetEvent() == name
		}).GetClientEvent()
	}

	n.emit(c0.c, "other", -1)
	n.emit(c0.c, "chat", -1, "hi", map[string]any{"n": 1})
	ev := event(all, "chat")
	if ev.Sid != c0.sid || ev.EdgeId != c0.edgeID || ev.User != "alice" || ev.Namespace != "/" || ev.AckToken != "" || ev.ReceivedAt == nil {
		t.Errorf("client event = %v", ev)
	}
	if got := ev.ArgsJson; got != `["hi",{"n":1}]` {
		t.Errorf("client event args_json = %s", got)
	}
	event(all, "other")
	event(chatOnly, "chat")
	event(twice, "chat")
	if got := chatOnly.Matching(func(r *sbv1.SubscribeResponse) bool { return r.GetClientEvent().GetEvent() != "chat" }); len(got) != 0 {
		t.Errorf("the chat-only stream got %v", got)
	}
	jsonEqual(t, "args_json on the client-events stream", event(eventsOnly, "chat").ArgsJson, `["hi",{"n":1}]`)
	if got := eventsOnly.Matching(func(r *sbv1.SubscribeResponse) bool { return r.GetClientEvent() == nil }); len(got) != 0 {
		t.Errorf("the client-events stream got %v", got)
	}

	// Binary from the client.
	n.emit(c0.c, "upload", -1, "name", map[string]any{"$bin": "AQID"})
	up := event(all, "upload")
	if up.ArgsJson != `["name",{"_placeholder":true,"num":0}]` || len(up.Binary) != 1 || !bytes.Equal(up.Binary[0], []byte{1, 2, 3}) {
		t.Errorf("upload = %v", up)
	}

	// An event with an ack, answered through the Ack RPC.
	n.emit(c0.c, "ask", 7, 1, "q")
	ask := event(all, "ask")
	if ask.AckToken == "" || ask.ArgsJson != `[1,"q"]` {
		t.Fatalf("ask = %v, want an ack token", ask)
	}
	if _, err := f.api.Ack(ctx, &sbv1.AckRequest{AckToken: ask.AckToken, Args: values(t, "answer", map[string]any{"ok": true})}); err != nil {
		t.Fatalf("Ack: %v", err)
	}
	got := n.lines.Wait(t, "client 0's ack callback", func(l line) bool { return l.Ev == "ack" && l.C == 0 && l.ID == 7 })
	jsonEqual(t, "ack callback args", got.Args, `["answer",{"ok":true}]`)
	_, err := f.api.Ack(ctx, &sbv1.AckRequest{AckToken: ask.AckToken, Args: values(t, "again")})
	wantCode(t, "Ack with a used token", err, codes.NotFound, "")

	// An ack with binary and raw JSON args.
	n.emit(c0.c, "ask", 8, 2)
	ask2 := all.Wait(t, "the second ask", func(r *sbv1.SubscribeResponse) bool {
		ce := r.GetClientEvent()
		return ce.GetEvent() == "ask" && ce.GetAckToken() != ask.AckToken
	}).GetClientEvent()
	if _, err := f.api.Ack(ctx, &sbv1.AckRequest{AckToken: ask2.AckToken, ArgsJson: `["bin",{"_placeholder":true,"num":0}]`, Binary: [][]byte{{9}}}); err != nil {
		t.Fatalf("Ack: %v", err)
	}
	got = n.lines.Wait(t, "client 0's second ack callback", func(l line) bool { return l.Ev == "ack" && l.C == 0 && l.ID == 8 })
	jsonEqual(t, "second ack callback args", got.Args, `["bin",{"$bin":"CQ=="}]`)

	// Unknown and malformed tokens.
	for _, tok := range []string{
		"sb.v1.ack." + c0.edgeID + "." + bus.NewAckID(), // the edge lives, the ack does not
		"sb.v1.ack.zzzzzzzz." + bus.NewAckID(),          // no such edge
	} {
		_, err := f.api.Ack(ctx, &sbv1.AckRequest{AckToken: tok})
		wantCode(t, "Ack "+tok, err, codes.NotFound, "")
	}
	for _, tok := range []string{
		"", "hello", "sb.v1.ack.", "sb.v1.ack." + c0.edgeID + ".*", "sb.v1.ack.>", "sb.v1.ack." + c0.edgeID + ".1\t",
		"sb.v1.ack." + c0.edgeID + ".1.2", "sb.v1.event.x.y", "other.v1.ack.abcdefgh.1",
		"sb.v1.ack." + c0.edgeID + ".1", // a guessable id: edges issue 128 random bits
	} {
		_, err := f.api.Ack(ctx, &sbv1.AckRequest{AckToken: tok})
		wantCode(t, fmt.Sprintf("Ack %q", tok), err, codes.InvalidArgument, "ack_token")
	}

	// Queue groups share the events: each job goes to one worker stream.
	const jobs = 10
	for i := range jobs {
		n.emit(c0.c, "job", -1, i)
	}
	all.WaitN(t, "every job on the plain stream", jobs, func(r *sbv1.SubscribeResponse) bool { return r.GetClientEvent().GetEvent() == "job" })
	counts := map[string]int{}
	isJob := func(r *sbv1.SubscribeResponse) bool { return r.GetClientEvent().GetEvent() == "job" }
	eventually(t, "the workers to get every job", func() bool {
		return len(workers[0].Matching(isJob))+len(workers[1].Matching(isJob)) >= jobs
	})
	for _, w := range workers {
		for _, r := range w.Matching(isJob) {
			counts[r.GetClientEvent().GetArgsJson()]++
		}
	}
	for i := range jobs {
		if c := counts[fmt.Sprintf("[%d]", i)]; c != 1 {
			t.Errorf("job %d reached the workers %d times, want once", i, c)
		}
	}

	// A client the connect hook refuses gets CONNECT_ERROR; no connect is
	// streamed for it.
	n.send(map[string]any{"op": "connect", "c": 1, "url": f.edges[1].url, "auth": map[string]any{"deny": "not you"}})
	refused := n.lines.Wait(t, "client 1 to be refused", func(l line) bool {
		return l.C == 1 && (l.Ev == "connect" || l.Ev == "connect_error")
	})
	if refused.Ev != "connect_error" || refused.Message != "not you" {
		t.Errorf("client 1: %s, want connect_error \"not you\"", refused.raw)
	}

	// An ask left unanswered, then the client disconnects: seen with its
	// reason, and its ack can no longer be delivered.
	n.emit(c0.c, "last-ask", 9)
	last := event(all, "last-ask")
	n.send(map[string]any{"op": "disconnect", "c": c0.c})
	n.disconnected(c0.c)
	dis := all.Wait(t, "client 0's disconnect", disconnectedSID(c0.sid)).GetDisconnected()
	if dis.Reason != "client namespace disconnect" || dis.EdgeId != c0.edgeID || dis.User != "alice" || dis.Namespace != "/" {
		t.Errorf("disconnected = %v", dis)
	}
	if len(dis.Rooms) == 0 || dis.Rooms[0] != c0.sid {
		t.Errorf("disconnected rooms %v, want the rooms it was in, its own first", dis.Rooms)
	}
	_, err = f.api.Ack(ctx, &sbv1.AckRequest{AckToken: last.AckToken})
	wantCode(t, "Ack after the client left", err, codes.NotFound, "")

	// Nothing reached the /other stream; the stream that named "/" and
	// "chat" twice got each chat event once.
	if got := other.Matching(func(*sbv1.SubscribeResponse) bool { return true }); len(got) != 0 {
		t.Errorf("the /other stream got %v", got)
	}
	if got := all.Matching(func(r *sbv1.SubscribeResponse) bool { return r.GetConnected() != nil }); len(got) != 1 {
		t.Errorf("connects streamed: %v, want client 0's alone", got)
	}
	twice.Wait(t, "client 0's disconnect on the stream with repeated filters", disconnectedSID(c0.sid))
	var kinds []string
	for _, r := range twice.Matching(func(*sbv1.SubscribeResponse) bool { return true }) {
		switch {
		case r.GetClientEvent() != nil:
			kinds = append(kinds, r.GetClientEvent().Event)
		case r.GetConnected() != nil:
			kinds = append(kinds, "(connect)")
		case r.GetDisconnected() != nil:
			kinds = append(kinds, "(disconnect)")
		}
	}
	if want := []string{"(connect)", "chat", "(disconnect)"}; !slices.Equal(kinds, want) {
		t.Errorf("the stream with repeated filters got %v, want %v", kinds, want)
	}
}

// TestEdgeStops stops an edge gracefully: control forgets it at once (its
// last heartbeat says so), its clients are disconnected and the others keep
// being served.
func TestEdgeStops(t *testing.T) {
	// A long heartbeat: forgetting the edge by missed heartbeats would take
	// 3s, so a quick drop can only come from its goodbye.
	f := startCluster(t, options{heartbeat: time.Second})
	n := f.clients()
	c0 := n.connect(0, dial{edge: 0})
	c1 := n.connect(1, dial{edge: 1})
	c2 := n.connect(2, dial{edge: 2, transports: []string{"websocket"}})
	c3 := n.connect(3, dial{edge: 2, transports: []string{"polling"}})

	f.edges[2].stop()
	start := time.Now()
	f.waitEdges(f.edges[0].ID(), f.edges[1].ID())
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("ClusterInfo dropped the stopped edge after %v, want at once", d)
	}
	if reason := n.disconnected(c2.c); reason != "transport close" {
		t.Errorf("client 2 disconnect reason %q, want \"transport close\"", reason)
	}
	// A polling client gets the close packet from its pending GET; one
	// whose edge stopped between two GETs may find the listener closed.
	if reason := n.disconnected(c3.c); reason != "transport close" && reason != "transport error" {
		t.Errorf("client 3 disconnect reason %q, want \"transport close\" or \"transport error\"", reason)
	}
	for _, c := range []*client{c2, c3} {
		if ev := f.life.Wait(t, "the disconnect", disconnectedSID(c.sid)).GetDisconnected(); ev.Reason != "server draining" {
			t.Errorf("client %d disconnected with %q, want \"server draining\"", c.c, ev.Reason)
		}
	}
	start = time.Now()
	resp := f.listSockets(mainNS)
	if got := listedSIDs(resp); !slices.Equal(got, sids(c0, c1)) || len(resp.MissingEdges) != 0 {
		t.Errorf("ListSockets = %v (missing %v), want %v", got, resp.MissingEdges, sids(c0, c1))
	}
	if d := time.Since(start); d >= gatherTimeout {
		t.Errorf("ListSockets took %v: it waited for the stopped edge", d)
	}
	f.emit(&sbv1.EmitRequest{Event: "after"})
	f.received("after", `[]`, c0, c1)
}

// startEdgeProcess runs the edge binary as edge id against natsURL with
// heartbeat. kill SIGKILLs it, waits for its exit and returns when the
// signal was sent; the process is killed when the test ends if not before,
// and its stderr logged if the test failed.
func startEdgeProcess(t *testing.T, natsURL, heartbeat, id string) (kill func() time.Time) {
	t.Helper()
	var stderr bytes.Buffer
	proc := exec.Command(repotest.Bin(t, "edge"), "--nats-url", natsURL, "--addr", "127.0.0.1:0",
		"--heartbeat", heartbeat, "--edge-id", id, "--log-level", "warn")
	proc.Stderr = &stderr
	if err := proc.Start(); err != nil {
		t.Fatalf("start edge: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = proc.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = proc.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("edge process stderr:\n%s", stderr.String())
		}
	})
	return func() time.Time {
		t.Helper()
		if err := proc.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatalf("kill the edge: %v", err)
		}
		killed := time.Now()
		<-exited
		return killed
	}
}

// TestEdgeCrash kills an edge process: the other edges keep serving, and
// control forgets the dead one within three heartbeats.
func TestEdgeCrash(t *testing.T) {
	f := startCluster(t, options{})
	n := f.clients()
	const deadID = "abcdefgh"
	kill := startEdgeProcess(t, f.ctl.NATSURL(), "100ms", deadID)
	f.waitEdges(append(f.edgeIDs(), deadID)...)
	ci, err := f.api.ClusterInfo(context.Background(), &sbv1.ClusterInfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var deadURL string
	for _, e := range ci.Edges {
		if e.Id == deadID {
			deadURL = "http://" + e.Address
		}
	}

	c0 := n.connect(0, dial{edge: 0})
	c1 := n.connect(1, dial{edge: 1})
	c2 := n.connect(2, dial{edge: 2})
	c3 := n.connect(3, dial{url: deadURL, transports: []string{"websocket"}, noAck: true})
	c4 := n.connect(4, dial{url: deadURL, transports: []string{"polling"}})
	if !strings.HasPrefix(c3.sid, deadID) {
		t.Fatalf("client 3's sid %q is not from edge %s", c3.sid, deadID)
	}
	f.emit(&sbv1.EmitRequest{Event: "before"})
	f.received("before", `[]`, c0, c1, c2, c3, c4)

	// An EmitWithAck in flight when the edge dies: client 3 on it never
	// answers, so the edge would only have replied at the timeout.
	type ackResult struct {
		resp *sbv1.EmitWithAckResponse
		err  error
	}
	acked := make(chan ackResult, 1)
	go func() {
		resp, err := f.api.EmitWithAck(context.Background(), &sbv1.EmitWithAckRequest{Event: "ask", Timeout: durationpb.New(time.Second)})
		acked <- ackResult{resp, err}
	}()
	n.lines.WaitN(t, "every client to get the ask", 5, func(l line) bool { return l.Ev == "event" && l.Event == "ask" })

	killed := kill()
	// An EmitWithAck sent before control forgets the dead edge, with a
	// deadline shorter than its ack timeout (the default 5 s): it answers
	// before the deadline with the live edges' acks and the dead edge
	// missing. It used to wait for the dead edge until the deadline and
	// fail with DeadlineExceeded, all the acks gathered lost.
	type deadlineResult struct {
		ackResult
		took time.Duration
	}
	const callDeadline = 1500 * time.Millisecond
	shortAcked := make(chan deadlineResult, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), callDeadline)
		defer cancel()
		start := time.Now()
		resp, err := f.api.EmitWithAck(ctx, &sbv1.EmitWithAckRequest{Event: "ask2"})
		shortAcked <- deadlineResult{ackResult{resp, err}, time.Since(start)}
	}()

	// Until control forgets it, a gather may name it missing, never more.
	resp := f.listSockets(mainNS)
	if got := listedSIDs(resp); !slices.Equal(got, sids(c0, c1, c2)) {
		t.Errorf("ListSockets right after the crash = %v, want %v", got, sids(c0, c1, c2))
	}
	if len(resp.MissingEdges) > 0 && !slices.Equal(resp.MissingEdges, []string{deadID}) {
		t.Errorf("missing edges %v, want none or [%s]", resp.MissingEdges, deadID)
	}

	f.waitEdges(f.edgeIDs()...)
	if d := time.Since(killed); d > 3*100*time.Millisecond+gatherTimeout+500*time.Millisecond {
		t.Errorf("control forgot the dead edge after %v, want about 3 heartbeats", d)
	}
	start := time.Now()
	resp = f.listSockets(mainNS)
	if got := listedSIDs(resp); !slices.Equal(got, sids(c0, c1, c2)) || len(resp.MissingEdges) != 0 {
		t.Errorf("ListSockets = %v (missing %v), want %v", got, resp.MissingEdges, sids(c0, c1, c2))
	}
	if d := time.Since(start); d >= gatherTimeout {
		t.Errorf("ListSockets took %v: it waited for the dead edge", d)
	}
	for _, c := range []*client{c3, c4} {
		if reason := n.disconnected(c.c); reason != "transport close" && reason != "transport error" {
			t.Errorf("client %d disconnect reason %q", c.c, reason)
		}
	}
	f.emit(&sbv1.EmitRequest{Event: "after"})
	f.received("after", `[]`, c0, c1, c2)

	// The edge that died is missing; its sockets are neither acked nor
	// timed out.
	r := <-acked
	if r.err != nil {
		t.Fatalf("EmitWithAck: %v", r.err)
	}
	var ackSIDs []string
	for _, a := range r.resp.Acks {
		ackSIDs = append(ackSIDs, a.Sid)
	}
	if !slices.Equal(ackSIDs, sids(c0, c1, c2)) || len(r.resp.TimedOutSids) != 0 || !slices.Equal(r.resp.MissingEdges, []string{deadID}) {
		t.Errorf("EmitWithAck across the crash = %v; want acks from %v, none timed out, %s missing", r.resp, sids(c0, c1, c2), deadID)
	}

	sr := <-shortAcked
	if sr.err != nil {
		t.Fatalf("EmitWithAck with a %v deadline, after the crash: %v (after %v)", callDeadline, sr.err, sr.took)
	}
	ackSIDs = nil
	for _, a := range sr.resp.Acks {
		ackSIDs = append(ackSIDs, a.Sid)
	}
	if !slices.Equal(ackSIDs, sids(c0, c1, c2)) || len(sr.resp.TimedOutSids) != 0 {
		t.Errorf("EmitWithAck with a deadline = %v; want acks from %v, none timed out", sr.resp, sids(c0, c1, c2))
	}
	if len(sr.resp.MissingEdges) == 0 {
		t.Logf("control forgot the dead edge before the EmitWithAck: its deadline was not put to the test")
	} else if !slices.Equal(sr.resp.MissingEdges, []string{deadID}) {
		t.Errorf("EmitWithAck with a deadline: missing %v, want [%s]", sr.resp.MissingEdges, deadID)
	}
}

// TestTwoControls runs a second control instance on the same NATS: it
// learns the edges at once (Announce), drives the same sockets, shares
// queue groups with the first, and ends its streams when it shuts down.
func TestTwoControls(t *testing.T) {
	// Edges heartbeat every second: a quick ClusterInfo on the new control
	// comes from the Announce it sends when it starts.
	f := startCluster(t, options{heartbeat: time.Second})
	n := f.clients()
	c0 := n.connect(0, dial{edge: 0})
	c1 := n.connect(1, dial{edge: 2})

	start := time.Now()
	b := startControl(t, control.Config{NATSURL: f.ctl.NATSURL(), Logger: f.log})
	eventually(t, "the second control to list every edge", func() bool {
		ci, err := b.api.ClusterInfo(context.Background(), &sbv1.ClusterInfoRequest{})
		return err == nil && len(ci.Edges) == len(f.edges)
	})
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("the second control knew the edges after %v", d)
	}
	if got := listedSIDs(mustList(t, b.api)); !slices.Equal(got, sids(c0, c1)) {
		t.Errorf("ListSockets through the second control = %v, want %v", got, sids(c0, c1))
	}
	if _, err := b.api.Emit(context.Background(), &sbv1.EmitRequest{Event: "via-b"}); err != nil {
		t.Fatalf("Emit through the second control: %v", err)
	}
	// The fence goes through the first control, on another NATS connection
	// that does not order it after this emit: wait for the emit first.
	n.lines.WaitN(t, "both clients to get via-b", 2, func(l line) bool { return l.Ev == "event" && l.Event == "via-b" })
	f.received("via-b", `[]`, c0, c1)

	isJob := func(r *sbv1.SubscribeResponse) bool { return r.GetClientEvent().GetEvent() == "job" }
	workers := []*feed[*sbv1.SubscribeResponse]{
		f.subscribe(&sbv1.SubscribeRequest{QueueGroup: "workers"}),
		subscribe(t, b.api, &sbv1.SubscribeRequest{QueueGroup: "workers"}),
	}
	plain := subscribe(t, b.api, &sbv1.SubscribeRequest{})
	const jobs = 20
	for i := range jobs {
		n.emit(i%2, "job", -1, i)
	}
	plain.WaitN(t, "every job on a plain stream", jobs, isJob)
	eventually(t, "the workers to get every job", func() bool {
		return len(workers[0].Matching(isJob))+len(workers[1].Matching(isJob)) >= jobs
	})
	counts := map[string]int{}
	for _, w := range workers {
		for _, r := range w.Matching(isJob) {
			counts[r.GetClientEvent().GetArgsJson()]++
		}
	}
	for i := range jobs {
		if c := counts[fmt.Sprintf("[%d]", i)]; c != 1 {
			t.Errorf("job %d reached the workers %d times, want once", i, c)
		}
	}

	// Shutting the second control down ends its streams with Unavailable;
	// the first one goes on.
	b.stop()
	wantCode(t, "a stream of the stopped control", workers[1].Ended(t, "the stream to end"), codes.Unavailable, "shutting down")
	wantCode(t, "a plain stream of the stopped control", plain.Ended(t, "the stream to end"), codes.Unavailable, "shutting down")
	n.emit(0, "job", -1, "after")
	workers[0].Wait(t, "a job after the second control stopped", func(r *sbv1.SubscribeResponse) bool {
		return isJob(r) && r.GetClientEvent().GetArgsJson() == `["after"]`
	})
}

func mustList(t *testing.T, api sbv1.ControlClient) *sbv1.ListSocketsResponse {
	t.Helper()
	resp, err := api.ListSockets(context.Background(), &sbv1.ListSocketsRequest{})
	if err != nil {
		t.Fatalf("ListSockets: %v", err)
	}
	return resp
}

// TestGrpcurl drives control with the real grpcurl, through reflection.
func TestGrpcurl(t *testing.T) {
	f := startCluster(t, options{})
	n := f.clients()
	c0 := n.connect(0, dial{edge: 1})
	bin := repotest.Bin(t, "grpcurl")
	grpcurl := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, append([]string{"-plaintext"}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("grpcurl %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	if out := grpcurl(f.addr, "list"); !strings.Contains(out, "switchboard.v1.Control\n") || !strings.Contains(out, "grpc.health.v1.Health") {
		t.Errorf("grpcurl list:\n%s", out)
	}
	if out := grpcurl(f.addr, "describe", "switchboard.v1.Control.Emit"); !strings.Contains(out, "Emit sends an event to every socket selected by the target") {
		t.Errorf("grpcurl describe shows no doc comment:\n%s", out)
	}
	// Without report, Emit answers nothing; with it, the selected sockets.
	out := grpcurl("-d", `{"event":"chat","args":["hi",{"n":1}]}`, f.addr, "switchboard.v1.Control/Emit")
	var resp map[string]any
	if err := json.Unmarshal([]byte(out), &resp); err != nil || len(resp) != 0 {
		t.Errorf("grpcurl Emit answered %q, want {}", out)
	}
	f.received("chat", `["hi",{"n":1}]`, c0)
	out = grpcurl("-d", `{"event":"chat2","args_json":"[\"hi\",{\"n\":2}]","report":true}`, f.addr, "switchboard.v1.Control/Emit")
	resp = nil
	if err := json.Unmarshal([]byte(out), &resp); err != nil || resp["sockets"] != float64(1) {
		t.Errorf("grpcurl Emit with report answered %q, want 1 socket", out)
	}
	f.received("chat2", `["hi",{"n":2}]`, c0)
}

// TestInvalidArguments checks that malformed requests are refused with
// InvalidArgument and a message that says what is wrong.
func TestInvalidArguments(t *testing.T) {
	f := startCluster(t, options{edges: -1, maxPayload: 256})
	ctx := context.Background()
	ph := func(n int) map[string]any { return map[string]any{"_placeholder": true, "num": n} }
	cases := []struct {
		name string
		call func() error
		msg  string
	}{
		{"empty event", func() error {
			_, err := f.api.Emit(ctx, &sbv1.EmitRequest{})
			return err
		}, "event is empty"},
		{"reserved event", func() error {
			_, err := f.api.Emit(ctx, &sbv1.EmitRequest{Event: "connect"})
			return err
		}, `event "connect" is reserved`},
		{"namespace without slash", func() error {
			_, err := f.api.Emit(ctx, &sbv1.EmitRequest{Target: &sbv1.Target{Namespace: "chat"}, Event: "e"})
			return err
		}, `target.namespace "chat" must start with "/"`},
		{"empty room", func() error {
			_, err := f.api.Emit(ctx, &sbv1.EmitRequest{Target: &sbv1.Target{Rooms: []string{"a", ""}}, Event: "e"})
			return err
		}, "target.rooms[1] is empty"},
		{"empty except room", func() error {
			_, err := f.api.Emit(ctx, &sbv1.EmitRequest{Target: &sbv1.Target{ExceptRooms: []string{""}}, Event: "e"})
			return err
		}, "target.except_rooms[0] is empty"},
		{"foreign sid", func() error {
			_, err := f.api.Emit(ctx, &sbv1.EmitRequest{Target: &sbv1.Target{Sids: []string{"Xy_12"}}, Event: "e"})
			return err
		}, `target.sids[0] "Xy_12" was not issued by a Switchboard edge`},
		{"foreign sid in Disconnect", func() error {
			_, err := f.api.Disconnect(ctx, &sbv1.DisconnectRequest{Target: &sbv1.Target{Sids: []string{"ABCDEFGH1234"}}})
			return err
		}, "was not issued by a Switchboard edge"},
		{"args and args_json", func() error {
			_, err := f.api.Emit(ctx, &sbv1.EmitRequest{Event: "e", Args: values(t, 1), ArgsJson: "[1]"})
			return err
		}, "args and args_json are mutually exclusive"},
		{"args_json not an array", func() error {
			_, err := f.api.Emit(ctx, &sbv1.EmitRequest{Event: "e", ArgsJson: `{"a":1}`})
			return err
		}, "args_json must be a JSON array"},
		{"args_json not JSON", func() error {
			_, err := f.api.Emit(ctx, &sbv1.EmitRequest{Event: "e", ArgsJson: `[1,`})
			return err
		}, "args_json must be a JSON array"},
		{"placeholder out of range", func() error {
			_, err := f.api.Emit(ctx, &sbv1.EmitRequest{Event: "e", Args: values(t, ph(0), ph(1)), Binary: [][]byte{{1}}})
			return err
		}, "placeholder 1 does not name one of the 1 binary parts"},
		{"placeholder without binary", func() error {
			_, err := f.api.Emit(ctx, &sbv1.EmitRequest{Event: "e", ArgsJson: `[{"_placeholder":true,"num":0}]`})
			return err
		}, "does not name one of the 0 binary parts"},
		{"binary not referenced", func() error {
			_, err := f.api.Emit(ctx, &sbv1.EmitRequest{Event: "e", Args: values(t, ph(0)), Binary: [][]byte{{1}, {2}}})
			return err
		}, "binary[1] is not referenced"},
		{"oversize args", func() error {
			_, err := f.api.Emit(ctx, &sbv1.EmitRequest{Event: "e", Args: values(t, strings.Repeat("x", 300))})
			return err
		}, "exceeds the 256-byte limit"},
		{"oversize binary", func() error {
			_, err := f.api.EmitWithAck(ctx, &sbv1.EmitWithAckRequest{Event: "e", Args: values(t, ph(0)), Binary: [][]byte{make([]byte, 300)}})
			return err
		}, "exceeds the 256-byte limit"},
		{"negative ack timeout", func() error {
			_, err := f.api.EmitWithAck(ctx, &sbv1.EmitWithAckRequest{Event: "e", Timeout: durationpb.New(-time.Second)})
			return err
		}, "timeout must be"},
		{"reserved event with ack", func() error {
			_, err := f.api.EmitWithAck(ctx, &sbv1.EmitWithAckRequest{Event: "disconnecting"})
			return err
		}, "reserved"},
		{"JoinRoom without rooms", func() error {
			_, err := f.api.JoinRoom(ctx, &sbv1.JoinRoomRequest{Target: &sbv1.Target{Users: []string{"u"}}})
			return err
		}, "rooms is empty"},
		{"LeaveRoom with an empty room", func() error {
			_, err := f.api.LeaveRoom(ctx, &sbv1.LeaveRoomRequest{Rooms: []string{"a", ""}})
			return err
		}, "rooms[1] must be a non-empty"},
		{"ListRooms namespace without slash", func() error {
			_, err := f.api.ListRooms(ctx, &sbv1.ListRoomsRequest{Namespace: "chat"})
			return err
		}, `"chat" must start with "/"`},
		{"Ack args and args_json", func() error {
			_, err := f.api.Ack(ctx, &sbv1.AckRequest{AckToken: "sb.v1.ack.abcdefgh." + bus.NewAckID(), Args: values(t, 1), ArgsJson: "[1]"})
			return err
		}, "mutually exclusive"},
		{"Subscribe namespace without slash", func() error {
			st, err := f.api.Subscribe(ctx, &sbv1.SubscribeRequest{Namespaces: []string{"chat"}})
			if err != nil {
				return err
			}
			_, err = st.Recv()
			return err
		}, `namespaces[0] "chat" must start with "/"`},
		{"Subscribe unspecified kind", func() error {
			st, err := f.api.Subscribe(ctx, &sbv1.SubscribeRequest{Kinds: []sbv1.EventKind{sbv1.EventKind_EVENT_KIND_UNSPECIFIED}})
			if err != nil {
				return err
			}
			_, err = st.Recv()
			return err
		}, "EVENT_KIND_UNSPECIFIED"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantCode(t, tc.name, tc.call(), codes.InvalidArgument, tc.msg)
		})
	}
}

// TestNATSOutage checks that calls fail fast with Unavailable while the
// bus is down, rather than hang.
func TestNATSOutage(t *testing.T) {
	ns, err := control.StartEmbeddedNATS("127.0.0.1:0")
	if err != nil {
		t.Fatalf("StartEmbeddedNATS: %v", err)
	}
	var once sync.Once
	stopNATS := func() { once.Do(ns.Shutdown) }
	t.Cleanup(stopNATS)
	f := startCluster(t, options{edges: -1, natsURL: ns.URL()})
	ctx := context.Background()
	if _, err := f.api.ListRooms(ctx, &sbv1.ListRoomsRequest{}); err != nil {
		t.Fatalf("ListRooms with NATS up: %v", err)
	}

	// Control's health turns NOT_SERVING when it loses NATS.
	hctx, cancel := context.WithCancel(ctx)
	defer cancel()
	watch, err := healthpb.NewHealthClient(f.conn).Watch(hctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatalf("health Watch: %v", err)
	}
	if r, err := watch.Recv(); err != nil || r.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health = %v, %v; want SERVING", r, err)
	}
	stopNATS()
	if r, err := watch.Recv(); err != nil || r.Status != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("health = %v, %v; want NOT_SERVING", r, err)
	}
	cancel()

	calls := map[string]func(context.Context) error{
		"Emit": func(ctx context.Context) error {
			_, err := f.api.Emit(ctx, &sbv1.EmitRequest{Event: "e"})
			return err
		},
		"Emit to sids": func(ctx context.Context) error {
			_, err := f.api.Emit(ctx, &sbv1.EmitRequest{Event: "e", Target: &sbv1.Target{Sids: []string{"abcdefgh1234"}}})
			return err
		},
		"EmitWithAck": func(ctx context.Context) error {
			_, err := f.api.EmitWithAck(ctx, &sbv1.EmitWithAckRequest{Event: "e"})
			return err
		},
		"JoinRoom": func(ctx context.Context) error {
			_, err := f.api.JoinRoom(ctx, &sbv1.JoinRoomRequest{Target: &sbv1.Target{All: true}, Rooms: []string{"r"}})
			return err
		},
		"LeaveRoom": func(ctx context.Context) error {
			_, err := f.api.LeaveRoom(ctx, &sbv1.LeaveRoomRequest{Target: &sbv1.Target{All: true}, Rooms: []string{"r"}})
			return err
		},
		"Disconnect": func(ctx context.Context) error {
			_, err := f.api.Disconnect(ctx, &sbv1.DisconnectRequest{Target: &sbv1.Target{All: true}})
			return err
		},
		"ListSockets": func(ctx context.Context) error {
			_, err := f.api.ListSockets(ctx, &sbv1.ListSocketsRequest{})
			return err
		},
		"ListRooms": func(ctx context.Context) error {
			_, err := f.api.ListRooms(ctx, &sbv1.ListRoomsRequest{})
			return err
		},
		"Ack": func(ctx context.Context) error {
			_, err := f.api.Ack(ctx, &sbv1.AckRequest{AckToken: "sb.v1.ack.abcdefgh." + bus.NewAckID()})
			return err
		},
		"Subscribe": func(ctx context.Context) error {
			st, err := f.api.Subscribe(ctx, &sbv1.SubscribeRequest{})
			if err != nil {
				return err
			}
			_, err = st.Recv()
			return err
		},
	}
	for _, name := range slices.Sorted(maps.Keys(calls)) {
		ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		start := time.Now()
		err := calls[name](ctx)
		cancel()
		wantCode(t, name, err, codes.Unavailable, "")
		if d := time.Since(start); d > time.Second {
			t.Errorf("%s took %v to fail", name, d)
		}
	}
	// What control knows without the bus still answers.
	if _, err := f.api.ClusterInfo(ctx, &sbv1.ClusterInfoRequest{}); err != nil {
		t.Errorf("ClusterInfo: %v", err)
	}
}

// TestAPIKeys checks bearer API keys; health and reflection stay open.
func TestAPIKeys(t *testing.T) {
	f := startCluster(t, options{edges: -1, apiKeys: []string{"k1"}})
	ctx := context.Background()
	_, err := f.api.ClusterInfo(ctx, &sbv1.ClusterInfoRequest{})
	wantCode(t, "no key", err, codes.Unauthenticated, "authorization")
	bad := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer k2")
	_, err = f.api.ClusterInfo(bad, &sbv1.ClusterInfoRequest{})
	wantCode(t, "wrong key", err, codes.Unauthenticated, "")
	basic := metadata.AppendToOutgoingContext(ctx, "authorization", "Basic k1")
	_, err = f.api.ClusterInfo(basic, &sbv1.ClusterInfoRequest{})
	wantCode(t, "basic scheme", err, codes.Unauthenticated, "")
	good := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer k1")
	ci, err := f.api.ClusterInfo(good, &sbv1.ClusterInfoRequest{})
	if err != nil || ci.ControlVersion != control.Version {
		t.Errorf("ClusterInfo with the key = %v, %v", ci, err)
	}

	st, err := f.api.Subscribe(ctx, &sbv1.SubscribeRequest{})
	if err == nil {
		_, err = st.Recv()
	}
	wantCode(t, "Subscribe without a key", err, codes.Unauthenticated, "")
	sctx, cancel := context.WithCancel(good)
	st, err = f.api.Subscribe(sctx, &sbv1.SubscribeRequest{})
	if err == nil {
		_, err = st.Header()
	}
	if err != nil {
		t.Errorf("Subscribe with the key: %v", err)
	}
	cancel()

	hr, err := healthpb.NewHealthClient(f.conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || hr.Status != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("health check without a key = %v, %v", hr, err)
	}
	hr, err = healthpb.NewHealthClient(f.conn).Check(ctx, &healthpb.HealthCheckRequest{Service: "switchboard.v1.Control"})
	if err != nil || hr.Status != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("health check of the service without a key = %v, %v", hr, err)
	}
}
