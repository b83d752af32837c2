package browser

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	sbv1 "github.com/switchboard-rt/switchboard/gen/switchboard/v1"
	"github.com/switchboard-rt/switchboard/internal/examplestack"
	"github.com/switchboard-rt/switchboard/internal/repotest"
)

var adminListening = regexp.MustCompile(`msg="admin listening[^"]*" addr=(127\.0\.0\.1:\d+)`)

// adminRooms are the rooms of TestAdminView's 300 clients: clients
// [from, to) join the room; the clients alternate between the two edges.
var adminRooms = []struct {
	name     string
	from, to int
}{{"lobby", 0, 150}, {"game-1", 150, 240}, {"game-2", 240, 280}, {"vip", 280, 292}} // 8 in no room

// TestAdminView: control's admin page in Chromium, with 300 clients on two
// edges in rooms of different sizes, shows both edges live, 300
// connections and the rooms largest first with their sizes; once one
// edge is killed (SIGKILL, by its PID) its next refreshes show that edge
// missing and the total and the room sizes down to the other edge's. The
// page sends nothing but GETs and has no control that changes anything.
func TestAdminView(t *testing.T) {
	root := repotest.Root(t)
	for _, need := range []string{filepath.Join(root, "node_modules/playwright-core"), "/usr/bin/chromium"} {
		if _, err := os.Stat(need); err != nil {
			t.Fatalf("%s missing: run `make test-deps` (npm ci and Debian's chromium)", need)
		}
	}
	ctl := repotest.StartProc(t, echoWait, examplestack.StopTimeout, "control", "--grpc-addr", "127.0.0.1:0",
		"--embedded-nats-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0")
	m := ctl.WaitLog(t, controlListening)
	grpcAddr, natsURL := m[1], m[2]
	adminAddr := ctl.WaitLog(t, adminListening)[1]
	var edges []*repotest.Proc
	var ids, addrs []string
	for range 2 {
		e := repotest.StartProc(t, echoWait, examplestack.StopTimeout, "edge", "--addr", "127.0.0.1:0", "--nats-url", natsURL, "--heartbeat", "200ms",
			"--handshake-rate", "-1") // 300 clients from one address at once
		em := e.WaitLog(t, edgeListening)
		edges, ids, addrs = append(edges, e), append(ids, em[1]), append(addrs, em[2])
	}
	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	api := sbv1.NewControlClient(conn)

	sids := make([]string, 300)
	for i := range sids {
		sids[i] = dialAdminClient(t, addrs[i%2])
	}
	for _, r := range adminRooms {
		j, err := api.JoinRoom(t.Context(), &sbv1.JoinRoomRequest{Target: &sbv1.Target{Sids: sids[r.from:r.to]}, Rooms: []string{r.name}})
		if err != nil || int(j.GetSockets()) != r.to-r.from {
			t.Fatalf("JoinRoom %s: %v, %d sockets", r.name, err, j.GetSockets())
		}
	}
	// Connections on the page come from the edges' heartbeats: wait for
	// both to count every client.
	for deadline := time.Now().Add(echoWait); ; time.Sleep(50 * time.Millisecond) {
		ci, err := api.ClusterInfo(t.Context(), &sbv1.ClusterInfoRequest{})
		n := 0
		for _, e := range ci.GetEdges() {
			n += int(e.GetConnections())
		}
		if err == nil && len(ci.GetEdges()) == 2 && n == 300 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("control does not count 300 connections on 2 edges after %v: %v (%v)", echoWait, ci, err)
		}
	}

	shot := screenshotPath(t, "admin.png")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", filepath.Join(root, "test/browser/adminview.mjs"), "http://"+adminAddr+"/", shot, "300", "150")
	cmd.Dir = root
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(out)
	type pageState struct {
		Event, Connections, Sockets, Generated, First string
		Edges, Rooms, Namespaces                      [][]string
		Buttons                                       int
		Methods                                       []string
	}
	next := func(want string) pageState {
		t.Helper()
		for lines.Scan() {
			var s pageState
			var raw map[string]any
			if json.Unmarshal(lines.Bytes(), &raw) != nil {
				continue
			}
			if ev := raw["event"]; ev == "pageerror" || ev == "httperror" {
				t.Errorf("%v: %v", ev, raw["message"])
				continue
			}
			if raw["event"] == want {
				if err := json.Unmarshal(lines.Bytes(), &s); err != nil {
					t.Fatal(err)
				}
				return s
			}
		}
		t.Fatalf("adminview.mjs ended before %q (err %v)", want, cmd.Wait())
		return pageState{}
	}
	wantRooms := func(got [][]string, div int) {
		t.Helper()
		if len(got) != len(adminRooms) {
			t.Fatalf("rooms on the page %v, want %d", got, len(adminRooms))
		}
		for i, r := range adminRooms { // listed largest first
			if got[i][1] != "/" || got[i][2] != r.name || got[i][3] != fmt.Sprint((r.to-r.from)/div) {
				t.Errorf("room row %d: %v, want / %s %d", i, got[i], r.name, (r.to-r.from)/div)
			}
		}
	}

	s := next("loaded")
	if len(s.Edges) != 2 || s.Connections != "300" || s.Sockets != "300" || s.Buttons != 0 {
		t.Errorf("before the kill: edges %v, connections %s, sockets %s, %d controls", s.Edges, s.Connections, s.Sockets, s.Buttons)
	}
	for i, row := range s.Edges {
		if row[0] != ids[i] && row[0] != ids[1-i] || row[1] != "live" || row[4] != "150" {
			t.Errorf("edge row %v", row)
		}
	}
	wantRooms(s.Rooms, 1)
	if len(s.Namespaces) != 1 || !slices.Equal(s.Namespaces[0], []string{"/", "300"}) {
		t.Errorf("namespaces %v", s.Namespaces)
	}

	edges[1].Kill(t)
	s = next("after")
	live := slices.IndexFunc(s.Edges, func(r []string) bool { return r[1] == "live" })
	gone := slices.IndexFunc(s.Edges, func(r []string) bool { return r[1] == "missing" })
	if len(s.Edges) != 2 || live < 0 || gone < 0 || s.Edges[live][0] != ids[0] || s.Edges[gone][0] != ids[1] {
		t.Errorf("after the kill: edges %v, want %s live and %s missing", s.Edges, ids[0], ids[1])
	}
	if s.Connections != "150" || s.Sockets != "150" || s.Generated == s.First {
		t.Errorf("after the kill: connections %s, sockets %s, overview of %s (first %s)", s.Connections, s.Sockets, s.Generated, s.First)
	}
	wantRooms(s.Rooms, 2)
	if !slices.Equal(s.Methods, []string{"GET"}) {
		t.Errorf("the page sent %v, want GETs only", s.Methods)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("adminview.mjs: %v", err)
	}
	if fi, err := os.Stat(shot); err != nil || fi.Size() == 0 {
		t.Errorf("no screenshot at %s: %v", shot, err)
	}
}

// dialAdminClient connects a Socket.IO client to "/" of the edge at addr
// over a raw Engine.IO WebSocket and returns its sid; a reader answers
// pings until the connection ends (closed when the test ends, or by its
// edge's death).
func dialAdminClient(t *testing.T, addr string) string {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: echoWait}
	ws, res, err := d.Dial("ws://"+addr+"/socket.io/?EIO=4&transport=websocket", nil)
	if res != nil && res.Body != nil {
		res.Body.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	_ = ws.SetReadDeadline(time.Now().Add(echoWait))
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
