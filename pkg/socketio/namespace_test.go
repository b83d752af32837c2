package socketio_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/pkg/engineio"
	"github.com/switchboard-rt/switchboard/pkg/socketio"
)

// peer is a raw client and its server-side socket.
type peer struct {
	c *wsClient
	s *socketio.Socket
}

// connectPeers connects n raw clients to ns and returns them with their
// sockets.
func connectPeers(t *testing.T, ts *testServer, ns string, n int) []peer {
	t.Helper()
	out := make([]peer, n)
	for i := range out {
		c := ts.dial(t)
		sid := c.connect(ns, "")
		s := ts.Namespace(ns).Socket(sid)
		if s == nil {
			t.Fatalf("no socket %s in %s", sid, ns)
		}
		out[i] = peer{c, s}
	}
	return out
}

func TestBroadcastToExceptReachesEachSocketOnce(t *testing.T) {
	t.Parallel()
	ts := newServer(t, socketio.Config{}, nil)
	ns := ts.Of("/")
	p := connectPeers(t, ts, "/", 5)
	p[0].s.Join("a")
	p[1].s.Join("a", "b")
	p[2].s.Join("b", "c")
	p[3].s.Join("c")
	// p[4] in no room

	tests := []struct {
		name string
		op   *socketio.BroadcastOperator
		want []int // indexes of the peers reached
	}{
		{"to a, b except c", ns.To("a", "b").Except("c"), []int{0, 1}},
		{"to a, b", ns.To("a", "b"), []int{0, 1, 2}},
		{"to a, a", ns.To("a").To("a"), []int{0, 1}},
		{"to c", ns.To("c"), []int{2, 3}},
		{"except c", ns.Except("c"), []int{0, 1, 4}},
		{"except a, c", ns.Except("a").Except("c"), []int{4}},
		{"everyone", ns.To(), []int{0, 1, 2, 3, 4}},
		{"a socket's own room", ns.To(p[4].s.ID()), []int{4}},
		{"own room and a room", ns.To(p[0].s.ID(), "a"), []int{0, 1}},
		{"except own room", ns.To("a").Except(p[1].s.ID()), []int{0}},
		{"unknown room", ns.To("nobody"), nil},
	}
	for i, tt := range tests {
		event := fmt.Sprint("e", i)
		n, err := tt.op.Emit(event, i)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if n != len(tt.want) {
			t.Errorf("%s: Emit reached %d sockets, want %d", tt.name, n, len(tt.want))
		}
		var got []int
		for _, s := range tt.op.Sockets() {
			got = append(got, slices.IndexFunc(p, func(x peer) bool { return x.s == s }))
		}
		slices.Sort(got)
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: Sockets() = peers %v, want %v", tt.name, got, tt.want)
		}
		// Then a marker to everyone: what arrives before it is what the
		// emit delivered, no waiting needed to see that nothing else did.
		if _, err := ns.Emit("marker", i); err != nil {
			t.Fatal(err)
		}
		for j, x := range p {
			if slices.Contains(tt.want, j) {
				x.c.expect(fmt.Sprintf(`42["%s",%d]`, event, i))
			}
			x.c.expect(fmt.Sprintf(`42["marker",%d]`, i))
		}
	}
}

