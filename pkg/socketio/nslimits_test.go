package socketio_test

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/switchboard-rt/switchboard/pkg/socketio"
)

// waitFor polls cond, for state that offers nothing to wait on.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

func anyNamespace(string) bool { return true }

// TestNamespacesPerConnectionCapped: a connection joins at most
// MaxNamespaces namespaces at once (64 by default, none when negative);
// the CONNECT over the cap gets CONNECT_ERROR and creates nothing, the
// connection and its sockets go on, and leaving a namespace makes room.
func TestNamespacesPerConnectionCapped(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		max   int // Config.MaxNamespaces
		limit int // what the connection may join; 0: no cap
	}{
		{"default", 0, socketio.DefaultMaxNamespaces},
		{"three", 3, 3},
		{"none", -1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ts := newServer(t, socketio.Config{AllowNamespace: anyNamespace, MaxNamespaces: tc.max}, nil)
			c := ts.dial(t)
			c.connect("/", "")
			n := tc.limit
			if n == 0 {
				n = 2 * socketio.DefaultMaxNamespaces
			}
			for i := 1; i < n; i++ {
				c.connect(fmt.Sprintf("/n%d", i), "")
			}
			if tc.limit == 0 {
				return
			}
			over := fmt.Sprintf("/n%d", n)
			c.send("40" + over + ",")
			c.expect(fmt.Sprintf(`44%s,{"message":"Too many namespaces on this connection (at most %d)"}`, over, tc.limit))
			if ts.Namespace(over) != nil {
				t.Errorf("the refused namespace %s was created", over)
			}
			if got := ts.Stats().NamespacesRefused; got != 1 {
				t.Errorf("Stats().NamespacesRefused = %d, want 1", got)
			}
			// Still connected, and leaving makes room.
			c.send(`42["x"]`)
			c.send("41/n1,")
			c.connect(over, "")
		})
	}
}

// TestDynamicNamespaceDeleted: a namespace created for a CONNECT goes
// (OnDelete hooks run) when its last socket does, whether it left,
// its connection closed or its CONNECT was refused; a later CONNECT
// creates it anew (OnNamespace hooks run again). One registered with Of
// stays, even one first created for a client.
func TestDynamicNamespaceDeleted(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	created := map[string]int{} // guarded by mu
	deleted := map[string]int{} // guarded by mu
	counts := func(name string) (int, int) {
		mu.Lock()
		defer mu.Unlock()
		return created[name], deleted[name]
	}
	ts := newServer(t, socketio.Config{AllowNamespace: anyNamespace}, func(srv *socketio.Server) {
		srv.Of("/static")
		srv.OnNamespace(func(ns *socketio.Namespace) {
			name := ns.Name()
			mu.Lock()
			created[name]++
			mu.Unlock()
			ns.OnDelete(func() {
				mu.Lock()
				deleted[name]++
				mu.Unlock()
			})
			if strings.HasPrefix(name, "/deny") {
				ns.Authenticate(func(*socketio.Handshake) (*socketio.ConnectResult, error) {
					return nil, &socketio.ConnectError{Message: "no"}
				})
			}
		})
	})

	c1, c2 := ts.dial(t), ts.dial(t)
	c1.connect("/dyn", "")
	c2.connect("/dyn", "")
	first := ts.Namespace("/dyn")
	c1.send("41/dyn,")
	c1.connect("/static", "") // after the DISCONNECT on the same connection
	if ts.Namespace("/dyn") != first || first.Len() != 1 {
		t.Fatalf("/dyn went with one of its two sockets")
	}
	c2.close()
	waitFor(t, "/dyn to go with its last socket", func() bool { return ts.Namespace("/dyn") == nil })
	if cr, del := counts("/dyn"); cr != 1 || del != 1 {
		t.Errorf("/dyn created %d and deleted %d times, want 1 and 1", cr, del)
	}
	c1.connect("/dyn", "")
	if again := ts.Namespace("/dyn"); again == nil || again == first {
		t.Errorf("a new CONNECT did not make a new /dyn")
	}
	if cr, _ := counts("/dyn"); cr != 2 {
		t.Errorf("OnNamespace ran %d times for /dyn, want 2", cr)
	}

	// Refused: nothing left behind.
	c1.send("40/deny,")
	c1.expect(`44/deny,{"message":"no"}`)
	if ts.Namespace("/deny") != nil {
		t.Errorf("/deny stayed after its CONNECT was refused")
	}
	if cr, del := counts("/deny"); cr != 1 || del != 1 {
		t.Errorf("/deny created %d and deleted %d times, want 1 and 1", cr, del)
	}

	// Registered with Of while a client holds it: it stays.
	c1.connect("/adopted", "")
	ts.Of("/adopted")
	c1.send("41/adopted,")
	c1.send("41/static,")
	c1.send("41/dyn,")
	waitFor(t, "/dyn to go", func() bool { return ts.Namespace("/dyn") == nil })
	if ts.Namespace("/adopted") == nil || ts.Namespace("/static") == nil {
		t.Errorf("a namespace registered with Of went away")
	}
	if _, del := counts("/adopted"); del != 0 {
		t.Errorf("/adopted deleted %d times", del)
	}
}

