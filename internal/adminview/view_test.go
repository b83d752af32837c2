package adminview_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"

	sbv1 "github.com/switchboard-rt/switchboard/gen/switchboard/v1"
	"github.com/switchboard-rt/switchboard/internal/admin"
	"github.com/switchboard-rt/switchboard/internal/adminview"
	"github.com/switchboard-rt/switchboard/pkg/control"
	"github.com/switchboard-rt/switchboard/pkg/edge"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const wait = 10 * time.Second

var quiet = slog.New(slog.DiscardHandler)

// counting is control, counting the view's calls.
type counting struct {
	*control.Server
	rooms, sockets atomic.Int64
}

func (c *counting) ListRooms(ctx context.Context, r *sbv1.ListRoomsRequest) (*sbv1.ListRoomsResponse, error) {
	c.rooms.Add(1)
	return c.Server.ListRooms(ctx, r)
}

func (c *counting) ListSockets(ctx context.Context, r *sbv1.ListSocketsRequest) (*sbv1.ListSocketsResponse, error) {
	c.sockets.Add(1)
	if !r.CountOnly {
		return nil, fmt.Errorf("the view asked for a socket list, not a count")
	}
	return c.Server.ListSockets(ctx, r)
}

// stack is control (embedded NATS) and one edge, in-process.
type stack struct {
	ctl      *control.Server
	edge     *edge.Edge
	stopEdge func()
}