func TestRooms(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var events []string
	var h *hooks
	ts := newServer(t, socketio.Config{}, func(srv *socketio.Server) {
		ns := srv.Of("/")
		ns.OnRoom(
			func(room string) { mu.Lock(); events = append(events, "+"+room); mu.Unlock() },
			func(room string) { mu.Lock(); events = append(events, "-"+room); mu.Unlock() },
		)
		h = record(ns)
	})
	takeEvents := func() []string {
		mu.Lock()
		defer mu.Unlock()
		out := events
		events = nil
		return out
	}
	ns := ts.Of("/")
	p := connectPeers(t, ts, "/", 3)
	for range p {
		h.nextConnected(t)
	}
	if got := ns.Rooms(); len(got) != 0 {
		t.Fatalf("Rooms() = %v before any join: id rooms must not count", got)
	}
	if ns.Len() != 3 {
		t.Fatalf("Len() = %d", ns.Len())
	}

	p[0].s.Join("a", "b")
	p[1].s.Join("a")
	p[1].s.Join("a") // again: no change
	p[2].s.Join(p[2].s.ID())
	if got, want := ns.Rooms(), map[string]int{"a": 2, "b": 1}; !maps.Equal(got, want) {
		t.Errorf("Rooms() = %v, want %v", got, want)
	}
	if got, want := takeEvents(), []string{"+a", "+b"}; !slices.Equal(got, want) {
		t.Errorf("room hooks %v, want %v", got, want)
	}
	if got, want := p[0].s.Rooms(), []string{p[0].s.ID(), "a", "b"}; !slices.Equal(got, want) {
		t.Errorf("Socket.Rooms() = %v, want %v", got, want)
	}
	if got, want := p[2].s.Rooms(), []string{p[2].s.ID()}; !slices.Equal(got, want) {
		t.Errorf("Socket.Rooms() = %v, want %v", got, want)
	}

	p[0].s.Leave("a", "nope")
	if got, want := ns.Rooms(), map[string]int{"a": 1, "b": 1}; !maps.Equal(got, want) {
		t.Errorf("Rooms() = %v, want %v", got, want)
	}
	if got := takeEvents(); len(got) != 0 {
		t.Errorf("room hooks %v, want none", got)
	}

	// Operators join and leave many sockets at once.
	if n, _ := ns.To("a").Join("c", "d"); n != 1 {
		t.Errorf("Join reached %d sockets", n)
	}
	if n, _ := ns.Except("a").Join("c"); n != 2 {
		t.Errorf("Join reached %d sockets", n)
	}
	if got, want := ns.Rooms(), map[string]int{"a": 1, "b": 1, "c": 3, "d": 1}; !maps.Equal(got, want) {
		t.Errorf("Rooms() = %v, want %v", got, want)
	}
	if n := ns.To("c").Leave("c", "d"); n != 3 {
		t.Errorf("Leave reached %d sockets", n)
	}
	if got, want := takeEvents(), []string{"+c", "+d", "-c", "-d"}; !slices.Equal(sorted(got[:2]), want[:2]) || !slices.Equal(sorted(got[2:]), want[2:]) {
		t.Errorf("room hooks %v, want %v", got, want)
	}

	// A disconnected socket leaves its rooms; the last one deletes them.
	p[0].c.close()
	if d := h.nextDisconnected(t); d.socket != p[0].s || d.reason != "transport close" {
		t.Errorf("disconnect %s %q", d.socket.ID(), d.reason)
	}
	if got, want := ns.Rooms(), map[string]int{"a": 1}; !maps.Equal(got, want) {
		t.Errorf("Rooms() = %v, want %v", got, want)
	}
	if got := takeEvents(); !slices.Equal(got, []string{"-b"}) {
		t.Errorf("room hooks %v, want [-b]", got)
	}
	if p[0].s.Connected() || ns.Socket(p[0].s.ID()) != nil || ns.Len() != 2 {
		t.Error("disconnected socket still registered")
	}
	p[0].s.Join("z") // a no-op once disconnected
	if _, ok := ns.Rooms()["z"]; ok {
		t.Error("a disconnected socket joined a room")
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// ackID reads an EVENT that asks for an ack and returns its id, checking the
// rest of the packet.
func ackID(t *testing.T, c *wsClient, prefix, payload string) string {
	t.Helper()
	got := c.nextText()
	rest, ok := strings.CutPrefix(got, prefix)
	if !ok {
		t.Fatalf("got %s, want %s<id>%s", got, prefix, payload)
	}
	i := strings.IndexByte(rest, '[')
	if i <= 0 || rest[i:] != payload {
		t.Fatalf("got %s, want %s<id>%s", got, prefix, payload)
	}
	if _, err := strconv.ParseUint(rest[:i], 10, 63); err != nil {
		t.Fatalf("ack id in %s: %v", got, err)
	}
	return rest[:i]
}

type ackResult struct {
	ack *socketio.Ack
	err error
}

func emitWithAck(ctx context.Context, s *socketio.Socket, event string, args ...any) <-chan ackResult {
	ch := make(chan ackResult, 1)
	go func() {
		a, err := s.EmitWithAck(ctx, event, args...)
		ch <- ackResult{a, err}
	}()
	return ch
}

func waitAck(t *testing.T, ch <-chan ackResult) ackResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(waitTimeout):
		t.Fatal("EmitWithAck did not return")
	}
	return ackResult{}
}