// TestDynamicNamespaceRace: connections join and leave one dynamic
// namespace at once, over and over: every connected socket is in the
// namespace the server has under that name (never in one deleted under
// it), each creation is matched by one deletion, and nothing is left.
func TestDynamicNamespaceRace(t *testing.T) {
	t.Parallel()
	var creates, deletes, stray atomic.Int64
	var ts *testServer
	ts = newServer(t, socketio.Config{AllowNamespace: anyNamespace}, func(srv *socketio.Server) {
		srv.OnNamespace(func(ns *socketio.Namespace) {
			if ns.Name() != "/race" {
				return
			}
			creates.Add(1)
			ns.OnDelete(func() { deletes.Add(1) })
			ns.OnConnect(func(s *socketio.Socket) {
				if srv.Namespace("/race") != s.Namespace() {
					stray.Add(1)
				}
			})
		})
	})
	const clients, rounds = 6, 30
	conns := make([]*wsClient, clients)
	for i := range conns {
		conns[i] = ts.dial(t)
	}
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range rounds {
				// Raw sends: t.Fatal is for the test's goroutine.
				c.wmu.Lock()
				err := c.conn.WriteMessage(websocket.TextMessage, []byte("40/race,"))
				if err == nil {
					err = c.conn.WriteMessage(websocket.TextMessage, []byte("41/race,"))
				}
				c.wmu.Unlock()
				if err != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, c := range conns {
		c.close()
	}
	waitFor(t, "/race to go", func() bool { return ts.Namespace("/race") == nil && creates.Load() == deletes.Load() })
	if n := stray.Load(); n != 0 {
		t.Errorf("%d sockets connected to a /race that was not the server's", n)
	}
	t.Logf("/race created and deleted %d times", creates.Load())
}

// TestNamespaceNotUTF8Refused: a namespace name that is not UTF-8 is
// refused, even where any name is admitted: it could not be reported nor
// addressed through the bus, whose names are UTF-8.
func TestNamespaceNotUTF8Refused(t *testing.T) {
	t.Parallel()
	ts := newServer(t, socketio.Config{AllowNamespace: anyNamespace}, nil)
	c := ts.dial(t)
	c.send("40/a\xff,")
	c.expect("44/a\xff," + `{"message":"Invalid namespace"}`)
	if len(ts.Namespaces()) != 1 {
		t.Errorf("namespaces %d, want / alone", len(ts.Namespaces()))
	}
	c.connect("/a", "")
}

// TestConnectBounded: a namespace name over MaxNamespaceLen, or an auth
// payload over MaxAuthBytes, gets CONNECT_ERROR and creates nothing, so
// that no connection holds 64 namespaces' worth of megabyte names or
// payloads; at the limits the CONNECT succeeds.
func TestConnectBounded(t *testing.T) {
	t.Parallel()
	ts := newServer(t, socketio.Config{AllowNamespace: anyNamespace}, nil)
	c := ts.dial(t)
	long := "/" + strings.Repeat("n", socketio.MaxNamespaceLen)
	c.send("40" + long + ",")
	c.expect("44" + long + `,{"message":"Invalid namespace"}`)
	auth := `{"token":"` + strings.Repeat("x", socketio.MaxAuthBytes) + `"}`
	c.send("40/big," + auth)
	c.expect(fmt.Sprintf(`44/big,{"message":"Auth payload too large (at most %d bytes)"}`, socketio.MaxAuthBytes))
	if n := len(ts.Namespaces()); n != 1 {
		t.Errorf("%d namespaces, want / alone", n)
	}
	c.connect(long[:socketio.MaxNamespaceLen], "")
	c.connect("/big", `{"token":"`+strings.Repeat("x", socketio.MaxAuthBytes-len(`{"token":""}`))+`"}`)
}

// TestRoomsPerSocketCapped: a socket is in at most MaxRoomsPerSocket rooms
// besides its own (1,000 by default, none when negative). Joins past the
// cap are not made, in order, and counted; the operator reports the full
// sockets; rooms joined already, the socket's own room and leaving one
// make no difference or make room. Rooms granted at connect are capped
// too.
func TestRoomsPerSocketCapped(t *testing.T) {
	t.Parallel()
	rooms := func(prefix string, n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("%s%d", prefix, i)
		}
		return out
	}
	t.Run("three", func(t *testing.T) {
		t.Parallel()
		ts := newServer(t, socketio.Config{MaxRoomsPerSocket: 3}, func(srv *socketio.Server) {
			srv.Of("/granted").Authenticate(func(*socketio.Handshake) (*socketio.ConnectResult, error) {
				return &socketio.ConnectResult{Rooms: rooms("g", 5)}, nil
			})
		})
		p := connectPeers(t, ts, "/", 2)
		s := p[0].s
		if err := s.Join("a", "b", s.ID(), "a"); err != nil {
			t.Fatalf("Join within the cap: %v", err)
		}
		if err := s.Join("c", "d", "e"); err != socketio.ErrTooManyRooms {
			t.Fatalf("Join over the cap = %v, want ErrTooManyRooms", err)
		}
		if got, want := strings.Join(s.Rooms()[1:], ","), "a,b,c"; got != want {
			t.Errorf("rooms %s, want %s", got, want)
		}
		if got := ts.Stats().RoomJoinsRefused; got != 1 {
			t.Errorf("RoomJoinsRefused = %d, want 1", got)
		}
		if err := s.Join("a", "c"); err != nil {
			t.Errorf("joining rooms it is in: %v", err)
		}
		ns := ts.Of("/")
		if n, full := ns.Except("nothing").Join("x", "y"); n != 2 || full != 1 {
			t.Errorf("operator Join = %d sockets, %d full; want 2, 1", n, full)
		}
		if got, want := strings.Join(p[1].s.Rooms()[1:], ","), "x,y"; got != want {
			t.Errorf("the other socket's rooms %s, want %s", got, want)
		}
		s.Leave("a")
		if err := s.Join("d"); err != nil {
			t.Errorf("Join after Leave: %v", err)
		}
		if got := ts.Stats().RoomJoinsRefused; got != 2 {
			t.Errorf("RoomJoinsRefused = %d, want 2", got)
		}

		g := connectPeers(t, ts, "/granted", 1)[0].s
		if got, want := strings.Join(g.Rooms()[1:], ","), "g0,g1,g2"; got != want {
			t.Errorf("rooms granted at connect %s, want %s", got, want)
		}
	})
	for _, tc := range []struct {
		name  string
		max   int
		rooms int // what a socket may join
	}{
		{"default", 0, socketio.DefaultMaxRoomsPerSocket},
		{"none", -1, 3 * socketio.DefaultMaxRoomsPerSocket},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ts := newServer(t, socketio.Config{MaxRoomsPerSocket: tc.max}, nil)
			s := connectPeers(t, ts, "/", 1)[0].s
			if err := s.Join(rooms("r", tc.rooms)...); err != nil {
				t.Fatalf("joining %d rooms: %v", tc.rooms, err)
			}
			err := s.Join("one-more")
			if tc.max < 0 {
				if err != nil {
					t.Errorf("no cap, yet: %v", err)
				}
				return
			}
			if err != socketio.ErrTooManyRooms {
				t.Errorf("room %d: %v, want ErrTooManyRooms", tc.rooms+1, err)
			}
		})
	}
}
