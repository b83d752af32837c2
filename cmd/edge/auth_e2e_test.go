package main_test

// Connect authorization (--auth, docs/auth.md) seen by the official
// clients: socket.io-client in node and python-socketio, against the edge
// binary, with a real connect hook over gRPC and over NATS, and real
// tokens. node_modules (make test-deps) and python3-socketio are required.

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/nats-io/nats.go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	sbv1 "github.com/switchboard-rt/switchboard/gen/switchboard/v1"
	"github.com/switchboard-rt/switchboard/internal/jsonproc"
	"github.com/switchboard-rt/switchboard/internal/repotest"
)

// What the test hooks admit and deny.
const (
	goodToken  = "let-me-in"
	denyMsg    = "unauthorized!"
	hookUser   = "alice"
	hookRoom   = "vip"
	jwtSecret  = "0123456789abcdef0123456789abcdef" // 32 bytes
	jwtSubject = "bob"
)

var denyData = map[string]any{"reason": "no session"}

// decide is the test hooks' policy: the auth payload's token goodToken is
// admitted as hookUser in hookRoom with data {"plan":"pro"}; anything else
// is denied with denyMsg and denyData.
func decide(req *sbv1.AuthorizeRequest) *sbv1.AuthorizeResponse {
	var auth struct {
		Token string `json:"token"`
	}
	_ = json.Unmarshal(req.GetAuthJson(), &auth)
	if auth.Token == goodToken {
		data, _ := structpb.NewValue(map[string]any{"plan": "pro"})
		return &sbv1.AuthorizeResponse{Result: &sbv1.AuthorizeResponse_Allow{Allow: &sbv1.ConnectAllow{
			User: hookUser, Rooms: []string{hookRoom}, Data: data,
		}}}
	}
	data, _ := structpb.NewValue(denyData)
	return &sbv1.AuthorizeResponse{Result: &sbv1.AuthorizeResponse_Deny{Deny: &sbv1.ConnectDeny{Message: denyMsg, Data: data}}}
}

// hookServer is a switchboard.v1.ConnectHook on 127.0.0.1. With hold set
// each call waits, after telling asked, until hold is closed or the call's
// deadline.
type hookServer struct {
	sbv1.UnimplementedConnectHookServer
	hold  chan struct{}
	asked chan *sbv1.AuthorizeRequest // buffered; a full one drops

	mu   sync.Mutex
	reqs []*sbv1.AuthorizeRequest // guarded by mu
}

func (h *hookServer) Authorize(ctx context.Context, req *sbv1.AuthorizeRequest) (*sbv1.AuthorizeResponse, error) {
	h.mu.Lock()
	h.reqs = append(h.reqs, req)
	h.mu.Unlock()
	if h.asked != nil {
		select {
		case h.asked <- req:
		default:
		}
	}
	if h.hold != nil {
		select {
		case <-h.hold:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return decide(req), nil
}

func (h *hookServer) requests() []*sbv1.AuthorizeRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.reqs)
}

// startHook serves h on 127.0.0.1 until the test ends; its address.
func startHook(t *testing.T, h *hookServer) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
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
	return ln.Addr().String()
}

var listening = regexp.MustCompile(`msg="edge listening".* addr=(127\.0\.0\.1:\d+)`)

// startEdge starts the edge binary with args (after --addr 127.0.0.1:0)
// and env; its base URL once it listens.
func startEdge(t *testing.T, env []string, args ...string) (string, *proc) {
	t.Helper()
	e := start(t, 0, env, "edge", append([]string{"--addr", "127.0.0.1:0"}, args...)...)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("edge stderr:\n%s", strings.Join(e.lines(), "\n"))
		}
	})
	return "http://" + e.waitLine(t, listening)[1], e
}