func TestServerEmitWithAck(t *testing.T) {
	t.Parallel()
	ts := newServer(t, socketio.Config{}, func(srv *socketio.Server) { srv.Of("/custom") })
	ctx := context.Background()

	t.Run("ack", func(t *testing.T) {
		p := connectPeers(t, ts, "/", 1)[0]
		ch := emitWithAck(ctx, p.s, "question", 1, "two")
		id := ackID(t, p.c, "42", `["question",1,"two"]`)
		p.c.send("43" + id + `["answer",{"n":3}]`)
		r := waitAck(t, ch)
		if r.err != nil || string(r.ack.Args) != `["answer",{"n":3}]` || len(r.ack.Attachments) != 0 {
			t.Fatalf("ack %s %v, %v", r.ack.Args, r.ack.Attachments, r.err)
		}
		// A second ack with the same id is ignored.
		p.c.send("43" + id + `["again"]`)
		p.s.Emit("ping")
		p.c.expect(`42["ping"]`)
	})
	t.Run("binary ack in a custom namespace", func(t *testing.T) {
		p := connectPeers(t, ts, "/custom", 1)[0]
		ch := emitWithAck(ctx, p.s, "file", []byte{1, 2})
		got := p.c.nextText()
		prefix := `451-/custom,`
		if !strings.HasPrefix(got, prefix) || !strings.HasSuffix(got, `["file",`+ph0+`]`) {
			t.Fatalf("got %s", got)
		}
		id := strings.TrimSuffix(strings.TrimPrefix(got, prefix), `["file",`+ph0+`]`)
		p.c.expectBinary([]byte{1, 2})
		p.c.send(`461-/custom,` + id + `["ok",` + ph0 + `]`)
		p.c.sendBinary([]byte{9, 8, 7})
		r := waitAck(t, ch)
		if r.err != nil || string(r.ack.Args) != `["ok",`+ph0+`]` || len(r.ack.Attachments) != 1 || string(r.ack.Attachments[0]) != "\x09\x08\x07" {
			t.Fatalf("ack %s %v, %v", r.ack.Args, r.ack.Attachments, r.err)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		p := connectPeers(t, ts, "/", 1)[0]
		tctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		ch := emitWithAck(tctx, p.s, "question")
		id := ackID(t, p.c, "42", `["question"]`)
		if r := waitAck(t, ch); !errors.Is(r.err, context.DeadlineExceeded) {
			t.Fatalf("err %v, want DeadlineExceeded", r.err)
		}
		p.c.send("43" + id + `["late"]`) // forgotten: ignored
		p.s.Emit("ping")
		p.c.expect(`42["ping"]`)
	})
	t.Run("client disconnects", func(t *testing.T) {
		p := connectPeers(t, ts, "/", 1)[0]
		ch := emitWithAck(ctx, p.s, "question")
		ackID(t, p.c, "42", `["question"]`)
		p.c.send("41")
		if r := waitAck(t, ch); !errors.Is(r.err, socketio.ErrDisconnected) {
			t.Fatalf("err %v, want ErrDisconnected", r.err)
		}
		if _, err := p.s.EmitWithAck(ctx, "question"); !errors.Is(err, socketio.ErrDisconnected) {
			t.Fatalf("EmitWithAck on a disconnected socket: %v", err)
		}
	})
	t.Run("connection closes", func(t *testing.T) {
		p := connectPeers(t, ts, "/", 1)[0]
		ch := emitWithAck(ctx, p.s, "question")
		ackID(t, p.c, "42", `["question"]`)
		p.c.close()
		if r := waitAck(t, ch); !isClosedErr(r.err) {
			t.Fatalf("err %v, want ErrDisconnected", r.err)
		}
	})
}

func TestClientEventsAndAcks(t *testing.T) {
	t.Parallel()
	order := make(chan string, 16)
	ts := newServer(t, socketio.Config{}, func(srv *socketio.Server) {
		ns := srv.Of("/")
		ns.OnConnect(func(s *socketio.Socket) {
			s.On("bin", func(s *socketio.Socket, e *socketio.Event) {
				order <- "socket handler " + e.Name
				if !e.WantsAck() {
					order <- "no ack wanted"
					return
				}
				if err := e.Ack([]byte{9, 8}, "x"); err != nil {
					order <- err.Error()
				}
				_ = e.Ack("second") // only the first ack is sent
			})
		})
		ns.OnEvent(func(s *socketio.Socket, e *socketio.Event) {
			order <- fmt.Sprintf("namespace hook %s %s %d", e.Name, e.Args, len(e.Attachments))
		})
	})
	next := func() string {
		t.Helper()
		select {
		case s := <-order:
			return s
		case <-time.After(waitTimeout):
			t.Fatal("no event")
		}
		return ""
	}
	c := ts.dial(t)
	c.connect("/", "")
	c.send(`451-7["bin",` + ph0 + `]`)
	c.sendBinary([]byte{1})
	c.expect(`461-7[` + ph0 + `,"x"]`)
	c.expectBinary([]byte{9, 8})
	if got := next(); got != "socket handler bin" {
		t.Errorf("first %q", got)
	}
	if got, want := next(), "namespace hook bin ["+ph0+"] 1"; got != want {
		t.Errorf("then %q, want %q", got, want)
	}
	c.send(`42["bin"]`)
	c.send(`42["other",1]`)
	if got := next(); got != "socket handler bin" {
		t.Errorf("got %q", got)
	}
	if got := next(); got != "no ack wanted" {
		t.Errorf("got %q", got)
	}
	next() // namespace hook bin
	if got, want := next(), "namespace hook other [1] 0"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	// Nothing else was sent: no second ack.
	ts.Of("/").Emit("end")
	c.expect(`42["end"]`)
}

func TestSocketEmitBinary(t *testing.T) {
	t.Parallel()
	ts := newServer(t, socketio.Config{}, nil)
	p := connectPeers(t, ts, "/", 1)[0]
	if err := p.s.Emit("file", "name", []byte{1, 2}, map[string]any{"n": []any{[]byte{3}}}); err != nil {
		t.Fatal(err)
	}
	p.c.expect(`452-["file","name",` + ph0 + `,{"n":[` + ph1 + `]}]`)
	p.c.expectBinary([]byte{1, 2})
	p.c.expectBinary([]byte{3})
}

func TestServerDisconnect(t *testing.T) {
	t.Parallel()
	var main, custom *hooks
	ts := newServer(t, socketio.Config{}, func(srv *socketio.Server) {
		main = record(srv.Of("/"))
		custom = record(srv.Of("/custom"))
	})
	// connectBoth joins "/" then "/custom" on one connection.
	connectBoth := func(t *testing.T) (*wsClient, *socketio.Socket, *socketio.Socket) {
		c := ts.dial(t)
		c.connect("/", "")
		m := main.nextConnected(t)
		c.connect("/custom", "")
		return c, m, custom.nextConnected(t)
	}

	t.Run("main namespace", func(t *testing.T) {
		c, m, cu := connectBoth(t)
		m.Disconnect(false)
		c.expect("41")
		if r := main.reasonOf(t, m); r != "server namespace disconnect" {
			t.Errorf("OnDisconnect %q", r)
		}
		// The connection and the other namespace go on.
		cu.Emit("still")
		c.expect(`42/custom,["still"]`)
		if m.Connected() || !cu.Connected() {
			t.Errorf("connected: main %v custom %v", m.Connected(), cu.Connected())
		}
		m.Disconnect(false) // again: nothing sent
		cu.Emit("end")
		c.expect(`42/custom,["end"]`)
	})
	t.Run("custom namespace", func(t *testing.T) {
		c, m, cu := connectBoth(t)
		cu.Disconnect(false)
		c.expect("41/custom,")
		if r := custom.reasonOf(t, cu); r != "server namespace disconnect" {
			t.Errorf("OnDisconnect %q", r)
		}
		m.Emit("still")
		c.expect(`42["still"]`)
		// The client may connect again.
		c.connect("/custom", "")
		custom.nextConnected(t)
	})
	t.Run("close the connection", func(t *testing.T) {
		c, m, cu := connectBoth(t)
		cu.Disconnect(true)
		got := []string{c.nextText(), c.nextText()}
		if !slices.Equal(sorted(got), []string{"41", "41/custom,"}) {
			t.Errorf("got %q, want 41 and 41/custom,", got)
		}
		c.expectClose()
		if r := main.reasonOf(t, m); r != "server namespace disconnect" {
			t.Errorf("main OnDisconnect %q", r)
		}
		if r := custom.reasonOf(t, cu); r != "server namespace disconnect" {
			t.Errorf("custom OnDisconnect %q", r)
		}
	})
	t.Run("operator", func(t *testing.T) {
		c1, _, _ := connectBoth(t)
		c2, m2, _ := connectBoth(t)
		m2.Join("kick")
		if n := ts.Of("/").To("kick").Disconnect(false); n != 1 {
			t.Errorf("Disconnect reached %d sockets", n)
		}
		c2.expect("41")
		if r := main.reasonOf(t, m2); r != "server namespace disconnect" {
			t.Errorf("OnDisconnect %q", r)
		}
		ts.Of("/").Emit("left")
		c1.expect(`42["left"]`)
	})
}

func TestDisconnectReasons(t *testing.T) {
	t.Parallel()
	var h *hooks
	ts := newServer(t, socketio.Config{}, func(srv *socketio.Server) { h = record(srv.Of("/")) })
	tests := []struct {
		name     string
		autoPong bool
		do       func(c *wsClient, s *socketio.Socket)
		want     string
	}{
		{"client namespace disconnect", true, func(c *wsClient, _ *socketio.Socket) { c.send("41") }, "client namespace disconnect"},
		{"server namespace disconnect", true, func(_ *wsClient, s *socketio.Socket) { s.Disconnect(false) }, "server namespace disconnect"},
		{"connection dropped", true, func(c *wsClient, _ *socketio.Socket) { c.close() }, "transport close"},
		{"Engine.IO close packet", true, func(c *wsClient, _ *socketio.Socket) { c.send("1") }, "transport close"},
		{"parse error", true, func(c *wsClient, _ *socketio.Socket) { c.send("4abc") }, "parse error"},
		{"ping timeout", false, func(*wsClient, *socketio.Socket) {}, "ping timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ts.dialWith(t, tt.autoPong, "")
			sid := c.connect("/", "")
			s := h.nextConnected(t)
			if s.ID() != sid {
				t.Fatalf("OnConnect socket %s, CONNECT %s", s.ID(), sid)
			}
			tt.do(c, s)
			if r := h.reasonOf(t, s); r != tt.want {
				t.Errorf("OnDisconnect %q, want %q", r, tt.want)
			}
			if s.Connected() {
				t.Error("still connected")
			}
			if err := s.Emit("x"); err == nil && !strings.Contains(tt.want, "namespace") {
				t.Error("Emit on a closed connection succeeded")
			}
		})
	}
}

