package control_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"

	sbv1 "github.com/switchboard-rt/switchboard/gen/switchboard/v1"
)

// pace keeps a blast at most ahead events ahead of its readers: received
// is what the slowest of them has got, and more ticks when a reader got
// something. Readers that keep up then never hold more than ahead events
// in control, however slow the machine.
type pace struct {
	ahead    int
	received func() int
	more     <-chan struct{}
}

// blast connects a raw Socket.IO client to edge e and sends n events
// named event, each with about size bytes of argument, at most perSecond
// (0: as fast as it can) and, if p is not nil, at its pace.
func blast(t *testing.T, e *testEdge, event string, n, size, perSecond int, p *pace) {
	t.Helper()
	u, err := url.Parse(e.url)
	if err != nil {
		t.Fatal(err)
	}
	u.Scheme, u.Path, u.RawQuery = "ws", "/socket.io/", "EIO=4&transport=websocket"
	c, _, err := websocket.DefaultDialer.Dial(u.String(), nil)
	if err != nil {
		t.Fatalf("dial %s: %v", u, err)
	}
	_ = c.SetReadDeadline(time.Now().Add(waitTimeout))
	if _, _, err := c.ReadMessage(); err != nil { // the open packet
		t.Fatal(err)
	}
	if err := c.WriteMessage(websocket.TextMessage, []byte("40")); err != nil {
		t.Fatal(err)
	}
	if _, m, err := c.ReadMessage(); err != nil || !strings.HasPrefix(string(m), "40") {
		t.Fatalf("CONNECT: %q, %v", m, err)
	}
	// Answer the edge's pings while sending, as a client does; the
	// answers go through the writer below.
	pongs := make(chan struct{}, 16)
	read := make(chan struct{})
	go func() {
		defer close(read)
		_ = c.SetReadDeadline(time.Time{})
		for {
			_, m, err := c.ReadMessage()
			if err != nil {
				return
			}
			if string(m) == "2" {
				pongs <- struct{}{}
			}
		}
	}()
	defer func() {
		// A close frame, answered once the edge has read every event
		// before it; closing with unread data would reset the connection
		// and lose what the edge had not read yet.
		_ = c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
		select {
		case <-read:
		case <-time.After(waitTimeout):
			t.Errorf("the edge did not answer the blast's close frame")
		}
		c.Close()
		<-read
	}()
	pong := func() {
		if err := c.WriteMessage(websocket.TextMessage, []byte("3")); err != nil {
			t.Fatalf("pong: %v", err)
		}
	}
	pad := strings.Repeat("x", size)
	start := time.Now()
	for i := range n {
		select {
		case <-pongs:
			pong()
		default:
		}
		for p != nil && i-p.received() > p.ahead {
			select {
			case <-pongs:
				pong()
			case <-p.more:
			case <-time.After(waitTimeout):
				t.Fatalf("blast: the readers got %d of the %d events sent, and nothing more for %v", p.received(), i, waitTimeout)
			}
		}
		if err := c.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, `42[%q,%d,%q]`, event, i, pad)); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if perSecond > 0 && i%10 == 9 {
			time.Sleep(start.Add(time.Duration(i+1) * time.Second / time.Duration(perSecond)).Sub(time.Now()))
		}
	}
}

