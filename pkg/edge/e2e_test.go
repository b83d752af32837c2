package edge_test

// End-to-end tests: a real edge, in-process on 127.0.0.1, driven by the
// official clients (socket.io-client for Node, python-socketio) running the
// scripts of testdata/. Each script prints JSON lines that the tests assert,
// together with what the server observed through its hooks.
//
// Node.js with node_modules/socket.io-client (npm ci) and Debian's
// python3-socketio are required: `make test-deps` installs them.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/switchboard-rt/switchboard/internal/repotest"
	"github.com/switchboard-rt/switchboard/pkg/edge"
	"github.com/switchboard-rt/switchboard/pkg/engineio"
	"github.com/switchboard-rt/switchboard/pkg/socketio"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// waitTimeout bounds every wait on the server side; the client scripts give
// up a little earlier (SB_TIMEOUT_MS), so their report comes first.
const waitTimeout = 8 * time.Second

// ---- scaffolding ----

// testEdge is an edge serving on a loopback port for one test.
type testEdge struct {
	*edge.Edge
	url string // http://127.0.0.1:port
}

// startEdge starts an edge on 127.0.0.1 with cfg and shuts it down (and
// checks that Run returned cleanly) when the test ends. setup, when given,
// installs the server's hooks before it serves: hooks are not to change
// while clients connect.
func startEdge(t *testing.T, cfg edge.Config, setup func(te *testEdge)) *testEdge {
	t.Helper()
	cfg.Addr = "127.0.0.1:0"
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	e, err := edge.New(cfg)
	if err != nil {
		t.Fatalf("edge.New: %v", err)
	}
	if err := e.Listen(); err != nil {
		t.Fatalf("Listen: %v", err)
	}
	te := &testEdge{Edge: e, url: "http://" + e.Addr().String()}
	if setup != nil {
		setup(te)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("edge Run: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("edge did not shut down")
		}
	})
	return te
}

// recv waits for a value on ch.
func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitTimeout):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// noValue checks that nothing is waiting on ch.
func noValue[T any](t *testing.T, ch <-chan T, what string) {
	t.Helper()
	select {
	case v := <-ch:
		t.Errorf("unexpected %s: %v", what, v)
	default:
	}
}

// eventually polls cond, for state that offers nothing to wait on.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// clientLine is one JSON line a client script printed.
type clientLine struct {
	Ev  string
	Raw json.RawMessage
}

type clientLines []clientLine

// all returns the lines of one kind.
func (ls clientLines) all(ev string) clientLines {
	var out clientLines
	for _, l := range ls {
		if l.Ev == ev {
			out = append(out, l)
		}
	}
	return out
}

// get decodes the first line of one kind into v.
func (ls clientLines) get(t *testing.T, ev string, v any) {
	t.Helper()
	for _, l := range ls {
		if l.Ev == ev {
			if err := json.Unmarshal(l.Raw, v); err != nil {
				t.Fatalf("client line %s: %v", l.Raw, err)
			}
			return
		}
	}
	t.Fatalf("the client reported no %q; it printed:\n%s", ev, ls)
}

func (ls clientLines) String() string {
	var b strings.Builder
	for _, l := range ls {
		b.Write(l.Raw)
		b.WriteByte('\n')
	}
	return b.String()
}

// clientRun is a client process running in the background.
type clientRun struct {
	name           string
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
	done           chan error
}

// startClient starts a client process in the repository root. The process
// is killed after waitTimeout and, at the latest, when the test ends.
func startClient(t *testing.T, env []string, name string, args ...string) *clientRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout+2*time.Second)
	r := &clientRun{name: filepath.Base(args[0]), done: make(chan error, 1)}
	r.cmd = exec.CommandContext(ctx, name, args...)
	r.cmd.Dir = repotest.Root(t)
	r.cmd.Env = append(os.Environ(), env...)
	r.cmd.Stdout = &r.stdout
	r.cmd.Stderr = &r.stderr
	r.cmd.WaitDelay = time.Second
	if err := r.cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { r.done <- r.cmd.Wait() }()
	t.Cleanup(func() {
		cancel()
		<-r.done
	})
	return r
}