func TestAuthenticate(t *testing.T) {
	t.Parallel()
	var seen []*socketio.Handshake
	var mu sync.Mutex
	auth := func(hs *socketio.Handshake) (*socketio.ConnectResult, error) {
		mu.Lock()
		seen = append(seen, hs)
		mu.Unlock()
		var a struct {
			Token string `json:"token"`
		}
		_ = json.Unmarshal(hs.Auth, &a)
		switch a.Token {
		case "ok":
			return &socketio.ConnectResult{User: "u1", Rooms: []string{"r1", "r2"}, Data: 42}, nil
		case "anonymous":
			return nil, nil
		case "data":
			return nil, &socketio.ConnectError{Message: "unauthorized", Data: map[string]any{"code": 401}}
		case "plain":
			return nil, errors.New("boom")
		case "wrapped":
			return nil, fmt.Errorf("check: %w", &socketio.ConnectError{Message: "expired"})
		}
		return nil, &socketio.ConnectError{Message: "no token"}
	}
	ts := newServer(t, socketio.Config{}, func(srv *socketio.Server) {
		srv.Of("/").Authenticate(auth)
		srv.Of("/admin").Authenticate(auth)
	})

	refused := []struct {
		ns, auth, want string
	}{
		{"/", `{"token":"data"}`, `44{"message":"unauthorized","data":{"code":401}}`},
		{"/", ``, `44{"message":"no token"}`},
		{"/", `{"token":"plain"}`, `44{"message":"boom"}`},
		{"/", `{"token":"wrapped"}`, `44{"message":"expired"}`},
		{"/admin", `{"token":"data"}`, `44/admin,{"message":"unauthorized","data":{"code":401}}`},
	}
	for _, tt := range refused {
		t.Run("refused "+tt.ns+" "+tt.auth, func(t *testing.T) {
			c := ts.dial(t)
			c.send("40" + nsPrefix(tt.ns) + tt.auth)
			c.expect(tt.want)
		})
	}

	t.Run("refused, then the connect timeout", func(t *testing.T) {
		c := ts.dial(t)
		c.send(`40{"token":"nope"}`)
		c.expect(`44{"message":"no token"}`)
		c.expectClose()
	})
	t.Run("refused, then accepted", func(t *testing.T) {
		c := ts.dial(t)
		c.send(`40{"token":"nope"}`)
		c.expect(`44{"message":"no token"}`)
		c.connect("/", `{"token":"anonymous"}`)
	})
	t.Run("granted", func(t *testing.T) {
		c := ts.dialWith(t, true, "room=lobby&v=2")
		sid := c.connect("/admin", `{"token":"ok"}`)
		s := ts.Of("/admin").Socket(sid)
		if s == nil {
			t.Fatal("no socket")
		}
		if s.User() != "u1" || s.Data() != 42 {
			t.Errorf("user %q data %v", s.User(), s.Data())
		}
		if got, want := s.Rooms(), []string{sid, "r1", "r2"}; !slices.Equal(got, want) {
			t.Errorf("rooms %v, want %v", got, want)
		}
		if got := ts.Of("/admin").Rooms(); !maps.Equal(got, map[string]int{"r1": 1, "r2": 1}) {
			t.Errorf("namespace rooms %v", got)
		}
		hs := s.Handshake()
		if string(hs.Auth) != `{"token":"ok"}` || hs.Query.Get("room") != "lobby" || hs.Query.Get("v") != "2" ||
			hs.Query.Has("EIO") || hs.Transport != "websocket" || !strings.HasPrefix(hs.Address, "127.0.0.1:") || hs.EngineID == "" {
			t.Errorf("handshake %+v", hs)
		}
		if s.Transport() != "websocket" {
			t.Errorf("transport %s", s.Transport())
		}
		s.SetData("new")
		if s.Data() != "new" {
			t.Errorf("data %v", s.Data())
		}
	})
	t.Run("default auth payload", func(t *testing.T) {
		c := ts.dial(t)
		c.connect("/", `{"token":"anonymous"}`)
		mu.Lock()
		defer mu.Unlock()
		for _, hs := range seen {
			if len(hs.Auth) == 0 {
				t.Errorf("empty auth, want {}")
			}
		}
	})
}