// TestSubscribeStreamsThatDoNotRead: Subscribe streams whose callers never
// read cannot take control's bus down. Each stream had a NATS subscription
// of its own, so N streams multiplied the traffic into control's one NATS
// connection: with 500 such streams and 20,000 events of 1 KB, NATS cut
// control as a slow consumer again and again, other callers' Emits failed
// with Unavailable, and an honest reader got 402 of 20,000 events.
// Streams now share one NATS subscription per control instance, each with
// a bounded queue: the idle ones fall behind and end with
// ResourceExhausted once read, counted; nothing else is touched.
//
// The scale is what a -race run on two busy cores takes in seconds. The
// blast keeps at most half a queue ahead of the streams that read, so
// they cannot fall behind however slow the machine is, while the idle
// ones do: a small queue makes them fall behind early (after the queue
// and gRPC's flow-control window, about 60 events), and more events than
// a per-stream subscription's channel held (4,096) make that design drop
// messages in nats.go, which BusErrors counts.
func TestSubscribeStreamsThatDoNotRead(t *testing.T) {
	const (
		streams   = 20   // idle ones
		events    = 5000 // of 1 KB
		perSecond = 2000 // at most
		queue     = 500  // every stream's StreamQueue
	)
	f := startCluster(t, options{edges: 1, streamQ: queue})
	// Client events only: a connect or disconnect would be one more event
	// to count in the idle streams' drops.
	clientEvents := []sbv1.EventKind{sbv1.EventKind_EVENT_KIND_CLIENT_EVENT}
	req := &sbv1.SubscribeRequest{Events: []string{"blast"}, Kinds: clientEvents}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The idle callers have a connection of their own, as they would, with
	// a fixed flow-control window: a window that grew with gRPC's bandwidth
	// estimate (the default) would let control send them more, in bursts,
	// at the honest reader's expense.
	idleConn, err := grpc.NewClient(f.addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithInitialWindowSize(64<<10), grpc.WithInitialConnWindowSize(1<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer idleConn.Close()
	idleAPI := sbv1.NewControlClient(idleConn)
	idle := make([]sbv1.Control_SubscribeClient, streams)
	for i := range idle {
		st, err := idleAPI.Subscribe(ctx, req)
		if err != nil {
			t.Fatalf("Subscribe %d: %v", i, err)
		}
		if _, err := st.Header(); err != nil {
			t.Fatalf("Subscribe %d headers: %v", i, err)
		}
		idle[i] = st // and never read, until the end
	}
	more := make(chan struct{}, 1)
	honest := count(t, f.api, req, more)
	// A queue group of two readers on this instance shares the events.
	grouped := &sbv1.SubscribeRequest{Events: []string{"blast"}, Kinds: clientEvents, QueueGroup: "workers"}
	g1, g2 := count(t, f.api, grouped, more), count(t, f.api, grouped, more)

	// Another caller emits all along; none of its calls may fail.
	stopEmits := make(chan struct{})
	var emits int
	var emitErrs []error
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stopEmits:
				return
			case <-tick.C:
			}
			emits++
			if _, err := f.api.Emit(context.Background(), &sbv1.EmitRequest{Event: "tick"}); err != nil {
				emitErrs = append(emitErrs, err)
			}
		}
	})
	blast(t, f.edges[0], "blast", events, 1000, perSecond, &pace{
		ahead:    queue / 2,
		received: func() int { return min(honest.len(), g1.len()+g2.len()) },
		more:     more,
	})
	got := honest.wait(t, "the honest reader's events", events)
	close(stopEmits)
	wg.Wait()
	if !slices.Equal(got, seq(events)) {
		for i, n := range got {
			if n != i {
				t.Fatalf("the honest reader got %d events, the one at %d is number %d: out of order, repeated or lost", len(got), i, n)
			}
		}
		t.Fatalf("the honest reader got %d events, want %d", len(got), events)
	}
	if emits == 0 {
		t.Errorf("no Emit ran during the blast")
	} else if len(emitErrs) > 0 {
		t.Errorf("%d of %d Emits failed during the blast, the first: %v", len(emitErrs), emits, emitErrs[0])
	}
	eventually(t, "the queue group to share the events", func() bool {
		return len(g1.values())+len(g2.values()) >= events
	})
	v1, v2 := g1.values(), g2.values()
	if all := slices.Sorted(slices.Values(append(v1, v2...))); !slices.Equal(all, seq(events)) {
		t.Errorf("the queue group's readers got %d events between them, want each of %d once", len(all), events)
	}
	if len(v1) == 0 || len(v2) == 0 {
		t.Errorf("the queue group's readers got %d and %d events, want both a share", len(v1), len(v2))
	}

	// Idle streams cost the bus nothing: no message dropped on control's
	// connection (a per-stream subscription's channel overflowed in
	// nats.go), no reconnection.
	if st := f.ctl.Stats(); st.BusErrors != 0 || st.BusReconnects != 0 {
		t.Errorf("control's bus during the blast: %+v, want no error and no reconnect", st)
	}

	// Each idle stream holds what fitted in its queue, then says it fell
	// behind. What it did not hold was dropped, and counted.
	watchdog := time.AfterFunc(2*waitTimeout, cancel) // an idle stream that never ends
	defer watchdog.Stop()
	delivered := 0
	for i, st := range idle {
		var n []int
		var err error
		for err == nil {
			var r *sbv1.SubscribeResponse
			if r, err = st.Recv(); err == nil && r.GetClientEvent().GetEvent() == "blast" {
				n = append(n, firstNumber(r.GetClientEvent().GetArgsJson()))
			}
		}
		wantCode(t, fmt.Sprintf("idle stream %d", i), err, codes.ResourceExhausted, "slow consumer")
		if len(n) < queue || len(n) >= events || !slices.Equal(n, seq(len(n))) {
			t.Fatalf("idle stream %d delivered %d events before it ended (in order: %v), want the first %d to %d",
				i, len(n), slices.Equal(n, seq(len(n))), queue, events-1)
		}
		delivered += len(n)
	}
	wantDropped := uint64(streams*events - delivered)
	eventually(t, "control to count the drops", func() bool { return f.ctl.Stats().StreamEventsDropped >= wantDropped })
	st := f.ctl.Stats()
	if st.BusReconnects != 0 || st.BusErrors != 0 {
		t.Errorf("control's bus: %+v, want no reconnect and no error", st)
	}
	if st.SlowStreams != streams || st.StreamEventsDropped != wantDropped {
		t.Errorf("control's counters %+v, want %d slow streams and %d drops", st, streams, wantDropped)
	}
	ci, err := f.api.ClusterInfo(context.Background(), &sbv1.ClusterInfoRequest{})
	if cc := ci.GetControlCounters(); err != nil || cc.GetSlowStreams() != streams || cc.GetStreamEventsDropped() != wantDropped {
		t.Errorf("ClusterInfo counters = %v, %v; want %d slow streams, %d drops", cc, err, streams, wantDropped)
	}
}