// wait waits for the client to exit, requires success and a final "end"
// line, and returns what it printed.
func (r *clientRun) wait(t *testing.T) clientLines {
	t.Helper()
	var err error
	select {
	case err = <-r.done:
		r.done <- err // for the cleanup
	case <-time.After(waitTimeout + 5*time.Second):
		t.Fatalf("%s did not exit", r.name)
	}
	var lines clientLines
	sc := bufio.NewScanner(bytes.NewReader(r.stdout.Bytes()))
	sc.Buffer(nil, 4<<20)
	for sc.Scan() {
		var l struct {
			Ev string `json:"ev"`
		}
		if json.Unmarshal(sc.Bytes(), &l) != nil || l.Ev == "" {
			t.Errorf("%s printed a line that is not a JSON event: %q", r.name, sc.Text())
			continue
		}
		lines = append(lines, clientLine{Ev: l.Ev, Raw: append(json.RawMessage(nil), sc.Bytes()...)})
	}
	if err != nil || len(lines) == 0 || lines[len(lines)-1].Ev != "end" {
		t.Fatalf("%s failed (%v); stdout:\n%s\nstderr:\n%s", r.name, err, lines, r.stderr.String())
	}
	return lines
}

// mode is how a Node client picks its transports.
type mode struct {
	name       string
	transports string // SB_TRANSPORTS: empty is the client's default
	final      string // the transport once connected (and upgraded)
	initial    string // the transport that carried the handshake
}

var modes = []mode{
	{name: "polling", transports: "polling", final: engineio.TransportPolling, initial: engineio.TransportPolling},
	{name: "websocket", transports: "websocket", final: engineio.TransportWebSocket, initial: engineio.TransportWebSocket},
	{name: "default", transports: "", final: engineio.TransportWebSocket, initial: engineio.TransportPolling},
}

// eachMode runs fn as a parallel subtest for each transport mode.
func eachMode(t *testing.T, fn func(t *testing.T, m mode)) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			fn(t, m)
		})
	}
}

// requireNode fails (it does not skip) when Node.js or socket.io-client is
// missing.
func requireNode(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is not on PATH: run `make test-deps` (Node.js >= 18 and npm needed)")
	}
	if _, err := os.Stat(filepath.Join(repotest.Root(t), "node_modules", "socket.io-client", "package.json")); err != nil {
		t.Fatalf("node_modules/socket.io-client is missing: run `make test-deps`")
	}
	return node
}

// startNode runs testdata/<script> with node against te, in mode m; env adds
// SB_* variables.
func startNode(t *testing.T, te *testEdge, m mode, script string, env ...string) *clientRun {
	t.Helper()
	node := requireNode(t)
	env = append([]string{
		"SB_URL=" + te.url,
		"SB_TRANSPORTS=" + m.transports,
		fmt.Sprintf("SB_TIMEOUT_MS=%d", waitTimeout.Milliseconds()-1000),
	}, env...)
	return startClient(t, env, node, filepath.Join("pkg", "edge", "testdata", script))
}

// runNode is startNode, then wait.
func runNode(t *testing.T, te *testEdge, m mode, script string, env ...string) clientLines {
	t.Helper()
	return startNode(t, te, m, script, env...).wait(t)
}

// bin is how the client scripts print binary values.
func bin(b ...byte) map[string]any {
	return map[string]any{"$bin": base64.StdEncoding.EncodeToString(b)}
}

// placeholder is Socket.IO's stand-in for attachment n.
func placeholder(n int) map[string]any { return map[string]any{"_placeholder": true, "num": n} }

// assertJSON compares JSON with the JSON encoding of want, as values.
func assertJSON(t *testing.T, what string, got []byte, want any) {
	t.Helper()
	wb, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Errorf("%s: %v in %s", what, err, got)
		return
	}
	_ = json.Unmarshal(wb, &w)
	if !reflect.DeepEqual(g, w) {
		t.Errorf("%s:\n got %s\nwant %s", what, got, wb)
	}
}

// disconnect is a server-side disconnect hook call.
type disconnect struct {
	id, reason string
}

// hooks records what the server sees on every namespace: connects,
// disconnects and events. Its channels are buffered so that the server's
// goroutines never block on a test.
type hooks struct {
	connects    chan *socketio.Socket
	disconnects chan disconnect
	events      chan *socketio.Event
}

