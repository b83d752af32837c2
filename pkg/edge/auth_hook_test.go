package edge_test

// Connect authorization (issue 13): a namespace's mode chosen in
// Config.Auth decides at CONNECT. Real pieces: connect hooks served by
// grpc-go on 127.0.0.1 and answered over an in-process nats-server, the
// edge, gorilla WebSocket clients speaking the wire protocol.

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	sbv1 "github.com/switchboard-rt/switchboard/gen/switchboard/v1"
	"github.com/switchboard-rt/switchboard/internal/repotest"
	"github.com/switchboard-rt/switchboard/pkg/edge"
	"github.com/switchboard-rt/switchboard/pkg/socketio"
)

// hookAsk is what the test hooks read in a CONNECT's auth payload.
type hookAsk struct {
	Do      string   `json:"do"` // allow, deny, slow, hang, none, error
	User    string   `json:"user"`
	Rooms   []string `json:"rooms"`
	Data    any      `json:"data"`
	Message string   `json:"message"`
	Big     int      `json:"big"` // data: a string of that many bytes
}

// hookDecide answers a request by its auth payload; release ends the
// waits of "slow" (nil: they wait for their context).
func hookDecide(ctx context.Context, req *sbv1.AuthorizeRequest, release <-chan struct{}) (*sbv1.AuthorizeResponse, error) {
	var a hookAsk
	if err := json.Unmarshal(req.AuthJson, &a); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "auth: %v", err)
	}
	value := func(v any) *structpb.Value {
		if v == nil {
			return nil
		}
		pv, err := structpb.NewValue(v)
		if err != nil {
			panic(err)
		}
		return pv
	}
	if a.Big > 0 {
		a.Data = strings.Repeat("y", a.Big)
	}
	switch a.Do {
	case "slow":
		select {
		case <-release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		fallthrough
	case "allow":
		return &sbv1.AuthorizeResponse{Result: &sbv1.AuthorizeResponse_Allow{Allow: &sbv1.ConnectAllow{
			User: a.User, Rooms: a.Rooms, Data: value(a.Data),
		}}}, nil
	case "deny":
		return &sbv1.AuthorizeResponse{Result: &sbv1.AuthorizeResponse_Deny{Deny: &sbv1.ConnectDeny{
			Message: a.Message, Data: value(a.Data),
		}}}, nil
	case "hang":
		<-ctx.Done()
		return nil, ctx.Err()
	case "none":
		return &sbv1.AuthorizeResponse{}, nil
	case "deadline":
		// What a hook's server answers when the deadline the edge sent
		// passes there first.
		return nil, status.Error(codes.DeadlineExceeded, "context deadline exceeded")
	}
	return nil, status.Error(codes.Internal, "the hook failed")
}

// grpcHook is a ConnectHook served on a loopback port.
type grpcHook struct {
	sbv1.UnimplementedConnectHookServer
	target  string
	reqs    chan *sbv1.AuthorizeRequest
	release chan struct{}
	ended   chan error // each call's context error when it returns, for "hang"
}

func (h *grpcHook) Authorize(ctx context.Context, req *sbv1.AuthorizeRequest) (*sbv1.AuthorizeResponse, error) {
	select {
	case h.reqs <- req:
	default:
	}
	resp, err := hookDecide(ctx, req, h.release)
	if err != nil {
		select {
		case h.ended <- ctx.Err():
		default:
		}
	}
	return resp, err
}

func startGRPCHook(t *testing.T) *grpcHook {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &grpcHook{
		target: "grpc://" + ln.Addr().String(), reqs: make(chan *sbv1.AuthorizeRequest, 256),
		release: make(chan struct{}), ended: make(chan error, 16),
	}
	srv := grpc.NewServer()
	sbv1.RegisterConnectHookServer(srv, h)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-done
	})
	return h
}