func TestDynamicNamespaces(t *testing.T) {
	t.Parallel()
	created := make(chan string, 16)
	ts := newServer(t, socketio.Config{
		AllowNamespace: func(name string) bool { return strings.HasPrefix(name, "/dyn-") },
	}, func(srv *socketio.Server) {
		srv.Of("/static")
		srv.OnNamespace(func(ns *socketio.Namespace) {
			created <- ns.Name()
			ns.OnConnect(func(s *socketio.Socket) { _ = s.Emit("welcome", ns.Name()) })
		})
	})
	// The hook ran at once for the namespaces that existed.
	got := []string{<-created, <-created}
	if !slices.Equal(sorted(got), []string{"/", "/static"}) {
		t.Fatalf("hook ran for %v", got)
	}

	c := ts.dial(t)
	c.connect("/dyn-1", "")
	c.expect(`42/dyn-1,["welcome","/dyn-1"]`)
	select {
	case name := <-created:
		if name != "/dyn-1" {
			t.Errorf("hook ran for %s", name)
		}
	default:
		t.Error("hook did not run for the new namespace")
	}
	if ts.Namespace("/dyn-1") == nil {
		t.Error("dynamic namespace not registered")
	}
	// The second connection to it reuses it: no new hook call.
	c2 := ts.dial(t)
	c2.connect("/dyn-1", "")
	c2.expect(`42/dyn-1,["welcome","/dyn-1"]`)
	if ts.Namespace("/dyn-1").Len() != 2 {
		t.Errorf("Len %d", ts.Namespace("/dyn-1").Len())
	}

	c.send("40/other,")
	c.expect(`44/other,{"message":"Invalid namespace"}`)
	if ts.Namespace("/other") != nil {
		t.Error("refused namespace registered")
	}
	c.connect("/static", "")
	c.expect(`42/static,["welcome","/static"]`)

	names := []string{}
	for _, ns := range ts.Namespaces() {
		names = append(names, ns.Name())
	}
	if got, want := sorted(names), []string{"/", "/dyn-1", "/static"}; !slices.Equal(got, want) {
		t.Errorf("Namespaces() = %v, want %v", got, want)
	}
	if len(created) != 0 {
		t.Errorf("%d extra hook calls", len(created))
	}
	if ts.Of("noslash") != ts.Of("/noslash") {
		t.Error("Of does not prefix /")
	}
}