// record installs hooks on every namespace of te; answer, when set, runs
// first for each event (to ack it).
func record(te *testEdge, answer func(*socketio.Socket, *socketio.Event)) *hooks {
	h := &hooks{
		connects:    make(chan *socketio.Socket, 64),
		disconnects: make(chan disconnect, 64),
		events:      make(chan *socketio.Event, 64),
	}
	te.SocketIO().OnNamespace(func(n *socketio.Namespace) {
		n.OnConnect(func(s *socketio.Socket) { h.connects <- s })
		n.OnDisconnect(func(s *socketio.Socket, reason string) { h.disconnects <- disconnect{s.ID(), reason} })
		n.OnEvent(func(s *socketio.Socket, e *socketio.Event) {
			if answer != nil {
				answer(s, e)
			}
			h.events <- e
		})
	})
	return h
}

// ackID acks every event with the socket's id.
func ackID(s *socketio.Socket, e *socketio.Event) { _ = e.Ack(s.ID()) }

// event waits for the next event the server received and checks its name.
func (h *hooks) event(t *testing.T, name string) *socketio.Event {
	t.Helper()
	e := recv(t, h.events, "event "+name)
	if e.Name != name {
		t.Fatalf("server received event %q, want %q", e.Name, name)
	}
	return e
}

// ---- connection ----

// readyAck is the server's answer to "ready" in connect.mjs.
type readyAck struct {
	SID       string          `json:"sid"`
	NS        string          `json:"ns"`
	Transport string          `json:"transport"`
	Sessions  int             `json:"sessions"`
	EngineID  string          `json:"eio"`
	Auth      json.RawMessage `json:"auth"`
	User      string          `json:"user"`
}

// answerReady acks "ready" with the server's view of the socket.
func answerReady(te *testEdge) func(*socketio.Socket, *socketio.Event) {
	return func(s *socketio.Socket, e *socketio.Event) {
		if e.Name != "ready" {
			return
		}
		hs := s.Handshake()
		_ = e.Ack(readyAck{
			SID:       s.ID(),
			NS:        s.Namespace().Name(),
			Transport: s.Transport(),
			Sessions:  te.SocketIO().Engine().Stats().Sessions,
			EngineID:  hs.EngineID,
			Auth:      hs.Auth,
			User:      s.User(),
		})
	}
}

type connectLine struct {
	NSP string `json:"nsp"`
	ID  string `json:"id"`
}

type readyLine struct {
	NSP string     `json:"nsp"`
	Ack []readyAck `json:"ack"`
}