// firstNumber is the first argument of a client event's args_json, a
// number; -1 when it is not one.
func firstNumber(argsJSON string) int {
	var args []any
	if json.Unmarshal([]byte(argsJSON), &args) != nil || len(args) == 0 {
		return -1
	}
	n, ok := args[0].(float64)
	if !ok {
		return -1
	}
	return int(n)
}

// seq returns 0, 1, ..., n-1.
func seq(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

// counter reads a Subscribe stream and keeps the numbers of its "blast"
// events (their first argument), cheaply enough for thousands.
type counter struct {
	more chan<- struct{} // capacity 1: ticked on each event
	mu   sync.Mutex
	nums []int // guarded by mu
	err  error // guarded by mu
}

// count reads req's stream, ticking more (if not nil) on each event.
func count(t *testing.T, api sbv1.ControlClient, req *sbv1.SubscribeRequest, more chan<- struct{}) *counter {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	st, err := api.Subscribe(ctx, req)
	if err == nil {
		_, err = st.Header()
	}
	if err != nil {
		cancel()
		t.Fatalf("Subscribe: %v", err)
	}
	c := &counter{more: more}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			r, err := st.Recv()
			c.mu.Lock()
			if err != nil {
				c.err = err
				c.mu.Unlock()
				return
			}
			if ev := r.GetClientEvent(); ev.GetEvent() == "blast" {
				c.nums = append(c.nums, firstNumber(ev.GetArgsJson()))
			}
			c.mu.Unlock()
			select {
			case c.more <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return c
}

func (c *counter) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.nums)
}

func (c *counter) values() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.nums)
}

// wait waits for n numbers, as long as they keep coming.
func (c *counter) wait(t *testing.T, what string, n int) []int {
	t.Helper()
	last, since := -1, time.Now()
	for {
		got := c.values()
		if len(got) >= n {
			return got
		}
		if len(got) != last {
			last, since = len(got), time.Now()
		} else if time.Since(since) > waitTimeout {
			c.mu.Lock()
			err := c.err
			c.mu.Unlock()
			t.Fatalf("%s: %d of %d, none for %v (stream: %v)", what, len(got), n, waitTimeout, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