// Shutdown closes every connection and, through the engine, tells every
// socket.
func TestShutdown(t *testing.T) {
	t.Parallel()
	var h *hooks
	ts := newServer(t, socketio.Config{}, func(srv *socketio.Server) { h = record(srv.Of("/")) })
	p := connectPeers(t, ts, "/", 2)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := ts.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	for _, x := range p {
		x.c.expectClose()
	}
	for range p {
		if d := h.nextDisconnected(t); d.reason != "server shutting down" {
			t.Errorf("reason %q", d.reason)
		}
	}
}

// A volatile emit goes to sockets ready to write and is dropped for the
// others: here a polling client with no GET pending.
func TestVolatileEmit(t *testing.T) {
	t.Parallel()
	var h *hooks
	ts := newServer(t, socketio.Config{}, func(srv *socketio.Server) { h = record(srv.Of("/")) })
	ns := ts.Of("/")
	ws := ts.dial(t)
	ws.connect("/", "")
	wsSock := h.nextConnected(t)
	wsSock.Join("r")
	pc := ts.poll(t)
	pc.post("40")
	if got := pc.get(); !strings.HasPrefix(got, `40{"sid":`) {
		t.Fatalf("polling CONNECT: %q", got)
	}
	pollSock := h.nextConnected(t)
	pollSock.Join("r")

	n, err := ns.To("r").Volatile().Emit("v", 1)
	if err != nil || n != 1 {
		t.Fatalf("volatile emit reached %d sockets, %v; want 1", n, err)
	}
	ws.expect(`42["v",1]`)
	if n, _ := ns.To("r").Emit("after"); n != 2 {
		t.Fatalf("emit reached %d sockets", n)
	}
	ws.expect(`42["after"]`)
	if got := pc.get(); got != `42["after"]` {
		t.Fatalf("polling client got %q, want only the non-volatile event", got)
	}
}