// jsLine is one line of testdata/auth.mjs.
type jsLine struct {
	Ev      string          `json:"ev"`
	ID      string          `json:"id"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
	Name    string          `json:"name"`
	Args    []any           `json:"args"`
}

// jsClient is testdata/auth.mjs running.
type jsClient struct {
	proc *jsonproc.Proc[jsLine]
	read int // lines next has returned
}

// runJS starts testdata/auth.mjs against url with the io() options opts;
// hold keeps a connected socket until the test ends.
func runJS(t *testing.T, url string, opts map[string]any, hold bool) *jsClient {
	t.Helper()
	o, err := json.Marshal(opts)
	if err != nil {
		t.Fatal(err)
	}
	args := []string{filepath.Join("cmd", "edge", "testdata", "auth.mjs"), url, string(o)}
	if hold {
		args = append(args, "hold")
	}
	cmd := exec.Command("node", args...)
	cmd.Dir = repotest.Root(t)
	proc := jsonproc.Start(t, "node", cmd, exitWithin, func(text []byte) jsLine {
		var l jsLine
		if err := json.Unmarshal(text, &l); err != nil {
			l = jsLine{Ev: "fail", Message: fmt.Sprintf("bad line %q: %v", text, err)}
		}
		return l
	})
	t.Cleanup(func() { proc.Stop(5 * time.Second) })
	return &jsClient{proc: proc}
}

// next returns the client's next line, failing the test on a "fail" line,
// an exit (the failure shows node's stderr) or exitWithin without one.
func (c *jsClient) next(t *testing.T) jsLine {
	t.Helper()
	l := c.proc.Lines.WaitN(t, "node's next line", c.read+1, func(jsLine) bool { return true })[c.read]
	c.read++
	if l.Ev == "fail" {
		t.Fatalf("node: %s", l.Message)
	}
	return l
}

// jsConnect makes one connect attempt with socket.io-client; its line.
func jsConnect(t *testing.T, url string, opts map[string]any) jsLine {
	t.Helper()
	return runJS(t, url, opts, false).next(t)
}

// wantConnect fails unless l says the socket connected.
func wantConnect(t *testing.T, l jsLine) {
	t.Helper()
	if l.Ev != "connect" || l.ID == "" {
		t.Errorf("got %+v (data %s), want connect with an id", l, l.Data)
	}
}

// wantRefused fails unless l is a connect_error with message and, when
// data is not nil, err.data deep-equal to it.
func wantRefused(t *testing.T, l jsLine, message string, data any) {
	t.Helper()
	if l.Ev != "connect_error" {
		t.Fatalf("got %+v, want connect_error %q", l, message)
	}
	if l.Message != message {
		t.Errorf("err.message %q, want %q", l.Message, message)
	}
	if data != nil {
		var got any
		if err := json.Unmarshal(l.Data, &got); err != nil {
			t.Fatalf("err.data %s: %v", l.Data, err)
		}
		if !reflect.DeepEqual(got, data) {
			t.Errorf("err.data %s, want %v", l.Data, data)
		}
	}
}

// pyResult is the line of testdata/auth_client.py.
type pyResult struct {
	Ev           string  `json:"ev"`
	SID          string  `json:"sid"`
	Exception    string  `json:"exception"`
	Message      string  `json:"message"`
	ConnectError [][]any `json:"connect_error"`
}

const python = "/usr/bin/python3"

// pyConnect makes one connect attempt to "/" with python-socketio.
func pyConnect(t *testing.T, url string, auth map[string]any) pyResult {
	t.Helper()
	if err := exec.Command(python, "-c", "import socketio").Run(); err != nil {
		t.Fatalf("%s cannot import socketio (%v): run `make test-deps`", python, err)
	}
	a, err := json.Marshal(auth)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), exitWithin)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, filepath.Join(repotest.Root(t), "cmd", "edge", "testdata", "auth_client.py"), url, string(a))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("auth_client.py: %v\n%s", err, stderr.String())
	}
	var r pyResult
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("auth_client.py printed %q: %v", out, err)
	}
	return r
}

// TestAuthHookClients: a namespace whose connect hook (gRPC) denies unless
// the auth payload holds a known token. socket.io-client gets
// connect_error with the hook's message as err.message and its data as
// err.data; python-socketio's connect raises ConnectionError and its
// connect_error handler gets both; a client with the token connects. A
// namespace --auth does not name is open. The hook hears what the client
// sent. --auth is given twice: both count.
func TestAuthHookClients(t *testing.T) {
	t.Parallel()
	h := &hookServer{}
	url, _ := startEdge(t, nil, "--nats-url", "", "--auth", "/=hook:grpc://"+startHook(t, h), "--auth", "/private=hook:grpc://"+startHook(t, h)) // repeatable
	refusal := map[string]any{"message": denyMsg, "data": denyData}

	t.Run("js denied", func(t *testing.T) {
		wantRefused(t, jsConnect(t, url, map[string]any{"auth": map[string]any{"token": "wrong"}}), denyMsg, denyData)
	})
	t.Run("js without auth", func(t *testing.T) {
		wantRefused(t, jsConnect(t, url, map[string]any{}), denyMsg, denyData)
	})
	t.Run("js allowed", func(t *testing.T) {
		wantConnect(t, jsConnect(t, url, map[string]any{"auth": map[string]any{"token": goodToken}}))
	})
	t.Run("js websocket only", func(t *testing.T) {
		wantRefused(t, jsConnect(t, url, map[string]any{"transports": []string{"websocket"}}), denyMsg, denyData)
		wantConnect(t, jsConnect(t, url, map[string]any{"transports": []string{"websocket"}, "auth": map[string]any{"token": goodToken}}))
	})
	t.Run("js other namespace", func(t *testing.T) {
		wantRefused(t, jsConnect(t, url+"/private", map[string]any{}), denyMsg, denyData)
		wantConnect(t, jsConnect(t, url+"/public", map[string]any{}))
	})
	t.Run("python denied", func(t *testing.T) {
		r := pyConnect(t, url, map[string]any{"token": "wrong"})
		if r.Ev != "error" || r.Exception != "socketio.exceptions.ConnectionError" {
			t.Fatalf("got %+v, want socketio.exceptions.ConnectionError", r)
		}
		if r.Message != "One or more namespaces failed to connect" { // python-socketio 5's wording
			t.Errorf("exception message %q", r.Message)
		}
		if want := [][]any{{refusal}}; !reflect.DeepEqual(r.ConnectError, want) {
			t.Errorf("connect_error handler got %v, want %v", r.ConnectError, want)
		}
	})
	t.Run("python allowed", func(t *testing.T) {
		if r := pyConnect(t, url, map[string]any{"token": goodToken}); r.Ev != "connect" || r.SID == "" {
			t.Errorf("got %+v, want connect", r)
		}
	})
	t.Run("the hook's request", func(t *testing.T) {
		wantRefused(t, jsConnect(t, url+"/private?room=9", map[string]any{
			"auth":         json.RawMessage(`{"token":"t1","n":1}`), // in this order, which the hook gets
			"extraHeaders": map[string]string{"x-app": "1", "cookie": "session=abc"},
			"transports":   []string{"polling"},
		}), denyMsg, denyData)
		var req *sbv1.AuthorizeRequest
		for _, r := range h.requests() {
			if string(r.GetAuthJson()) == `{"token":"t1","n":1}` {
				req = r
			}
		}
		if req == nil {
			var seen []string
			for _, r := range h.requests() {
				seen = append(seen, string(r.GetAuthJson()))
			}
			t.Fatalf("the hook was not asked with the auth payload; it was asked with %q", seen)
		}
		if req.GetNamespace() != "/private" {
			t.Errorf("namespace %q, want /private", req.GetNamespace())
		}
		if hd := req.GetHeaders(); hd["x-app"] != "1" || hd["cookie"] != "session=abc" {
			t.Errorf("headers %v, want x-app: 1 and the cookie", hd)
		}
		if q := req.GetQuery(); q["room"] != "9" {
			t.Errorf("query %v, want room=9", q)
		}
		if !strings.HasPrefix(req.GetRemoteAddress(), "127.0.0.1:") {
			t.Errorf("remote address %q, want 127.0.0.1:port", req.GetRemoteAddress())
		}
		if req.GetTransport() != sbv1.Transport_TRANSPORT_POLLING {
			t.Errorf("transport %v, want polling", req.GetTransport())
		}
		if req.GetEdgeId() == "" {
			t.Error("no edge id")
		}
	})
}

// cluster is control (with its embedded NATS) and a gRPC client of it.
type cluster struct {
	nats string
	api  sbv1.ControlClient
}

func startCluster(t *testing.T) *cluster {
	t.Helper()
	ctl := start(t, 0, nil, "control", "--grpc-addr", "127.0.0.1:0", "--embedded-nats-addr", "127.0.0.1:0")
	m := ctl.waitLine(t, regexp.MustCompile(`msg="control listening".* grpc=(127\.0\.0\.1:\d+) nats=(nats://127\.0\.0\.1:\d+)`))
	conn, err := grpc.NewClient(m[1], grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &cluster{nats: m[2], api: sbv1.NewControlClient(conn)}
}

func (c *cluster) ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), exitWithin)
	t.Cleanup(cancel)
	return ctx
}