// dialWith opens a WebSocket with handshake headers and extra query
// parameters, and reads the Engine.IO open packet.
func dialWith(t *testing.T, te *testEdge, hdr http.Header, query string) *sioWS {
	t.Helper()
	u := "ws" + strings.TrimPrefix(te.url, "http") + "/socket.io/?EIO=4&transport=websocket"
	if query != "" {
		u += "&" + query
	}
	d := websocket.Dialer{HandshakeTimeout: waitTimeout}
	conn, resp, err := d.Dial(u, hdr)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	resp.Body.Close()
	c := &sioWS{t: t, conn: conn, frames: make(chan string, 4096), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		defer close(c.frames)
		for {
			_, b, err := conn.ReadMessage()
			if err != nil {
				return
			}
			if string(b) == "2" {
				c.wmu.Lock()
				_ = conn.WriteMessage(websocket.TextMessage, []byte("3"))
				c.wmu.Unlock()
				continue
			}
			c.frames <- string(b)
		}
	}()
	t.Cleanup(c.close)
	if m := c.next(); !strings.HasPrefix(m, "0{") {
		t.Fatalf("open packet %q", m)
	}
	return c
}

// connectAuth sends CONNECT to ns with an auth payload (raw JSON).
func (c *sioWS) connectAuth(ns, auth string) {
	c.t.Helper()
	prefix := "40"
	if ns != "/" {
		prefix += ns + ","
	}
	c.send(prefix + auth)
}

// admitted waits for CONNECT's answer, wants it to admit, and returns the
// sid.
func (c *sioWS) admitted(ns string) string {
	c.t.Helper()
	prefix := "40"
	if ns != "/" {
		prefix += ns + ","
	}
	m := c.next()
	var ok struct{ SID string }
	if !strings.HasPrefix(m, prefix+"{") || json.Unmarshal([]byte(m[len(prefix):]), &ok) != nil || ok.SID == "" {
		c.t.Fatalf("CONNECT %s answered %.300s, want it admitted", ns, m)
	}
	return ok.SID
}

func hookEdge(t *testing.T, cfg edge.Config, auth map[string]edge.NamespaceAuth) *testEdge {
	t.Helper()
	cfg.Auth.Namespaces = auth
	return startEdge(t, cfg, nil)
}

func wantStats(t *testing.T, te *testEdge, refused, failures uint64) {
	t.Helper()
	if st := te.Stats(); st.ConnectsRefused != refused || st.AuthFailures != failures {
		t.Errorf("connects refused %d, auth failures %d; want %d and %d", st.ConnectsRefused, st.AuthFailures, refused, failures)
	}
}

// TestHookAllow: a gRPC hook is told everything of the CONNECT (every
// header, cookies and Authorization included; the query; the auth payload
// byte for byte with its key order; the client's address; the edge; the
// transport) and admits the socket with a user, rooms and data, which the
// socket has; the user's socket is in the user index (Target.users).
func TestHookAllow(t *testing.T) {
	h := startGRPCHook(t)
	te := hookEdge(t, edge.Config{}, map[string]edge.NamespaceAuth{"/": {Mode: edge.AuthHook, Hook: h.target}})

	hdr := http.Header{}
	hdr.Set("Cookie", "session=abc123")
	hdr.Add("Cookie", "theme=dark")
	hdr.Set("Authorization", "Bearer xyz")
	hdr.Add("X-Multi", "one")
	hdr.Add("X-Multi", "two")
	c := dialWith(t, te, hdr, "room=lobby&tag=a&tag=b")
	// Key order unlike sorted, spacing and escapes as the client wrote them.
	auth := `{"do":"allow", "user":"alice","rooms":["r1","r2"],"data":{"plan":"pro","n":3},"z":1,"a":{"\u00e9":[1,2.50]}}`
	c.connectAuth("/", auth)
	sid := c.admitted("/")

	req := recv(t, h.reqs, "the hook's request")
	if string(req.AuthJson) != auth {
		t.Errorf("auth_json %s, want %s byte for byte", req.AuthJson, auth)
	}
	if req.Namespace != "/" || req.EdgeId != te.ID() || req.Transport != sbv1.Transport_TRANSPORT_WEBSOCKET {
		t.Errorf("namespace %q edge %q transport %v", req.Namespace, req.EdgeId, req.Transport)
	}
	if want := c.conn.LocalAddr().String(); req.RemoteAddress != want {
		t.Errorf("remote_address %q, want %q", req.RemoteAddress, want)
	}
	for k, want := range map[string]string{
		"cookie": "session=abc123; theme=dark", "authorization": "Bearer xyz", "x-multi": "one, two",
		"host": te.Addr().String(),
	} {
		if got := req.Headers[k]; got != want {
			t.Errorf("header %q = %q, want %q", k, got, want)
		}
	}
	for k, want := range map[string]string{"room": "lobby", "tag": "a,b"} {
		if got := req.Query[k]; got != want {
			t.Errorf("query %q = %q, want %q", k, got, want)
		}
	}
	// The transport's own are not the application's.
	for _, k := range []string{"upgrade", "connection", "sec-websocket-key"} {
		if v, ok := req.Headers[k]; ok {
			t.Errorf("header %q = %q sent to the hook", k, v)
		}
	}
	for _, k := range []string{"EIO", "transport"} {
		if v, ok := req.Query[k]; ok {
			t.Errorf("query %q = %q sent to the hook", k, v)
		}
	}

	ns := te.SocketIO().Namespace("/")
	s := ns.Socket(sid)
	if s == nil {
		t.Fatalf("socket %s not in the namespace", sid)
	}
	if s.User() != "alice" {
		t.Errorf("user %q, want alice", s.User())
	}
	if got := s.Rooms(); !slices.Contains(got, "r1") || !slices.Contains(got, "r2") {
		t.Errorf("rooms %v, want r1 and r2", got)
	}
	if want := map[string]any{"plan": "pro", "n": 3.0}; !reflect.DeepEqual(s.Data(), want) {
		t.Errorf("data %#v, want %#v", s.Data(), want)
	}
	if n, err := ns.Select(socketio.Selector{Users: []string{"alice"}}).Emit("hi", "alice"); err != nil || n != 1 {
		t.Fatalf("emit to user alice: %d sockets, %v", n, err)
	}
	c.expect(`42["hi","alice"]`)
	wantStats(t, te, 0, 0)
}