// A client that does not read fills the connection's bounded queue: the
// emit that overflows it fails and the socket disconnects as a slow
// consumer, without the server's memory growing.
func TestSlowConsumer(t *testing.T) {
	t.Parallel()
	var h *hooks
	// A long heartbeat: the client's reader, stuck, cannot answer pings.
	ts := newServer(t, socketio.Config{Engine: engineio.Config{WriteQueueSize: 8, PingInterval: time.Minute}},
		func(srv *socketio.Server) { h = record(srv.Of("/")) })
	p := connectPeers(t, ts, "/", 1)[0]
	// The raw client's reader stops once its 64-frame buffer is full, so
	// the kernel's buffers fill next, then the queue.
	enc, err := socketio.EncodeEvent("/", "flood", strings.Repeat("x", 256<<10))
	if err != nil {
		t.Fatal(err)
	}
	sent := 0
	for ; sent < 100_000 && err == nil; sent++ {
		err = p.s.Send(enc)
	}
	if !errors.Is(err, engineio.ErrQueueFull) && !errors.Is(err, engineio.ErrClosed) {
		t.Fatalf("error %v after %d sends, want ErrQueueFull", err, sent)
	}
	if r := h.reasonOf(t, p.s); r != engineio.ReasonSlowConsumer {
		t.Errorf("OnDisconnect %q, want %q", r, engineio.ReasonSlowConsumer)
	}
	if got := ts.Engine().Stats().SlowConsumers; got != 1 {
		t.Errorf("SlowConsumers = %d", got)
	}
}

