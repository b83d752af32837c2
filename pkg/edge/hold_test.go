package edge_test

// What one connection may make an edge hold (issue 12): client events
// waiting for a service's ack, namespaces per connection, and what a closed
// connection leaves behind. Real pieces: an in-process nats-server on a
// random port, the edge, gorilla WebSocket clients speaking the wire
// protocol, all on 127.0.0.1.

import (
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats-server/v2/server"
	natstest "github.com/nats-io/nats-server/v2/test"
	"github.com/nats-io/nats.go"

	busv1 "github.com/switchboard-rt/switchboard/gen/switchboard/bus/v1"
	"github.com/switchboard-rt/switchboard/pkg/bus"
	"github.com/switchboard-rt/switchboard/pkg/edge"
)

// holdNATS runs a nats-server on a random loopback port for one test.
func holdNATS(t *testing.T) *server.Server {
	t.Helper()
	opts := natstest.DefaultTestOptions
	opts.Port = server.RANDOM_PORT
	ns := natstest.RunServer(&opts)
	t.Cleanup(ns.Shutdown)
	return ns
}

// sioWS is a WebSocket client speaking Engine.IO and Socket.IO packets as
// text; a reader goroutine answers pings and queues the rest.
type sioWS struct {
	t      *testing.T
	conn   *websocket.Conn
	wmu    sync.Mutex  // one writer: the test or the reader's pongs
	frames chan string // closed with the connection
	done   chan struct{}
}