// TestHookDeny: a deny is CONNECT_ERROR with the hook's message and data,
// on the wire as socket.io-client reads it; an empty message is
// "Forbidden". The socket is not in the namespace, the connection goes on
// (a later allowed CONNECT on it works), and each deny counts.
func TestHookDeny(t *testing.T) {
	h := startGRPCHook(t)
	te := hookEdge(t, edge.Config{}, map[string]edge.NamespaceAuth{
		"/":     {Mode: edge.AuthHook, Hook: h.target},
		"/chat": {Mode: edge.AuthHook, Hook: h.target},
	})
	c := dialSIO(t, te)
	c.connectAuth("/", `{"do":"deny","message":"unauthorized!","data":{"reason":"no session","retry":false}}`)
	c.expect(`44{"message":"unauthorized!","data":{"reason":"no session","retry":false}}`)
	c.connectAuth("/chat", `{"do":"deny"}`)
	c.expect(`44/chat,{"message":"Forbidden"}`)
	if n := te.SocketIO().Namespace("/").Len(); n != 0 {
		t.Errorf("%d sockets in / after a deny", n)
	}
	wantStats(t, te, 2, 0)
	if got := recv(t, h.reqs, "first request").Namespace; got != "/" {
		t.Errorf("first request for %q", got)
	}
	if got := recv(t, h.reqs, "second request").Namespace; got != "/chat" {
		t.Errorf("second request for %q", got)
	}
	c.connectAuth("/", `{"do":"allow"}`)
	c.admitted("/")
}

// TestHookCannotDecide: a hook that is down, that fails, that answers
// neither allow nor deny, or grants more than a socket may hold, refuses
// the connect with a message that says so, counted as a failure. Over NATS,
// a subject nobody subscribes to is "no responders", answered at once.
func TestHookCannotDecide(t *testing.T) {
	h := startGRPCHook(t)
	nsrv := holdNATS(t)
	te := hookEdge(t, edge.Config{NATSURL: nsrv.ClientURL(), MaxRoomsPerSocket: 2}, map[string]edge.NamespaceAuth{
		"/":     {Mode: edge.AuthHook, Hook: h.target},
		"/down": {Mode: edge.AuthHook, Hook: "grpc://" + repotest.ClosedAddr(t)},
		"/nats": {Mode: edge.AuthHook, Hook: "nats:test.nobody.answers"},
	})
	big := strings.Repeat("x", 257)
	cases := []struct {
		ns, auth, want string
	}{
		{"/down", `{"do":"allow"}`, "connect hook unavailable"},
		{"/nats", `{"do":"allow"}`, "connect hook unavailable"},
		{"/", `{"do":"error"}`, "connect hook unavailable"},
		{"/", `{"do":"deadline"}`, "connect hook timed out"},
		{"/", `{"do":"none"}`, "connect hook answer invalid"},
		{"/", `{"do":"allow","rooms":["a","b","c"]}`, "connect hook answer invalid"},
		{"/", `{"do":"allow","rooms":[""]}`, "connect hook answer invalid"},
		{"/", `{"do":"allow","user":"` + big + `"}`, "connect hook answer invalid"},
		{"/", `{"do":"allow","big":70000}`, "connect hook answer invalid"},
	}
	for i, tc := range cases {
		c := dialSIO(t, te)
		start := time.Now()
		c.connectAuth(tc.ns, tc.auth)
		prefix := "44"
		if tc.ns != "/" {
			prefix += tc.ns + ","
		}
		c.expect(prefix + `{"message":"` + tc.want + `"}`)
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("case %d: refused after %v, want at once", i, d)
		}
		c.close()
	}
	wantStats(t, te, 0, uint64(len(cases)))
	c := dialSIO(t, te)
	c.connectAuth("/", `{"do":"allow","rooms":["a","b"]}`)
	c.admitted("/")
}