type connectErrorLine struct {
	NSP     string          `json:"nsp"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
}

// checkConnect starts an edge with cfg and runs connect.mjs, which
// connects to namespaces over one Manager with auth {"token":"abc"}; it
// checks each socket against the server's view.
func checkConnect(t *testing.T, cfg edge.Config, m mode, env ...string) {
	t.Helper()
	var h *hooks
	te := startEdge(t, cfg, func(te *testEdge) {
		h = record(te, answerReady(te))
		te.SocketIO().Of("/").Authenticate(func(hs *socketio.Handshake) (*socketio.ConnectResult, error) {
			var auth struct {
				Token string `json:"token"`
			}
			if err := json.Unmarshal(hs.Auth, &auth); err != nil || auth.Token != "abc" {
				return nil, &socketio.ConnectError{Message: "bad token"}
			}
			return &socketio.ConnectResult{User: "u-abc"}, nil
		})
	})
	env = append(env, `SB_AUTH={"token":"abc"}`)
	lines := runNode(t, te, m, "connect.mjs", env...)

	connects := lines.all("connect")
	server := map[string]*socketio.Socket{}
	for range connects {
		s := recv(t, h.connects, "server-side connect")
		server[s.Namespace().Name()] = s
	}
	engineIDs := map[string]bool{}
	for _, l := range connects {
		var c connectLine
		_ = json.Unmarshal(l.Raw, &c)
		s := server[c.NSP]
		if s == nil {
			t.Fatalf("client connected to %q, the server saw no such socket", c.NSP)
		}
		if c.ID != s.ID() {
			t.Errorf("%s: client socket.id %q, server socket.ID() %q", c.NSP, c.ID, s.ID())
		}
		hs := s.Handshake()
		// With the default transports, "/" connects in the first POST;
		// another namespace's CONNECT may wait for the upgrade to finish.
		if hs.Transport != m.initial && (m.transports != "" || c.NSP == "/") {
			t.Errorf("%s: handshake transport %q, want %q", c.NSP, hs.Transport, m.initial)
		}
		if string(hs.Auth) != `{"token":"abc"}` {
			t.Errorf("%s: handshake auth %s, want {\"token\":\"abc\"}", c.NSP, hs.Auth)
		}
		engineIDs[hs.EngineID] = true
	}
	if len(engineIDs) > 1 {
		t.Errorf("namespaces used %d Engine.IO sessions, want 1 (multiplexed)", len(engineIDs))
	}
	if m.transports == "" {
		var up struct{ Transport string }
		lines.get(t, "upgrade", &up)
		if up.Transport != engineio.TransportWebSocket {
			t.Errorf("client upgraded to %q", up.Transport)
		}
	}
	for _, l := range lines.all("ready") {
		var r readyLine
		if err := json.Unmarshal(l.Raw, &r); err != nil || len(r.Ack) != 1 {
			t.Fatalf("ready line %s", l.Raw)
		}
		a := r.Ack[0]
		s := server[r.NSP]
		if s == nil || a.SID != s.ID() || a.NS != r.NSP {
			t.Errorf("ready on %s answered by socket %s of %s", r.NSP, a.SID, a.NS)
		}
		if a.Transport != m.final {
			t.Errorf("%s: transport %q when ready, want %q", r.NSP, a.Transport, m.final)
		}
		if a.Sessions != 1 {
			t.Errorf("%s: %d Engine.IO sessions open, want 1", r.NSP, a.Sessions)
		}
		if a.User != "u-abc" && r.NSP == "/" {
			t.Errorf("user %q, want u-abc", a.User)
		}
	}
	if got, want := len(lines.all("ready")), len(connects); got != want {
		t.Errorf("%d ready acks for %d connected sockets", got, want)
	}
	for range connects {
		d := recv(t, h.disconnects, "server-side disconnect")
		if d.reason != socketio.ReasonClientDisconnect {
			t.Errorf("socket %s disconnected with %q, want %q", d.id, d.reason, socketio.ReasonClientDisconnect)
		}
	}
	eventually(t, "the Engine.IO session to close", func() bool { return te.SocketIO().Engine().Stats().Sessions == 0 })
}

func TestE2EConnect(t *testing.T) {
	eachMode(t, func(t *testing.T, m mode) {
		checkConnect(t, edge.Config{}, m)
	})
}

func TestE2ECustomPath(t *testing.T) {
	eachMode(t, func(t *testing.T, m mode) {
		checkConnect(t, edge.Config{Path: "/ws/socket.io"}, m, "SB_PATH=/ws/socket.io")
	})
}

func TestE2ENamespacesMultiplexed(t *testing.T) {
	eachMode(t, func(t *testing.T, m mode) {
		checkConnect(t, edge.Config{}, m, "SB_NAMESPACES=/,/chat")
	})
}

func TestE2EInvalidNamespace(t *testing.T) {
	eachMode(t, func(t *testing.T, m mode) {
		var h *hooks
		te := startEdge(t, edge.Config{Namespaces: []string{"/"}}, func(te *testEdge) { h = record(te, answerReady(te)) })
		lines := runNode(t, te, m, "connect.mjs", "SB_NAMESPACES=/,/nope")
		var ce connectErrorLine
		lines.get(t, "connect_error", &ce)
		if ce.NSP != "/nope" || ce.Message != "Invalid namespace" {
			t.Errorf("connect_error %+v, want /nope: Invalid namespace", ce)
		}
		if len(ce.Data) != 0 {
			t.Errorf("connect_error data %s, want none", ce.Data)
		}
		// The main namespace, on the same connection, still works.
		var c connectLine
		lines.get(t, "connect", &c)
		s := recv(t, h.connects, "connect")
		if c.NSP != "/" || s.ID() != c.ID || s.Namespace().Name() != "/" {
			t.Errorf("connected %+v, server socket %s on %s", c, s.ID(), s.Namespace().Name())
		}
		if len(lines.all("ready")) != 1 {
			t.Errorf("want one ready ack:\n%s", lines)
		}
		if n := te.SocketIO().Namespace("/nope"); n != nil {
			t.Errorf("namespace /nope was created")
		}
		noValue(t, h.connects, "second connect")
	})
}

func TestE2EConnectError(t *testing.T) {
	eachMode(t, func(t *testing.T, m mode) {
		var h *hooks
		auths := make(chan json.RawMessage, 1)
		te := startEdge(t, edge.Config{}, func(te *testEdge) {
			h = record(te, nil)
			te.SocketIO().Of("/").Authenticate(func(hs *socketio.Handshake) (*socketio.ConnectResult, error) {
				auths <- hs.Auth
				return nil, &socketio.ConnectError{
					Message: "unauthorized!",
					Data:    map[string]any{"code": 401, "reason": "bad token ✗"},
				}
			})
		})
		lines := runNode(t, te, m, "connect.mjs", `SB_AUTH={"token":"nope"}`)
		var ce connectErrorLine
		lines.get(t, "connect_error", &ce)
		if ce.NSP != "/" || ce.Message != "unauthorized!" {
			t.Errorf("connect_error %+v, want unauthorized!", ce)
		}
		assertJSON(t, "connect_error data", ce.Data, map[string]any{"code": 401, "reason": "bad token ✗"})
		assertJSON(t, "auth seen by Authenticate", recv(t, auths, "Authenticate"), map[string]any{"token": "nope"})
		if n := len(lines.all("connect")); n != 0 {
			t.Errorf("client connected %d times", n)
		}
		noValue(t, h.connects, "connect")
	})
}

// ---- events ----

// bigUnit, repeated bigRepeat times, is the large string of events.mjs.
const (
	bigUnit   = "big-é-🌍-"
	bigRepeat = 42_000 // 504 KB of UTF-8
)

func TestE2EEvents(t *testing.T) {
	big := strings.Repeat(bigUnit, bigRepeat)
	eachMode(t, func(t *testing.T, m mode) {
		type askResult struct {
			ack *socketio.Ack
			err error
		}
		asks := make(chan askResult, 1)
		var wg sync.WaitGroup
		t.Cleanup(wg.Wait) // before the edge's shutdown (cleanups run last-in first-out)
		var h *hooks
		te := startEdge(t, edge.Config{}, func(te *testEdge) {
			h = record(te, func(s *socketio.Socket, e *socketio.Event) {
				switch e.Name {
				case "echo":
					_ = e.AckRaw(e.Args, e.Attachments)
				case "client-event":
					_ = e.Ack("ack ✓", []byte{10, 11}, map[string]any{"deep": []any{map[string]any{"b": []byte{12}}}})
				case "client-big":
					var args []string
					_ = json.Unmarshal(e.Args, &args)
					_ = e.Ack(len(args) == 1 && args[0] == big, len(e.Args))
				case "done":
					_ = e.Ack(s.Transport())
				}
			})
			te.SocketIO().Of("/").OnConnect(func(s *socketio.Socket) {
				_ = s.Emit("server-event", "ça marche ✓ 🚀", []byte{1, 2, 3},
					map[string]any{"nested": map[string]any{"bin": []byte{4, 5}}, "list": []any{[]byte{6}, "x"}},
					7, nil, false)
				// An emit with ack waits for the client, whose answer comes
				// through this very goroutine: wait elsewhere.
				wg.Add(1)
				go func() {
					defer wg.Done()
					ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
					defer cancel()
					ack, err := s.EmitWithAck(ctx, "server-ask", "question ?", []byte{0xff, 0x00})
					asks <- askResult{ack, err}
					if err == nil {
						_ = s.Emit("server-big", big)
						_ = s.Emit("bye")
					}
				}()
			})
		})

		lines := runNode(t, te, m, "events.mjs", fmt.Sprintf("SB_BIG_REPEAT=%d", bigRepeat))
		s := recv(t, h.connects, "connect")
		var c connectLine
		lines.get(t, "connect", &c)
		if c.ID != s.ID() {
			t.Errorf("client id %q, server %q", c.ID, s.ID())
		}

		// Server → client event: unicode, binary at top level and nested.
		var ev struct{ Args json.RawMessage }
		lines.get(t, "server-event", &ev)
		assertJSON(t, "server-event as the client got it", ev.Args, []any{
			"ça marche ✓ 🚀", bin(1, 2, 3),
			map[string]any{"nested": map[string]any{"bin": bin(4, 5)}, "list": []any{bin(6), "x"}},
			7, nil, false,
		})

		// Server → client emit with ack; the client's answer carries binary.
		lines.get(t, "server-ask", &ev)
		assertJSON(t, "server-ask as the client got it", ev.Args, []any{"question ?", bin(0xff, 0x00)})
		a := recv(t, asks, "the client's ack")
		if a.err != nil {
			t.Fatalf("EmitWithAck: %v", a.err)
		}
		assertJSON(t, "client's ack args", a.ack.Args, []any{
			"réponse ✓", placeholder(0),
			map[string]any{"nested": map[string]any{"bin": placeholder(1)}, "list": []any{placeholder(2)}},
		})
		if want := [][]byte{{9, 8, 7}, {6, 5}, []byte("xyz")}; !reflect.DeepEqual(a.ack.Attachments, want) {
			t.Errorf("client's ack attachments %v, want %v", a.ack.Attachments, want)
		}

		// Client → server events with acks.
		sent := []any{"héllo wörld 🌍 日本", bin(1, 2, 3),
			map[string]any{"nested": map[string]any{"bin": bin(4, 5, 6), "s": "ü"}, "arr": []any{bin(7), 8}},
			42, nil, true}
		wantArgs := []any{"héllo wörld 🌍 日本", placeholder(0),
			map[string]any{"nested": map[string]any{"bin": placeholder(1), "s": "ü"}, "arr": []any{placeholder(2), 8}},
			42, nil, true}
		wantAtt := [][]byte{{1, 2, 3}, {4, 5, 6}, {7}}
		for _, name := range []string{"echo", "client-event"} {
			e := h.event(t, name)
			if !e.WantsAck() {
				t.Errorf("%s: the server sees no ack request", name)
			}
			assertJSON(t, name+" args on the server", e.Args, wantArgs)
			if !reflect.DeepEqual(e.Attachments, wantAtt) {
				t.Errorf("%s attachments on the server %v, want %v", name, e.Attachments, wantAtt)
			}
		}
		lines.get(t, "echo", &ev)
		assertJSON(t, "echo ack as the client got it", ev.Args, sent)
		lines.get(t, "client-event", &ev)
		assertJSON(t, "client-event ack as the client got it", ev.Args, []any{
			"ack ✓", bin(10, 11), map[string]any{"deep": []any{map[string]any{"b": bin(12)}}},
		})

		// Large messages both ways.
		e := h.event(t, "client-big")
		var args []string
		if err := json.Unmarshal(e.Args, &args); err != nil || len(args) != 1 || args[0] != big {
			t.Errorf("client-big: the server got %d bytes of arguments, not the string", len(e.Args))
		}
		lines.get(t, "client-big", &ev)
		assertJSON(t, "client-big ack", ev.Args, []any{true, len(e.Args)})
		var bigLine struct {
			Length int
			Equal  bool
		}
		lines.get(t, "server-big", &bigLine)
		if !bigLine.Equal {
			t.Errorf("server-big: the client got %d UTF-16 units, not the string", bigLine.Length)
		}

		h.event(t, "done")
		lines.get(t, "done", &ev)
		assertJSON(t, "transport at the end", ev.Args, []any{m.final})
	})
}

// ---- lifecycle ----

func TestE2EServerDisconnect(t *testing.T) {
	eachMode(t, func(t *testing.T, m mode) {
		var h *hooks
		te := startEdge(t, edge.Config{}, func(te *testEdge) { h = record(te, nil) })
		run := startNode(t, te, m, "lifecycle.mjs", "SB_SCENARIO=kick", "SB_QUIET_MS=300")
		s := recv(t, h.connects, "connect")
		h.event(t, "kick-me")
		s.Disconnect(false) // from a goroutine of the application, not a hook
		lines := run.wait(t)

		var d struct{ Reason string }
		lines.get(t, "disconnect", &d)
		if d.Reason != "io server disconnect" {
			t.Errorf("client disconnect reason %q, want io server disconnect", d.Reason)
		}
		var q struct {
			Connects, Attempts int
			Active, Connected  bool
		}
		lines.get(t, "quiet", &q)
		if q.Connects != 1 || q.Attempts != 0 || q.Active || q.Connected {
			t.Errorf("after the server's disconnect: %+v, want one connect, no reconnection", q)
		}
		if dd := recv(t, h.disconnects, "disconnect"); dd.id != s.ID() || dd.reason != socketio.ReasonServerDisconnect {
			t.Errorf("server disconnect hook %+v", dd)
		}
		noValue(t, h.connects, "reconnection")
		if s.Connected() {
			t.Errorf("socket still connected")
		}
		// The client, left without sockets, closes its connection.
		eventually(t, "the Engine.IO session to close", func() bool { return te.SocketIO().Engine().Stats().Sessions == 0 })
	})
}

func TestE2EHeartbeat(t *testing.T) {
	eachMode(t, func(t *testing.T, m mode) {
		cfg := edge.Config{Engine: engineio.Config{PingInterval: 200 * time.Millisecond, PingTimeout: 400 * time.Millisecond}}
		var h *hooks
		te := startEdge(t, cfg, func(te *testEdge) {
			h = record(te, func(s *socketio.Socket, e *socketio.Event) { _ = e.Ack(s.ID(), s.Transport()) })
		})
		lines := runNode(t, te, m, "lifecycle.mjs", "SB_SCENARIO=heartbeat", "SB_STAY_MS=1500")
		s := recv(t, h.connects, "connect")
		var st struct {
			Pings       int
			Disconnects []string
			Connected   bool
			Ack         []string
		}
		lines.get(t, "stayed", &st)
		if st.Pings < 3 || len(st.Disconnects) != 0 || !st.Connected {
			t.Errorf("after 1.5s with 200ms pings: %+v, want ≥ 3 pings and no disconnect", st)
		}
		if want := []string{s.ID(), m.final}; !reflect.DeepEqual(st.Ack, want) {
			t.Errorf("still-here answered %v, want %v", st.Ack, want)
		}
		if d := recv(t, h.disconnects, "disconnect"); d.reason != socketio.ReasonClientDisconnect {
			t.Errorf("server saw the socket leave with %q, want %q", d.reason, socketio.ReasonClientDisconnect)
		}
	})
}

func TestE2EReconnect(t *testing.T) {
	eachMode(t, func(t *testing.T, m mode) {
		var h *hooks
		te := startEdge(t, edge.Config{}, func(te *testEdge) { h = record(te, ackID) })
		run := startNode(t, te, m, "lifecycle.mjs", "SB_SCENARIO=drop")
		first := recv(t, h.connects, "connect")
		h.event(t, "drop-me")
		sess := te.SocketIO().Engine().Session(first.Handshake().EngineID)
		if sess == nil {
			t.Fatalf("no Engine.IO session %q", first.Handshake().EngineID)
		}
		sess.CloseWithReason(engineio.ReasonTransportClose) // no Socket.IO DISCONNECT
		second := recv(t, h.connects, "reconnect")
		lines := run.wait(t)

		var d struct {
			Reason string
			Active bool
		}
		lines.get(t, "disconnect", &d)
		if d.Reason != "transport close" || !d.Active {
			t.Errorf("client disconnect %+v, want transport close, reconnecting", d)
		}
		conns := lines.all("connect")
		if len(conns) != 2 {
			t.Fatalf("client connected %d times, want 2:\n%s", len(conns), lines)
		}
		var c1, c2 connectLine
		_ = json.Unmarshal(conns[0].Raw, &c1)
		_ = json.Unmarshal(conns[1].Raw, &c2)
		if c1.ID != first.ID() || c2.ID != second.ID() || c1.ID == c2.ID {
			t.Errorf("client ids %q then %q, server %q then %q", c1.ID, c2.ID, first.ID(), second.ID())
		}
		if first.Handshake().EngineID == second.Handshake().EngineID {
			t.Errorf("the reconnection reused Engine.IO session %s", first.Handshake().EngineID)
		}
		lines.get(t, "reconnect", new(struct{}))
		var sh struct{ Ack []string }
		lines.get(t, "still-here", &sh)
		if len(sh.Ack) != 1 || sh.Ack[0] != second.ID() {
			t.Errorf("still-here answered %v by socket %s", sh.Ack, second.ID())
		}
		if d := recv(t, h.disconnects, "disconnect"); d.id != first.ID() || d.reason != engineio.ReasonTransportClose {
			t.Errorf("server disconnect hook %+v, want %s with transport close", d, first.ID())
		}
	})
}

func TestE2EMaxPayload(t *testing.T) {
	const maxPayload = 10_000
	eachMode(t, func(t *testing.T, m mode) {
		var h *hooks
		te := startEdge(t, edge.Config{Engine: engineio.Config{MaxPayload: maxPayload}}, func(te *testEdge) { h = record(te, ackID) })
		lines := runNode(t, te, m, "lifecycle.mjs", "SB_SCENARIO=maxpayload", fmt.Sprintf("SB_TOO_BIG=%d", 2*maxPayload))

		var c struct{ ID, Bystander string }
		lines.get(t, "connect", &c)
		var d struct{ Reason string }
		lines.get(t, "disconnect", &d)
		t.Logf("oversized client: disconnect reason %q", d.Reason)
		// Over WebSocket the read limit closes the connection; over polling
		// the POST is refused with 413 (the client's "transport error"),
		// unless the session's close packet reaches the client's pending GET
		// first ("transport close").
		switch {
		case m.final == engineio.TransportWebSocket && d.Reason == "transport close":
		case m.final == engineio.TransportPolling && (d.Reason == "transport error" || d.Reason == "transport close"):
		default:
			t.Errorf("client disconnect reason %q", d.Reason)
		}
		var by struct {
			Connected bool
			Ack       []string
		}
		lines.get(t, "bystander", &by)
		if !by.Connected || len(by.Ack) != 1 || by.Ack[0] != c.Bystander {
			t.Errorf("bystander %+v, want connected and answered as %s", by, c.Bystander)
		}
		lines.get(t, "fresh", new(struct{}))

		var gone []disconnect
		for range 3 {
			gone = append(gone, recv(t, h.disconnects, "disconnect"))
		}
		for _, g := range gone {
			if g.id == c.ID && g.reason != engineio.ReasonTransportClose && g.reason != engineio.ReasonTransportError {
				t.Errorf("oversized socket left with %q", g.reason)
			}
		}
		for range 2 {
			if e := h.event(t, "still-here"); e == nil {
				t.Fatal("no still-here")
			}
		}
		noValue(t, h.events, "event (the oversized one must not arrive)")
	})
}

// ---- Python ----

func TestE2EPython(t *testing.T) {
	const python = "/usr/bin/python3"
	if err := exec.Command(python, "-c", "import socketio, websocket, requests").Run(); err != nil {
		t.Fatalf("%s cannot import socketio, websocket and requests (%v): run `make test-deps`", python, err)
	}
	for _, mode := range []string{"websocket", "default"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			var h *hooks
			te := startEdge(t, edge.Config{}, func(te *testEdge) {
				h = record(te, func(s *socketio.Socket, e *socketio.Event) {
					if e.Name == "py-event" {
						_ = e.Ack("ok ✓", map[string]any{"transport": s.Transport(), "bin": []byte{4, 2}})
					}
				})
				te.SocketIO().Of("/").OnConnect(func(s *socketio.Socket) {
					_ = s.Emit("server-event", "bonjour ✓", []byte{7, 7}, map[string]any{"n": 1})
				})
			})
			lines := startClient(t, nil, python, filepath.Join("pkg", "edge", "testdata", "client.py"), te.url, mode).wait(t)

			s := recv(t, h.connects, "connect")
			var c struct{ SID, Transport string }
			lines.get(t, "connect", &c)
			if c.SID != s.ID() {
				t.Errorf("client sid %q, server %q", c.SID, s.ID())
			}
			if c.Transport != engineio.TransportWebSocket {
				t.Errorf("client transport %q, want websocket", c.Transport)
			}
			// python-engineio upgrades before it sends anything, CONNECT
			// included: the socket connects over WebSocket either way.
			if s.Handshake().Transport != engineio.TransportWebSocket {
				t.Errorf("handshake transport %q, want websocket", s.Handshake().Transport)
			}
			if string(s.Handshake().Auth) != `{"token":"py"}` {
				t.Errorf("auth %s", s.Handshake().Auth)
			}
			var ev struct{ Args json.RawMessage }
			lines.get(t, "server-event", &ev)
			assertJSON(t, "server-event as Python got it", ev.Args, []any{"bonjour ✓", bin(7, 7), map[string]any{"n": 1}})

			e := h.event(t, "py-event")
			assertJSON(t, "py-event args", e.Args, []any{"héllo 🐍", placeholder(0), map[string]any{"n": 1}})
			if want := [][]byte{{1, 2, 3}}; !reflect.DeepEqual(e.Attachments, want) {
				t.Errorf("py-event attachments %v, want %v", e.Attachments, want)
			}
			lines.get(t, "ack", &ev)
			assertJSON(t, "ack as Python got it", ev.Args, []any{"ok ✓", map[string]any{"transport": "websocket", "bin": bin(4, 2)}})

			// Client.disconnect() queues DISCONNECT for its writer thread and
			// closes the WebSocket at once (python-engineio's abort=True):
			// the packet may or may not make it.
			if d := recv(t, h.disconnects, "disconnect"); d.reason != socketio.ReasonClientDisconnect && d.reason != engineio.ReasonTransportClose {
				t.Errorf("server saw Python leave with %q, want %q or %q", d.reason, socketio.ReasonClientDisconnect, engineio.ReasonTransportClose)
			}
		})
	}
}