func dialSIO(t *testing.T, te *testEdge) *sioWS {
	t.Helper()
	conn, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(te.url, "http")+"/socket.io/?EIO=4&transport=websocket", nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	resp.Body.Close()
	c := &sioWS{t: t, conn: conn, frames: make(chan string, 256), done: make(chan struct{})}
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

func (c *sioWS) close() {
	_ = c.conn.Close()
	<-c.done
}

func (c *sioWS) send(s string) {
	c.t.Helper()
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.conn.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

func (c *sioWS) next() string {
	c.t.Helper()
	select {
	case m, ok := <-c.frames:
		if !ok {
			c.t.Fatal("connection closed, want a message")
		}
		return m
	case <-time.After(waitTimeout):
		c.t.Fatal("no message in time")
	}
	return ""
}

func (c *sioWS) expect(want string) {
	c.t.Helper()
	if got := c.next(); got != want {
		c.t.Fatalf("got %.200s, want %s", got, want)
	}
}

// connect joins namespace ns and returns the socket id.
func (c *sioWS) connect(ns string) string {
	c.t.Helper()
	prefix := "40"
	if ns != "/" {
		prefix += ns + ","
	}
	c.send(prefix)
	m := c.next()
	var ok struct{ SID string }
	if !strings.HasPrefix(m, prefix+"{") || json.Unmarshal([]byte(m[len(prefix):]), &ok) != nil || ok.SID == "" {
		c.t.Fatalf("CONNECT %s answered %.200s", ns, m)
	}
	return ok.SID
}

// heapAfterGC is the live heap after a full collection.
func heapAfterGC() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestPendingAcksBounded: a client emits big events asking for acks that no
// service answers. The edge keeps only what an answer needs (the socket and
// the ack id), not the events: its heap does not grow by their size. A
// socket may have only so many acks waiting (100 by default): past that,
// its events are refused (not published, counted) and the client's own ack
// timeout fires; other sockets are not affected. A socket that goes away
// takes its waiting acks with it. The edge once grew by 910 MB for 1,500
// events of 600 KB, for the 10-minute ack TTL.
func TestPendingAcksBounded(t *testing.T) {
	const (
		maxPending = 30 // Config.MaxPendingAcks (100 by default)
		extra      = 20
		size       = 200_000
	)
	ns := holdNATS(t)
	te := startEdge(t, edge.Config{NATSURL: ns.ClientURL(), MaxPendingAcks: maxPending}, nil)
	subj, err := bus.NewSubjects("")
	if err != nil {
		t.Fatal(err)
	}
	// A service answers "answer-me"; another hears "big" and never answers.
	svc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	if _, err := svc.Subscribe(subj.Event("/", "answer-me"), func(m *nats.Msg) {
		_ = bus.Publish(svc, m.Reply, &busv1.EventAck{ArgsJson: []byte(`["ok"]`)})
	}); err != nil {
		t.Fatal(err)
	}
	heard := make(chan struct{}, maxPending+extra)
	if _, err := svc.Subscribe(subj.Event("/", "big"), func(*nats.Msg) { heard <- struct{}{} }); err != nil {
		t.Fatal(err)
	}
	if err := svc.Flush(); err != nil {
		t.Fatal(err)
	}

	c := dialSIO(t, te)
	c.connect("/")
	c.send(`42900["answer-me"]`)
	c.expect(`43900["ok"]`)
	// No service listens for "nobody": NATS says so at once, and the edge
	// forgets the ack without answering (it once sent an empty ack, as if
	// a service had answered with nothing); the client's timeout fires.
	c.send(`42901["nobody"]`)
	c.send(`42902["answer-me"]`)
	c.expect(`43902["ok"]`)
	eventually(t, "the unheard event's ack to go", func() bool { return te.ClusterStats().AcksPending == 0 })

	big := strings.Repeat("x", size)
	before := heapAfterGC()
	for i := range maxPending {
		c.send(fmt.Sprintf(`42%d["big",%q]`, i, big))
	}
	for i := range maxPending {
		recv(t, heard, fmt.Sprintf("big event %d", i))
	}
	if st := te.ClusterStats(); st.AcksPending != maxPending {
		t.Fatalf("stats %+v, want %d acks pending", st, maxPending)
	}
	grew := int64(heapAfterGC()) - int64(before)
	t.Logf("heap grew by %d KB for %d unanswered events of %d KB", grew/1024, maxPending, size/1000)
	if limit := int64(maxPending * size / 4); grew > limit {
		t.Errorf("heap grew by %d KB holding %d unanswered acks, want < %d KB: the events are kept", grew/1024, maxPending, limit/1024)
	}

	for i := range extra {
		c.send(fmt.Sprintf(`42%d["big",%q]`, maxPending+i, big))
	}
	// Refused events are not published: the client's next event, after
	// them on the connection, is the one that arrives.
	c.send(`42["big","last"]`)
	recv(t, heard, "the event after the refused ones")
	noValue(t, heard, "refused event")
	if st := te.ClusterStats(); st.AcksPending != maxPending || st.AcksRefused != extra {
		t.Errorf("stats %+v, want %d pending and %d refused", st, maxPending, extra)
	}

	// Another socket still gets its answers.
	c2 := dialSIO(t, te)
	c2.connect("/")
	c2.send(`427["answer-me"]`)
	c2.expect(`437["ok"]`)

	c.close()
	eventually(t, "the closed socket's acks to go", func() bool { return te.ClusterStats().AcksPending == 0 })
}

// TestNamespacesPerConnection: one connection may join at most MaxNamespaces
// namespaces at once (64 by default); the next CONNECT gets CONNECT_ERROR and
// the connection goes on. A namespace the edge created for a client (any
// name is admitted by default) goes away with its last socket, and with it
// the edge's NATS subscription for it; a configured one stays. One
// WebSocket that joined 10,000 namespaces once left 30 MB behind.
func TestNamespacesPerConnection(t *testing.T) {
	const maxNamespaces = 10 // Config.MaxNamespaces (64 by default)
	ns := holdNATS(t)
	te := startEdge(t, edge.Config{NATSURL: ns.ClientURL(), Namespaces: []string{"/", "/kept", "*"}, MaxNamespaces: maxNamespaces}, nil)
	sio := te.SocketIO()
	c := dialSIO(t, te) // served once the edge has joined the bus
	c.connect("/")
	baseSubs := ns.NumSubscriptions()
	if got := len(sio.Namespaces()); got != 2 {
		t.Errorf("%d namespaces at the start, want / and the configured /kept", got)
	}
	c.connect("/kept")
	for i := 2; i < maxNamespaces; i++ {
		c.connect(fmt.Sprintf("/n%d", i))
	}
	c.send(fmt.Sprintf("40/n%d,", maxNamespaces))
	c.expect(fmt.Sprintf(`44/n%d,{"message":"Too many namespaces on this connection (at most %d)"}`, maxNamespaces, maxNamespaces))
	if sio.Namespace(fmt.Sprintf("/n%d", maxNamespaces)) != nil {
		t.Errorf("the refused namespace was created")
	}
	// The connection still works, and leaving a namespace makes room.
	c.send(`41/n2,`)
	eventually(t, "/n2 to go", func() bool { return sio.Namespace("/n2") == nil })
	c.connect(fmt.Sprintf("/n%d", maxNamespaces))
	if got := len(sio.Namespaces()); got != maxNamespaces {
		t.Errorf("%d namespaces, want %d", got, maxNamespaces)
	}

	// Leaving frees at once, the connection still open.
	for i := 3; i <= maxNamespaces; i++ {
		c.send(fmt.Sprintf("41/n%d,", i))
	}
	eventually(t, "the left namespaces to go", func() bool { return len(sio.Namespaces()) == 2 })

	// Joining and leaving, namespace after namespace, leaves nothing.
	for round := range 5 {
		for i := range 50 {
			c.connect(fmt.Sprintf("/r%d-%d", round, i))
			c.send(fmt.Sprintf("41/r%d-%d,", round, i))
		}
	}
	c.close()
	names := func() []string {
		var out []string
		for _, n := range sio.Namespaces() {
			out = append(out, n.Name())
		}
		return slices.Sorted(slices.Values(out))
	}
	eventually(t, "the namespaces to go", func() bool { return len(sio.Namespaces()) <= 2 })
	if got := names(); !slices.Equal(got, []string{"/", "/kept"}) {
		t.Errorf("namespaces %v, want / and the configured /kept", got)
	}
	eventually(t, "the edge's NATS subscriptions to go", func() bool { return ns.NumSubscriptions() == baseSubs })
}