func start(t *testing.T) *stack {
	t.Helper()
	ctl, err := control.New(control.Config{GRPCAddr: "127.0.0.1:0", EmbeddedNATSAddr: "127.0.0.1:0", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := ctl.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ctlDone := make(chan error, 1)
	go func() { ctlDone <- ctl.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-ctlDone; err != nil {
			t.Errorf("control: %v", err)
		}
	})
	e, err := edge.New(edge.Config{Addr: "127.0.0.1:0", NATSURL: ctl.NATSURL(), HeartbeatInterval: 100 * time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Listen(); err != nil {
		t.Fatal(err)
	}
	ectx, ecancel := context.WithCancel(context.Background())
	edgeDone := make(chan error, 1)
	go func() { edgeDone <- e.Run(ectx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			ecancel()
			if err := <-edgeDone; err != nil {
				t.Errorf("edge: %v", err)
			}
		})
	}
	t.Cleanup(stop) // before control's: cleanups run last first
	eventually(t, "control to list the edge", func() bool {
		ci, _ := ctl.ClusterInfo(t.Context(), &sbv1.ClusterInfoRequest{})
		return len(ci.GetEdges()) == 1
	})
	return &stack{ctl: ctl, edge: e, stopEdge: stop}
}

func eventually(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(wait); !ok(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v", what, wait)
		}
	}
}

// dial connects a Socket.IO client over a raw Engine.IO WebSocket to "/"
// and returns its sid; its reader answers pings until the connection ends
// (closed when the test ends).
func dial(t *testing.T, addr string) string {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: wait}
	ws, res, err := d.Dial("ws://"+addr+"/socket.io/?EIO=4&transport=websocket", nil)
	if res != nil && res.Body != nil {
		res.Body.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	_ = ws.SetReadDeadline(time.Now().Add(wait))
	read := func() string {
		_, b, err := ws.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if m := read(); !strings.HasPrefix(m, "0{") {
		t.Fatalf("open packet %q", m)
	}
	if err := ws.WriteMessage(websocket.TextMessage, []byte("40")); err != nil {
		t.Fatal(err)
	}
	m := read()
	var ok struct{ SID string }
	if !strings.HasPrefix(m, "40{") || json.Unmarshal([]byte(m[2:]), &ok) != nil || ok.SID == "" {
		t.Fatalf("CONNECT answered %q", m)
	}
	_ = ws.SetReadDeadline(time.Time{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			_, b, err := ws.ReadMessage()
			if err != nil {
				return
			}
			if string(b) == "2" {
				_ = ws.WriteMessage(websocket.TextMessage, []byte("3"))
			}
		}
	}()
	t.Cleanup(func() { ws.Close(); <-done })
	return ok.SID
}

// roomsStack is start with 25 clients: room rNN holds clients 0..NN, so
// rNN has NN+1 sockets and name order is the reverse of size order.
func roomsStack(t *testing.T) (*stack, []string) {
	s := start(t)
	var sids []string
	for range 25 {
		sids = append(sids, dial(t, s.edge.Addr().String()))
	}
	for i := range sids {
		r, err := s.ctl.JoinRoom(t.Context(), &sbv1.JoinRoomRequest{Target: &sbv1.Target{Sids: sids[:i+1]}, Rooms: []string{fmt.Sprintf("r%02d", i)}})
		if err != nil || r.GetSockets() != uint32(i+1) {
			t.Fatalf("JoinRoom r%02d: %v, %d sockets", i, err, r.GetSockets())
		}
	}
	eventually(t, "a heartbeat counting the 25 sockets", func() bool {
		ci, _ := s.ctl.ClusterInfo(t.Context(), &sbv1.ClusterInfoRequest{})
		return len(ci.GetEdges()) == 1 && ci.GetEdges()[0].GetSockets() == 25
	})
	return s, sids
}

func wantTop(t *testing.T, got []adminview.Room, from, n int) {
	t.Helper()
	if len(got) != n {
		t.Fatalf("%d rooms, want %d: %v", len(got), n, got)
	}
	for k, r := range got {
		i := from - k
		if r.Name != fmt.Sprintf("r%02d", i) || r.Sockets != uint32(i+1) || r.Namespace != "/" {
			t.Fatalf("room %d: %+v, want r%02d with %d", k, r, i, i+1)
		}
	}
}

// TestOverviewBounds: the 20 largest of 25 rooms in size order with their
// sizes, read in pages; with fewer pages allowed than there are, the
// largest of the rooms read and "partial"; namespaces by count only; no
// socket listed.
func TestOverviewBounds(t *testing.T) {
	s, _ := roomsStack(t)
	c := &counting{Server: s.ctl}
	v := adminview.New(adminview.Config{Cluster: c, Namespaces: []string{"/", "/none", "/"}, RoomPageSize: 10, Logger: quiet})
	o, err := v.Overview()
	if err != nil {
		t.Fatal(err)
	}
	if len(o.Errors) != 0 || len(o.MissingEdges) != 0 {
		t.Fatalf("errors %v, missing %v", o.Errors, o.MissingEdges)
	}
	wantTop(t, o.Rooms.Top, 24, 20)
	// "/": 3 pages of 10; "/none": one empty page.
	if o.Rooms.Read != 25 || o.Rooms.Pages != 4 || o.Rooms.Partial {
		t.Errorf("rooms read %d in %d pages, partial %v; want 25 in 4, whole", o.Rooms.Read, o.Rooms.Pages, o.Rooms.Partial)
	}
	if n := c.rooms.Load(); n != 4 {
		t.Errorf("%d ListRooms calls, want 4", n)
	}
	if len(o.Namespaces) != 2 || o.Namespaces[0] != (adminview.Count{Namespace: "/", Sockets: 25}) || o.Namespaces[1] != (adminview.Count{Namespace: "/none"}) || o.OtherSockets != 0 {
		t.Errorf("namespaces %+v, other %d", o.Namespaces, o.OtherSockets)
	}
	if n := c.sockets.Load(); n != 3 { // every namespace, "/", "/none"
		t.Errorf("%d ListSockets calls, want 3", n)
	}
	if len(o.Edges) != 1 || o.Edges[0].ID != s.edge.ID() || o.Edges[0].Missing || o.Connections != 25 || o.Sockets != 25 {
		t.Errorf("edges %+v, connections %d, sockets %d", o.Edges, o.Connections, o.Sockets)
	}
	if _, ok := o.EdgeCounters["slow_consumers"]; !ok {
		t.Errorf("edge counters %v lack slow_consumers", o.EdgeCounters)
	}
	if _, ok := o.ControlCounters["stream_events_dropped"]; !ok {
		t.Errorf("control counters %v lack stream_events_dropped", o.ControlCounters)
	}

	c2 := &counting{Server: s.ctl}
	o, err = adminview.New(adminview.Config{Cluster: c2, RoomPageSize: 10, MaxRoomPages: 2, TopRooms: 5, Logger: quiet}).Overview()
	if err != nil {
		t.Fatal(err)
	}
	// Pages go in name order: r00..r19 read, of which r19..r15 largest.
	wantTop(t, o.Rooms.Top, 19, 5)
	if o.Rooms.Read != 20 || o.Rooms.Pages != 2 || !o.Rooms.Partial || c2.rooms.Load() != 2 {
		t.Errorf("rooms read %d in %d pages (%d calls), partial %v; want 20 in 2, partial", o.Rooms.Read, o.Rooms.Pages, c2.rooms.Load(), o.Rooms.Partial)
	}
}

// TestServedCachedAndReadOnly: through the admin listener, many pages
// polling at once cost one gather per CacheFor; the page, its script and
// the overview are served, other methods refused; an edge that stops is
// listed missing with the totals down.
func TestServedCachedAndReadOnly(t *testing.T) {
	s, _ := roomsStack(t)
	c := &counting{Server: s.ctl}
	v := adminview.New(adminview.Config{Cluster: c, CacheFor: 500 * time.Millisecond, Logger: quiet})
	ctx, cancel := context.WithCancel(context.Background())
	addr, stop, err := admin.Start(ctx, admin.Config{Addr: "127.0.0.1:0", Routes: v.Routes(), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { http.DefaultClient.CloseIdleConnections(); cancel(); stop() })
	get := func(path string) (int, string, string) {
		t.Helper()
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
	}
	for _, p := range []struct{ path, ctype, has string }{
		{"/", "text/html", "Largest rooms"},
		{"/admin/", "text/html", "Largest rooms"},
		{"/admin/static/view.js", "javascript", "/admin/api/overview"},
		{"/admin/static/view.css", "text/css", "table"},
		{"/metrics", "text/plain", "go_goroutines"},
	} {
		if code, ct, body := get(p.path); code != 200 || !strings.Contains(ct, p.ctype) || !strings.Contains(body, p.has) {
			t.Errorf("GET %s: %d %q, body has %q: %v", p.path, code, ct, p.has, strings.Contains(body, p.has))
		}
	}
	if code, _, _ := get("/admin/static/nothing.js"); code != 404 {
		t.Errorf("GET a file that is not there: %d", code)
	}

	before := v.Gathers()
	var wg sync.WaitGroup
	bodies := make([]string, 20)
	for i := range bodies {
		wg.Go(func() { _, _, bodies[i] = get("/admin/api/overview") })
	}
	wg.Wait()
	if n := v.Gathers() - before; n != 1 {
		t.Errorf("20 polls at once: %d gathers, want 1", n)
	}
	for _, b := range bodies[1:] {
		if b != bodies[0] {
			t.Fatal("polls within CacheFor got different overviews")
		}
	}
	rooms := c.rooms.Load()
	var o adminview.Overview
	if err := json.Unmarshal([]byte(bodies[0]), &o); err != nil || o.Connections != 25 || len(o.Rooms.Top) != 20 {
		t.Fatalf("overview: %v, %d connections, %d rooms", err, o.Connections, len(o.Rooms.Top))
	}
	time.Sleep(600 * time.Millisecond) // past CacheFor: nothing to await but the clock
	get("/admin/api/overview")
	if v.Gathers()-before != 2 || c.rooms.Load() != rooms+1 {
		t.Errorf("after CacheFor: %d gathers, %d ListRooms calls; want 2 and %d", v.Gathers()-before, c.rooms.Load(), rooms+1)
	}

	for _, m := range []string{http.MethodPost, http.MethodDelete, http.MethodPut} {
		for _, p := range []string{"/", "/admin/api/overview", "/admin/static/view.js"} {
			req, _ := http.NewRequest(m, "http://"+addr+p, strings.NewReader("{}"))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusMethodNotAllowed {
				t.Errorf("%s %s: %d, want 405", m, p, resp.StatusCode)
			}
		}
	}

	id := s.edge.ID()
	s.stopEdge()
	eventually(t, "the stopped edge listed missing", func() bool {
		var o adminview.Overview
		_, _, b := get("/admin/api/overview")
		if json.Unmarshal([]byte(b), &o) != nil || len(o.Edges) != 1 {
			return false
		}
		e := o.Edges[0]
		return e.ID == id && e.Missing && o.Connections == 0 && o.Sockets == 0 && len(o.Rooms.Top) == 0
	})
}