// TestHookTimeout: a hook that does not answer within HookTimeout refuses
// the connect ("connect hook timed out"), counted; the hook's call is
// cancelled.
func TestHookTimeout(t *testing.T) {
	const timeout = 300 * time.Millisecond
	h := startGRPCHook(t)
	te := hookEdge(t, edge.Config{Auth: edge.AuthConfig{HookTimeout: timeout}},
		map[string]edge.NamespaceAuth{"*": {Mode: edge.AuthHook, Hook: h.target}})
	c := dialSIO(t, te)
	start := time.Now()
	c.connectAuth("/", `{"do":"hang"}`)
	c.expect(`44{"message":"connect hook timed out"}`)
	if d := time.Since(start); d < timeout || d > timeout+2*time.Second {
		t.Errorf("refused after %v, want about %v", d, timeout)
	}
	if err := recv(t, h.ended, "the hook's call to end"); err == nil {
		t.Error("the hook's call ended with its context still live")
	}
	wantStats(t, te, 0, 1)
}

// TestHookSlowHoldsOnlyItsConnection: while the hook keeps one CONNECT
// waiting, other connections connect, are admitted and receive broadcasts;
// the waiting connection is admitted once the hook answers, and gets only
// what is sent after that.
func TestHookSlowHoldsOnlyItsConnection(t *testing.T) {
	h := startGRPCHook(t)
	te := hookEdge(t, edge.Config{Auth: edge.AuthConfig{HookTimeout: 20 * time.Second}},
		map[string]edge.NamespaceAuth{"/": {Mode: edge.AuthHook, Hook: h.target}})
	ns := te.SocketIO().Namespace("/")

	early := dialSIO(t, te)
	early.connectAuth("/", `{"do":"allow"}`)
	early.admitted("/")
	recv(t, h.reqs, "the first request")

	slow := dialSIO(t, te)
	slow.connectAuth("/", `{"do":"slow","user":"late"}`)
	recv(t, h.reqs, "the slow request")

	for i := range 5 {
		c := dialSIO(t, te)
		c.connectAuth("/", `{"do":"allow"}`)
		c.admitted("/")
		if _, err := ns.Select(socketio.Selector{}).Emit("n", i); err != nil {
			t.Fatal(err)
		}
		c.expect(fmt.Sprintf(`42["n",%d]`, i))
		early.expect(fmt.Sprintf(`42["n",%d]`, i))
	}
	select {
	case m := <-slow.frames:
		t.Fatalf("the waiting connection received %q", m)
	default:
	}
	close(h.release)
	slow.admitted("/")
	if _, err := ns.Select(socketio.Selector{Users: []string{"late"}}).Emit("welcome"); err != nil {
		t.Fatal(err)
	}
	slow.expect(`42["welcome"]`)
}