// TestPartialBinaryPacketBounded: a binary packet cannot make a connection
// hold more than the payload limit, or hold a partial packet for ever. The
// connection that tries is closed; another one on the same server goes on.
func TestPartialBinaryPacketBounded(t *testing.T) {
	ts := newServer(t, socketio.Config{
		Engine:            engineio.Config{MaxPayload: 10_000},
		AttachmentTimeout: 300 * time.Millisecond,
	}, nil)
	ph0 := `{"_placeholder":true,"num":0}`
	canary := ts.dial(t)
	canary.connect("/", "")

	t.Run("over the payload limit", func(t *testing.T) {
		c := ts.dial(t)
		c.connect("/", "")
		c.send(`451000-["bin",` + ph0 + `]`) // announces 1,000 attachments
		for range 3 {
			c.sendBinary(make([]byte, 3000)) // each under the limit, 9,000 bytes so far
		}
		c.sendBinary(make([]byte, 3000)) // 12,000: over the 10,000 of the whole packet
		c.expectClose()
	})
	t.Run("never complete", func(t *testing.T) {
		c := ts.dial(t)
		c.connect("/", "")
		c.send(`452-["bin",` + ph0 + `,` + strings.Replace(ph0, "0", "1", 1) + `]`)
		c.sendBinary([]byte{1}) // the second attachment never comes
		if d := c.expectClose(); d < 200*time.Millisecond {
			t.Errorf("closed after %v, before the attachment timeout", d)
		}
	})
	// The canary is still served.
	canary.send(`42["still","here"]`)
	canary.send(`2`)
	for {
		if got := canary.nextText(); got == "3" {
			break
		}
	}
}

// TestNothingBeforeConnect: a broadcast sent while a socket connects
// reaches it after its CONNECT packet or not at all. The socket became
// selectable before its CONNECT was queued, so a raw client could read an
// event for a namespace it had not been told it joined.
func TestNothingBeforeConnect(t *testing.T) {
	t.Parallel()
	// The broadcasts come as fast as one goroutine can send them: a queue
	// deep enough that a client is not cut as a slow consumer (which drops
	// its queue, CONNECT included) while its writer is slow under -race.
	ts := newServer(t, socketio.Config{Engine: engineio.Config{WriteQueueSize: 1 << 16, WriteQueueBytes: 256 << 20}}, nil)
	ns := ts.Of("/")
	tick, err := socketio.EncodeEvent("/", "tick")
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
				ns.To().Send(tick)
				runtime.Gosched() // let the writers and the connecting clients run
			}
		}
	}()
	defer func() {
		close(stop)
		<-done
	}()
	for i := range 200 {
		c := ts.dial(t)
		c.send("40")
		if got := c.nextText(); !strings.HasPrefix(got, "40{") {
			t.Fatalf("client %d: first packet %q, want the CONNECT", i, got)
		}
		c.close()
	}
}

// TestSelectableOnceConnected: once a client has read its CONNECT, a
// selection by its sid finds its socket. The socket became selectable only
// after its CONNECT was queued, on the connection's goroutine: a client that
// read the CONNECT and at once had a service JoinRoom its sid (the soak does)
// sometimes got "0 sockets" when that goroutine had not run on yet.
func TestSelectableOnceConnected(t *testing.T) {
	ts := newServer(t, socketio.Config{}, nil)
	ns := ts.Of("/")
	release := make(chan struct{})
	socketio.SetConnectQueuedHook(func(s *socketio.Socket) {
		if s.Namespace() != ns {
			return // another test's server
		}
		select { // hold the connection's goroutine while the test looks
		case <-release:
		case <-time.After(waitTimeout):
		}
	})
	t.Cleanup(func() { socketio.SetConnectQueuedHook(nil) })
	for i := range 3 {
		c := ts.dial(t)
		sid := c.connect("/", "")
		n := len(ns.Select(socketio.Selector{SIDs: []string{sid}}).Sockets())
		release <- struct{}{}
		if n != 1 {
			t.Fatalf("client %d read its CONNECT (sid %s); a selection by that sid found %d sockets, want 1", i, sid, n)
		}
		c.close()
	}
}