// counters waits until the one edge's heartbeat reports refused and failed
// CONNECTs as want, and fails the test if it does not within exitWithin.
func (c *cluster) waitCounters(t *testing.T, refused, failures uint64) {
	t.Helper()
	deadline := time.Now().Add(exitWithin)
	var got *sbv1.EdgeCounters
	for time.Now().Before(deadline) {
		r, err := c.api.ClusterInfo(c.ctx(t), &sbv1.ClusterInfoRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if len(r.GetEdges()) == 1 {
			got = r.GetEdges()[0].GetCounters()
			if got.GetConnectsRefused() == refused && got.GetAuthFailures() == failures {
				return
			}
		}
		time.Sleep(50 * time.Millisecond) // the next heartbeat; nothing to wait on
	}
	t.Fatalf("counters connects_refused %d, auth_failures %d; want %d, %d", got.GetConnectsRefused(), got.GetAuthFailures(), refused, failures)
}

// sockets lists namespace ns's sockets.
func (c *cluster) sockets(t *testing.T, ns string) []*sbv1.Socket {
	t.Helper()
	r, err := c.api.ListSockets(c.ctx(t), &sbv1.ListSocketsRequest{Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	return r.GetSockets()
}

// TestAuthCluster: with control, over one edge. A socket the hook holds is
// in no ListSockets until the hook allows it; then it has the hook's user,
// rooms and data, and an emit to its user reaches it. A hook that is down
// or slower than --hook-timeout, or a NATS subject nobody answers, refuses
// the connect with a message saying so. A NATS hook answers from a queue
// group. A JWT's subject, rooms claim and data claim become the socket's.
// ClusterInfo counts the denials (connects_refused) and the failures to
// decide (auth_failures).
func TestAuthCluster(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	held := &hookServer{hold: make(chan struct{}), asked: make(chan *sbv1.AuthorizeRequest, 4)}
	slow := &hookServer{hold: make(chan struct{})} // never released
	t.Cleanup(func() { close(slow.hold) })
	auth := strings.Join([]string{
		"/=hook:grpc://" + startHook(t, &hookServer{}),
		"/held=hook:grpc://" + startHook(t, held),
		"/slow=hook:grpc://" + startHook(t, slow),
		"/down=hook:grpc://" + repotest.ClosedAddr(t),
		"/nats=hook:nats:test.auth.connect",
		"/nobody=hook:nats:test.auth.nobody",
		"/jwt=jwt",
	}, ",")
	url, _ := startEdge(t, []string{prefix + "JWT_KEY=" + jwtSecret},
		"--nats-url", c.nats, "--heartbeat", "100ms", "--hook-timeout", "500ms", "--auth", auth,
		"--jwt-rooms-claim", "rooms", "--jwt-data-claim", "profile")
	var refused, failures uint64
	c.waitCounters(t, 0, 0)

	t.Run("deny counted", func(t *testing.T) {
		wantRefused(t, jsConnect(t, url, map[string]any{}), denyMsg, denyData)
		refused++
		c.waitCounters(t, refused, failures)
	})
	t.Run("invisible until admitted", func(t *testing.T) {
		js := runJS(t, url+"/held", map[string]any{"auth": map[string]any{"token": goodToken}}, true)
		select {
		case <-held.asked:
		case <-time.After(exitWithin):
			t.Fatal("the hook was not asked")
		}
		if s := c.sockets(t, "/held"); len(s) != 0 {
			t.Errorf("ListSockets while the hook decides: %v, want none", s)
		}
		close(held.hold)
		l := js.next(t)
		wantConnect(t, l)
		s := c.sockets(t, "/held")
		if len(s) != 1 {
			t.Fatalf("ListSockets: %v, want the one socket", s)
		}
		if s[0].GetSid() != l.ID || s[0].GetUser() != hookUser || !slices.Contains(s[0].GetRooms(), hookRoom) {
			t.Errorf("socket %v: want sid %s, user %s, in room %s", s[0], l.ID, hookUser, hookRoom)
		}
		if d := dataOf(t, s[0]); !reflect.DeepEqual(d, map[string]any{"plan": "pro"}) {
			t.Errorf("data %v, want the hook's", d)
		}
		arg, _ := structpb.NewValue("for alice")
		if _, err := c.api.Emit(c.ctx(t), &sbv1.EmitRequest{Target: &sbv1.Target{Namespace: "/held", Users: []string{hookUser}}, Event: "note", Args: []*structpb.Value{arg}}); err != nil {
			t.Fatal(err)
		}
		if l := js.next(t); l.Ev != "event" || l.Name != "note" || !reflect.DeepEqual(l.Args, []any{"for alice"}) {
			t.Errorf("got %+v, want the event emitted to the user", l)
		}
	})
	t.Run("hook down", func(t *testing.T) {
		wantRefused(t, jsConnect(t, url+"/down", map[string]any{"auth": map[string]any{"token": goodToken}}), "connect hook unavailable", nil)
		failures++
		c.waitCounters(t, refused, failures)
	})
	t.Run("hook slow", func(t *testing.T) {
		start := time.Now()
		wantRefused(t, jsConnect(t, url+"/slow", map[string]any{"auth": map[string]any{"token": goodToken}}), "connect hook timed out", nil)
		if took := time.Since(start); took > exitWithin/2 {
			t.Errorf("refused after %v, want about the 500ms hook timeout", took)
		}
		failures++
		c.waitCounters(t, refused, failures)
		if s := c.sockets(t, "/slow"); len(s) != 0 {
			t.Errorf("ListSockets: %v, want none", s)
		}
	})
	t.Run("nats hook", func(t *testing.T) {
		nc, err := nats.Connect(c.nats)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		var mu sync.Mutex
		answered := map[string]int{} // by replica
		for _, replica := range []string{"a", "b"} {
			_, err := nc.QueueSubscribe("test.auth.connect", "app", func(m *nats.Msg) {
				var req sbv1.AuthorizeRequest
				if err := proto.Unmarshal(m.Data, &req); err != nil {
					return
				}
				mu.Lock()
				answered[replica]++
				mu.Unlock()
				b, _ := proto.Marshal(decide(&req))
				_ = m.Respond(b)
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
		wantRefused(t, jsConnect(t, url+"/nats", map[string]any{}), denyMsg, denyData)
		refused++
		wantConnect(t, jsConnect(t, url+"/nats", map[string]any{"auth": map[string]any{"token": goodToken}}))
		mu.Lock()
		if n := answered["a"] + answered["b"]; n != 2 {
			t.Errorf("the queue group answered %d requests (%v), want 2: one replica each", n, answered)
		}
		mu.Unlock()
		wantRefused(t, jsConnect(t, url+"/nobody", map[string]any{}), "connect hook unavailable", nil)
		failures++
		c.waitCounters(t, refused, failures)
	})
	t.Run("jwt claims", func(t *testing.T) {
		tok := signHS(t, jwt.MapClaims{
			"sub": jwtSubject, "exp": time.Now().Add(time.Hour).Unix(),
			"rooms": []string{"r1", "r2"}, "profile": map[string]any{"tier": "gold"},
		})
		js := runJS(t, url+"/jwt", map[string]any{"auth": map[string]any{"token": tok}}, true)
		l := js.next(t)
		wantConnect(t, l)
		s := c.sockets(t, "/jwt")
		if len(s) != 1 {
			t.Fatalf("ListSockets: %v, want the one socket", s)
		}
		if s[0].GetUser() != jwtSubject || !slices.Contains(s[0].GetRooms(), "r1") || !slices.Contains(s[0].GetRooms(), "r2") {
			t.Errorf("socket %v: want user %s in rooms r1 and r2", s[0], jwtSubject)
		}
		if d := dataOf(t, s[0]); !reflect.DeepEqual(d, map[string]any{"tier": "gold"}) {
			t.Errorf("data %v, want the profile claim", d)
		}
		wantRefused(t, jsConnect(t, url+"/jwt", map[string]any{}), "missing token", nil)
		refused++
		c.waitCounters(t, refused, failures)
	})
}

// dataOf is a socket's data_json, decoded; nil when it has none.
func dataOf(t *testing.T, s *sbv1.Socket) any {
	t.Helper()
	if s.GetDataJson() == "" {
		return nil
	}
	var d any
	if err := json.Unmarshal([]byte(s.GetDataJson()), &d); err != nil {
		t.Errorf("socket %s: data_json %q is not JSON: %v", s.GetSid(), s.GetDataJson(), err)
	}
	return d
}

// signHS signs claims with jwtSecret, HS256.
func signHS(t *testing.T, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(jwtSecret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// writeFile writes b to a file of the test's temporary directory; its path.
func writeFile(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func pemPublic(t *testing.T, pub any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// TestAuthJWT: a namespace in jwt mode, configured by flags and variables
// only. socket.io-client with a valid token in its auth payload connects;
// with an expired token, an unsigned one (alg none), one signed with
// another secret, or none, it gets connect_error saying why.
// python-socketio with a valid token connects. With an RSA key file the
// token may come in the Authorization header or the --jwt-cookie cookie,
// and an HS256 token whose secret is the RSA public key is refused.
func TestAuthJWT(t *testing.T) {
	t.Parallel()
	t.Run("hmac", func(t *testing.T) {
		t.Parallel()
		url, _ := startEdge(t, []string{prefix + "AUTH=/=jwt", prefix + "JWT_KEY=" + jwtSecret, prefix + "JWT_LEEWAY=1s"}, "--nats-url", "")
		valid := signHS(t, jwt.MapClaims{"sub": jwtSubject, "exp": time.Now().Add(time.Hour).Unix()})
		expired := signHS(t, jwt.MapClaims{"sub": jwtSubject, "exp": time.Now().Add(-time.Minute).Unix()})
		other, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": jwtSubject}).SignedString([]byte("another secret, 32 bytes or more"))
		if err != nil {
			t.Fatal(err)
		}
		unsigned, err := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"sub": jwtSubject}).SignedString(jwt.UnsafeAllowNoneSignatureType)
		if err != nil {
			t.Fatal(err)
		}
		withToken := func(tok string) map[string]any { return map[string]any{"auth": map[string]any{"token": tok}} }

		wantConnect(t, jsConnect(t, url, withToken(valid)))
		wantRefused(t, jsConnect(t, url, withToken(expired)), "invalid token: token is expired", nil)
		wantRefused(t, jsConnect(t, url, withToken(other)), "invalid token: signature is invalid", nil)
		wantRefused(t, jsConnect(t, url, withToken(unsigned)), "invalid token: signing algorithm not accepted", nil)
		wantRefused(t, jsConnect(t, url, map[string]any{}), "missing token", nil)
		if r := pyConnect(t, url, map[string]any{"token": valid}); r.Ev != "connect" {
			t.Errorf("python-socketio with a valid token: %+v, want connect", r)
		}
		if r := pyConnect(t, url, map[string]any{"token": expired}); r.Exception != "socketio.exceptions.ConnectionError" ||
			!reflect.DeepEqual(r.ConnectError, [][]any{{map[string]any{"message": "invalid token: token is expired"}}}) {
			t.Errorf("python-socketio with an expired token: %+v, want ConnectionError and the message", r)
		}
	})
	t.Run("rsa", func(t *testing.T) {
		t.Parallel()
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		pub := pemPublic(t, &key.PublicKey)
		url, _ := startEdge(t, nil, "--nats-url", "", "--auth", "*=jwt", "--jwt-key-file", writeFile(t, "rsa.pem", pub),
			"--jwt-cookie", "sb_token", "--jwt-issuer", "https://issuer.test", "--jwt-audience", "switchboard")
		claims := jwt.MapClaims{"sub": jwtSubject, "iss": "https://issuer.test", "aud": "switchboard", "exp": time.Now().Add(time.Hour).Unix()}
		tok, err := jwt.NewWithClaims(jwt.SigningMethodRS256, claims).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		confused, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(pub)
		if err != nil {
			t.Fatal(err)
		}
		wrongAud := jwt.MapClaims{"sub": jwtSubject, "iss": "https://issuer.test", "aud": "elsewhere"}
		elsewhere, err := jwt.NewWithClaims(jwt.SigningMethodRS256, wrongAud).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		polling := []string{"polling"} // extraHeaders reach the server on polling in node
		wantConnect(t, jsConnect(t, url+"/any", map[string]any{"transports": polling, "extraHeaders": map[string]string{"authorization": "Bearer " + tok}}))
		wantConnect(t, jsConnect(t, url+"/any", map[string]any{"transports": polling, "extraHeaders": map[string]string{"cookie": "other=1; sb_token=" + tok}}))
		wantRefused(t, jsConnect(t, url, map[string]any{"auth": map[string]any{"token": confused}}), "invalid token: signing algorithm not accepted", nil)
		wantRefused(t, jsConnect(t, url, map[string]any{"auth": map[string]any{"token": elsewhere}}), "invalid token: token has invalid audience", nil)
	})
}

// TestAuthKeyFiles: a key the edge cannot verify with is refused before
// it starts, exit status 2, the line naming --jwt-key-file or
// --jwt-algorithms.
func TestAuthKeyFiles(t *testing.T) {
	t.Parallel()
	rsaSmall, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p224, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := x509.MarshalPKCS8PrivateKey(ec)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		key  []byte
		args []string
		want string
	}{
		{"private key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: priv}), nil, "is a PRIVATE KEY: give the public key"},
		{"small RSA", pemPublic(t, &rsaSmall.PublicKey), nil, "RSA key of 1024 bits: want at least 2048"},
		{"P-224", pemPublic(t, &p224.PublicKey), nil, "ECDSA curve P-224"},
		{"not PEM inside", []byte("-----BEGIN PUBLIC KEY-----\nnot base64\n"), nil, "looks like PEM but has no PEM block"},
		{"empty", nil, nil, "the key is empty"},
		{"curve's algorithm", pemPublic(t, &ec.PublicKey), []string{"--jwt-algorithms", "ES384"}, "--jwt-algorithms ES384: does not fit the key (it fits ES256)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := writeFile(t, "key.pem", tc.key)
			r := run(t, baseEnv, append([]string{"--auth", "/=jwt", "--jwt-key-file", path}, tc.args...)...)
			if r.Code != 2 {
				t.Errorf("exit status %d, want 2", r.Code)
			}
			line := oneLine(t, r)
			if tc.args == nil && !strings.HasPrefix(line, "edge: --jwt-key-file "+path+": ") {
				t.Errorf("%q does not name the flag and the file", line)
			}
			if !strings.Contains(line, tc.want) {
				t.Errorf("%q, want it to say %q", line, tc.want)
			}
		})
	}
}

// TestAuthSecretNewline: an HMAC secret file that ends with a newline is
// used as it is (the newline is part of the secret), with a warning.
func TestAuthSecretNewline(t *testing.T) {
	t.Parallel()
	path := writeFile(t, "secret", []byte(jwtSecret+"\n"))
	url, e := startEdge(t, nil, "--nats-url", "", "--auth", "/=jwt", "--jwt-key-file", path)
	e.waitLine(t, regexp.MustCompile(`level=WARN.*ends with a newline.*flag=jwt-key-file`))
	claims := jwt.MapClaims{"sub": jwtSubject}
	withNewline, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(jwtSecret + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	wantConnect(t, jsConnect(t, url, map[string]any{"auth": map[string]any{"token": withNewline}}))
	wantRefused(t, jsConnect(t, url, map[string]any{"auth": map[string]any{"token": signHS(t, claims)}}), "invalid token: signature is invalid", nil)
	if err := e.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := e.wait(t); code != 0 {
		t.Errorf("exit status %d, want 0", code)
	}
}