// TestHookNamespaces: "*" applies to every namespace not named, those the
// edge creates for a client included, and the hook is told which; a
// namespace named open is not asked about.
func TestHookNamespaces(t *testing.T) {
	h := startGRPCHook(t)
	te := hookEdge(t, edge.Config{}, map[string]edge.NamespaceAuth{
		"*":       {Mode: edge.AuthHook, Hook: h.target},
		"/public": {Mode: edge.AuthOpen},
	})
	c := dialSIO(t, te)
	c.connectAuth("/public", `{}`)
	c.admitted("/public")
	c.connectAuth("/made-for-me", `{"do":"deny","message":"no"}`)
	c.expect(`44/made-for-me,{"message":"no"}`)
	if got := recv(t, h.reqs, "the request").Namespace; got != "/made-for-me" {
		t.Errorf("the hook was asked about %q", got)
	}
	c.connectAuth("/other", `{"do":"allow","user":"u"}`)
	c.admitted("/other")
	if got := recv(t, h.reqs, "the request").Namespace; got != "/other" {
		t.Errorf("the hook was asked about %q", got)
	}
	noValue(t, h.reqs, "request for the open namespace")
	wantStats(t, te, 1, 0)
}

// TestHookNATS: the hook answers NATS requests in a queue group of two
// replicas; each CONNECT is one request, answered by one replica only, and
// the socket gets what the answer grants.
func TestHookNATS(t *testing.T) {
	const clients = 20
	nsrv := holdNATS(t)
	app, err := nats.Connect(nsrv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(app.Close)
	var mu sync.Mutex
	seen := map[string]int{} // request user -> answers
	perReplica := make([]atomic.Int32, 2)
	for r := range 2 {
		if _, err := app.QueueSubscribe("myapp.connect", "hooks", func(m *nats.Msg) {
			perReplica[r].Add(1)
			var req sbv1.AuthorizeRequest
			if err := proto.Unmarshal(m.Data, &req); err != nil {
				t.Errorf("request does not decode: %v", err)
				return
			}
			resp, _ := hookDecide(context.Background(), &req, nil)
			var a hookAsk
			_ = json.Unmarshal(req.AuthJson, &a)
			mu.Lock()
			seen[a.User]++
			mu.Unlock()
			b, _ := proto.Marshal(resp)
			_ = m.Respond(b)
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := app.Flush(); err != nil {
		t.Fatal(err)
	}
	te := hookEdge(t, edge.Config{NATSURL: nsrv.ClientURL()},
		map[string]edge.NamespaceAuth{"/": {Mode: edge.AuthHook, Hook: "nats:myapp.connect"}})
	ns := te.SocketIO().Namespace("/")
	for i := range clients {
		c := dialSIO(t, te)
		user := fmt.Sprintf("user-%d", i)
		if i%4 == 3 {
			c.connectAuth("/", `{"do":"deny","message":"unauthorized!","user":"`+user+`"}`)
			c.expect(`44{"message":"unauthorized!"}`)
			continue
		}
		c.connectAuth("/", `{"do":"allow","user":"`+user+`","rooms":["nats-room"],"data":{"i":`+fmt.Sprint(i)+`}}`)
		sid := c.admitted("/")
		s := ns.Socket(sid)
		if s == nil || s.User() != user || !slices.Contains(s.Rooms(), "nats-room") || !reflect.DeepEqual(s.Data(), map[string]any{"i": float64(i)}) {
			t.Fatalf("socket %d: %v", i, s)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != clients {
		t.Errorf("%d distinct requests answered, want %d", len(seen), clients)
	}
	for u, n := range seen {
		if n != 1 {
			t.Errorf("the request of %s was answered %d times", u, n)
		}
	}
	a, b := perReplica[0].Load(), perReplica[1].Load()
	t.Logf("replica answers: %d and %d", a, b)
	if a+b != clients {
		t.Errorf("replicas answered %d requests in all, want %d", a+b, clients)
	}
	wantStats(t, te, clients/4, 0)
}

// TestHookFlood: while the namespace is broadcast to without pause,
// sockets the hook denies receive their CONNECT_ERROR and not one event;
// those it admits receive the broadcasts.
func TestHookFlood(t *testing.T) {
	const each = 20
	h := startGRPCHook(t)
	te := hookEdge(t, edge.Config{}, map[string]edge.NamespaceAuth{"/": {Mode: edge.AuthHook, Hook: h.target}})
	ns := te.SocketIO().Namespace("/")

	stop := make(chan struct{})
	flooding := make(chan struct{})
	go func() {
		defer close(flooding)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			_, _ = ns.Select(socketio.Selector{}).Emit("flood", i)
			time.Sleep(time.Millisecond)
		}
	}()
	defer func() { close(stop); <-flooding }()
	// A watcher, admitted first, proves the flood is on.
	watcher := dialSIO(t, te)
	watcher.connectAuth("/", `{"do":"allow"}`)
	watcher.admitted("/")
	if m := watcher.next(); !strings.HasPrefix(m, `42["flood",`) {
		t.Fatalf("watcher got %q", m)
	}
	// Readers that stop reading would block their connection's reader
	// goroutine, and its close at the end: what is not read is drained.
	drain := func(c *sioWS) {
		go func() {
			for range c.frames {
			}
		}()
	}
	drain(watcher)

	type result struct {
		allowed bool
		first   string // the CONNECT answer
		events  int    // EVENT frames after it
		others  []string
	}
	results := make(chan result, 2*each)
	var wg sync.WaitGroup
	for i := range 2 * each {
		allowed := i%2 == 0
		c := dialSIO(t, te)
		wg.Go(func() {
			if allowed {
				c.connectAuth("/", `{"do":"allow"}`)
			} else {
				c.connectAuth("/", `{"do":"deny","message":"unauthorized!","data":{"i":`+fmt.Sprint(i)+`}}`)
			}
			r := result{allowed: allowed}
			deadline := time.After(500 * time.Millisecond)
			for {
				select {
				case m, ok := <-c.frames:
					if !ok {
						results <- r
						return
					}
					switch {
					case r.first == "":
						r.first = m
					case strings.HasPrefix(m, "42"):
						r.events++
					default:
						r.others = append(r.others, m)
					}
					continue
				case <-deadline:
				}
				break
			}
			results <- r
			drain(c)
		})
	}
	wg.Wait()
	close(results)
	for r := range results {
		switch {
		case r.allowed && (!strings.HasPrefix(r.first, "40{") || r.events == 0):
			t.Errorf("an admitted socket: CONNECT answered %.100q, %d events", r.first, r.events)
		case !r.allowed && (!strings.HasPrefix(r.first, `44{"message":"unauthorized!","data":{"i":`) || r.events != 0):
			t.Errorf("a denied socket: first frame %.100q, then %d events", r.first, r.events)
		}
		if len(r.others) > 0 {
			t.Errorf("unexpected frames: %.200q", r.others)
		}
	}
	wantStats(t, te, each, 0)
}

// TestJWTConnect: a namespace in jwt mode admits a valid token (its
// subject the socket's user) and refuses an invalid one.
func TestJWTConnect(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	te := hookEdge(t, edge.Config{Auth: edge.AuthConfig{JWT: edge.JWTConfig{Key: secret, RoomsClaim: "rooms"}}},
		map[string]edge.NamespaceAuth{"/": {Mode: edge.AuthJWT}})
	sign := func(key []byte) string {
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
			"sub": "bob", "rooms": []string{"team"}, "exp": time.Now().Add(time.Hour).Unix(),
		}).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	c := dialSIO(t, te)
	c.connectAuth("/", `{"token":"`+sign(secret)+`"}`)
	s := te.SocketIO().Namespace("/").Socket(c.admitted("/"))
	if s == nil || s.User() != "bob" || !slices.Contains(s.Rooms(), "team") {
		t.Fatalf("socket %v: want user bob in room team", s)
	}
	bad := dialSIO(t, te)
	bad.connectAuth("/", `{"token":"`+sign([]byte("another secret of 32 bytes......"))+`"}`)
	bad.expect(`44{"message":"invalid token: signature is invalid"}`)
	none := dialSIO(t, te)
	none.connectAuth("/", ``)
	none.expect(`44{"message":"missing token"}`)
	wantStats(t, te, 2, 0)
}

// TestHookShutdown: stopping the edge ends the hook calls in flight: the
// edge stops at once, not at HookTimeout, and the hook's call is cancelled.
func TestHookShutdown(t *testing.T) {
	h := startGRPCHook(t)
	cfg := edge.Config{Addr: "127.0.0.1:0", Auth: edge.AuthConfig{
		HookTimeout: time.Minute,
		Namespaces:  map[string]edge.NamespaceAuth{"/": {Mode: edge.AuthHook, Hook: h.target}},
	}}
	e, err := edge.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	c := dialSIO(t, &testEdge{Edge: e, url: "http://" + e.Addr().String()})
	c.connectAuth("/", `{"do":"hang"}`)
	recv(t, h.reqs, "the hook's request")
	start := time.Now()
	cancel()
	if err := recv(t, done, "Run to return"); err != nil {
		t.Errorf("Run: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("shutdown took %v", d)
	}
	if err := recv(t, h.ended, "the hook's call to end"); err == nil {
		t.Error("the hook's call ended with its context live")
	}
}

// TestAuthConfigErrors: a configuration no edge can serve with is refused
// by New, naming the namespace.
func TestAuthConfigErrors(t *testing.T) {
	cases := []struct {
		name string
		cfg  edge.Config
		want string
	}{
		{"unknown mode", edge.Config{Auth: edge.AuthConfig{Namespaces: map[string]edge.NamespaceAuth{"/chat": {Mode: "ldap"}}}},
			`auth: namespace "/chat": mode "ldap": want open, jwt or hook`},
		{"no mode", edge.Config{Auth: edge.AuthConfig{Namespaces: map[string]edge.NamespaceAuth{"/": {}}}},
			`auth: namespace "/": mode "": want open, jwt or hook`},
		{"hook without target", edge.Config{Auth: edge.AuthConfig{Namespaces: map[string]edge.NamespaceAuth{"/a": {Mode: edge.AuthHook}}}},
			`auth: namespace "/a": mode hook needs a hook target`},
		{"bad scheme", edge.Config{Auth: edge.AuthConfig{Namespaces: map[string]edge.NamespaceAuth{"*": {Mode: edge.AuthHook, Hook: "http://127.0.0.1:9"}}}},
			`auth: namespace "*": hook target "http://127.0.0.1:9": want grpc://host:port, grpcs://host:port or nats:<subject>`},
		{"no port", edge.Config{Auth: edge.AuthConfig{Namespaces: map[string]edge.NamespaceAuth{"/": {Mode: edge.AuthHook, Hook: "grpc://hooks"}}}},
			`auth: namespace "/": hook target "grpc://hooks": want host:port after grpc://`},
		{"wildcard subject", edge.Config{NATSURL: "nats://127.0.0.1:4222", Auth: edge.AuthConfig{Namespaces: map[string]edge.NamespaceAuth{"/": {Mode: edge.AuthHook, Hook: "nats:app.*"}}}},
			`auth: namespace "/": hook target "nats:app.*": subject "app.*" has a wildcard`},
		{"nats standalone", edge.Config{Auth: edge.AuthConfig{Namespaces: map[string]edge.NamespaceAuth{"/": {Mode: edge.AuthHook, Hook: "nats:app.connect"}}}},
			`auth: namespace "/": hook target "nats:app.connect" needs a NATS URL`},
		{"jwt without key", edge.Config{Auth: edge.AuthConfig{Namespaces: map[string]edge.NamespaceAuth{"/admin": {Mode: edge.AuthJWT}}}},
			`auth: namespace "/admin": mode jwt needs a JWT key or a JWKS URL`},
		{"target for another mode", edge.Config{Auth: edge.AuthConfig{Namespaces: map[string]edge.NamespaceAuth{"/": {Mode: edge.AuthOpen, Hook: "grpc://127.0.0.1:9"}}}},
			`auth: namespace "/": a hook target ("grpc://127.0.0.1:9") is for mode hook, not open`},
		{"bad namespace", edge.Config{Auth: edge.AuthConfig{Namespaces: map[string]edge.NamespaceAuth{"chat": {Mode: edge.AuthOpen}}}},
			`auth: namespace "chat": must start with /`},
		{"negative timeout", edge.Config{Auth: edge.AuthConfig{HookTimeout: -time.Second}},
			`auth: hook timeout -1s is negative`},
		{"bad key", edge.Config{Auth: edge.AuthConfig{JWT: edge.JWTConfig{Key: []byte("-----BEGIN PUBLIC KEY-----\nxx\n-----END PUBLIC KEY-----\n")},
			Namespaces: map[string]edge.NamespaceAuth{"/": {Mode: edge.AuthJWT}}}}, `auth: jwt:`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Addr = "127.0.0.1:0"
			e, err := edge.New(tc.cfg)
			if err == nil {
				_ = e.Shutdown(context.Background())
				t.Fatalf("New accepted the configuration")
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("error %q, want it to start with %q", err, tc.want)
			}
		})
	}
}
