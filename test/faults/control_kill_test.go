package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"

	sbv1 "github.com/switchboard-rt/switchboard/gen/switchboard/v1"
	"github.com/switchboard-rt/switchboard/internal/testfeed"
)

const (
	// failFast bounds the time from SIGKILL until a call or stream on the
	// killed control fails: the kernel closes its sockets at once, so the
	// caller's gRPC transport sees the connection end, far before any
	// timeout of the call.
	failFast = 3 * time.Second
	// askTimeout is the EmitWithAck timeout of the call that is in flight
	// when its control dies: failing within failFast shows the caller did
	// not wait for it.
	askTimeout = 8 * time.Second
)

// replicas is one NATS server, two control replicas on it and an edge.
type replicas struct {
	nats *natsNode
	a, b *controlProc
	edge *edgeProc
}

func startReplicas(t *testing.T) *replicas {
	t.Helper()
	r := &replicas{nats: startNATS(t, 1)[0]}
	r.a = startControl(t, r.nats.url)
	r.b = startControl(t, r.nats.url)
	r.edge = startEdge(t, "edgekill", r.nats.url)
	waitEdges(t, r.a.api, r.edge.id)
	waitEdges(t, r.b.api, r.edge.id)
	return r
}

// TestControlKilledMidCall: two control replicas on one NATS; an
// EmitWithAck on replica A is in flight (the client holds the event, its
// ack not sent yet) when A is killed with SIGKILL. The caller gets
// UNAVAILABLE within failFast, not at the call's timeout; its retry of
// the same request on replica B succeeds with the client's ack, the one
// the client sent to A's call being late and harmless; the edge, the
// client and B go on (ListSockets on B finds the client, no edge
// missing).
func TestControlKilledMidCall(t *testing.T) {
	r := startReplicas(t)
	c := dialClient(t, r.edge.addr)

	arg, err := structpb.NewValue(map[string]any{"try": 1})
	if err != nil {
		t.Fatal(err)
	}
	req := &sbv1.EmitWithAckRequest{
		Target:  &sbv1.Target{Sids: []string{c.sid}},
		Event:   "ask",
		Args:    []*structpb.Value{arg},
		Timeout: durationpb.New(askTimeout),
	}
	type result struct {
		res *sbv1.EmitWithAckResponse
		err error
		at  time.Time
	}
	call := func(api sbv1.ControlClient) <-chan result {
		ch := make(chan result, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), askTimeout+waitTimeout)
			defer cancel()
			res, err := api.EmitWithAck(ctx, req)
			ch <- result{res, err, time.Now()}
		}()
		return ch
	}
	await := func(ch <-chan result, what string) result {
		t.Helper()
		select {
		case res := <-ch:
			return res
		case <-time.After(askTimeout + waitTimeout + time.Second):
			t.Fatalf("%s did not return", what)
			return result{}
		}
	}

	onA := call(r.a.api)
	first := c.waitAsk(t, "ask", `"try":1`, 1) // the call is in flight on A
	killedAt := time.Now()
	r.a.Kill(t)
	ra := await(onA, "the EmitWithAck on the killed control")
	took := ra.at.Sub(killedAt)
	t.Logf("the call on the killed control: %v after SIGKILL: %v", took.Round(time.Millisecond), ra.err)
	if status.Code(ra.err) != codes.Unavailable {
		t.Errorf("the call on the killed control: %v (response %v), want UNAVAILABLE", ra.err, ra.res)
	}
	if took > failFast {
		t.Errorf("the call on the killed control failed %v after SIGKILL, want within %v", took.Round(time.Millisecond), failFast)
	}
	// The client answers A's call late: its ack goes to an inbox nobody
	// listens to any more.
	c.send(t, fmt.Sprintf(`43%d[{"late":true}]`, first))

	// The caller retries on the other replica.
	onB := call(r.b.api)
	second := c.waitAsk(t, "ask", `"try":1`, 2)
	if second == first {
		t.Errorf("the retry's event has ack id %d, as the first call's", second)
	}
	c.send(t, fmt.Sprintf(`43%d[{"ok":true}]`, second))
	rb := await(onB, "the retry on the surviving control")
	if rb.err != nil {
		t.Fatalf("the retry on the surviving control: %v", rb.err)
	}
	if len(rb.res.Acks) != 1 || len(rb.res.TimedOutSids) != 0 || len(rb.res.MissingEdges) != 0 {
		t.Fatalf("the retry: %v, want one ack from %s", rb.res, c.sid)
	}
	ack := rb.res.Acks[0]
	if ack.Sid != c.sid || ack.EdgeId != r.edge.id {
		t.Errorf("the retry's ack is from %s on %s, want %s on %s", ack.Sid, ack.EdgeId, c.sid, r.edge.id)
	}
	if ack.ArgsJson != `[{"ok":true}]` {
		t.Errorf("the retry's ack args %s, want [{\"ok\":true}] (not the late ack to the killed control)", ack.ArgsJson)
	}
	t.Logf("the retry on the surviving control: %v after it began", rb.at.Sub(killedAt.Add(took)).Round(time.Millisecond))

	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	ls, err := r.b.api.ListSockets(ctx, &sbv1.ListSocketsRequest{})
	if err != nil {
		t.Fatalf("ListSockets on the surviving control: %v", err)
	}
	if len(ls.Sockets) != 1 || ls.Sockets[0].Sid != c.sid || len(ls.MissingEdges) != 0 {
		t.Errorf("ListSockets on the surviving control: %v, want %s alone", ls, c.sid)
	}
	if c.lost() {
		t.Errorf("the client was disconnected")
	}
}

// work is one client event ("work", {n}) as a Subscribe stream received it.
type work struct {
	n  int
	at time.Time
}

// workStream opens a Subscribe stream of ("work") client events on api,
// in queue group group (empty: none), waits until it is live and feeds
// what it receives until the stream ends or the test does.
func workStream(t *testing.T, api sbv1.ControlClient, group string) *testfeed.Feed[work] {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	st, err := api.Subscribe(ctx, &sbv1.SubscribeRequest{
		Namespaces: []string{"/"},
		Events:     []string{"work"},
		Kinds:      []sbv1.EventKind{sbv1.EventKind_EVENT_KIND_CLIENT_EVENT},
		QueueGroup: group,
	})
	if err == nil {
		_, err = st.Header() // the stream is live
	}
	if err != nil {
		cancel()
		t.Fatalf("Subscribe: %v", err)
	}
	feed := testfeed.New[work](waitTimeout)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			r, err := st.Recv()
			if err != nil {
				feed.End(err)
				return
			}
			e := r.GetClientEvent()
			var args []struct {
				N *int `json:"n"`
			}
			if e == nil || json.Unmarshal([]byte(e.ArgsJson), &args) != nil || len(args) != 1 || args[0].N == nil {
				feed.End(fmt.Errorf("unexpected response %v", r))
				return
			}
			feed.Add(work{n: *args[0].N, at: time.Now()})
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return feed
}

// producer is a client sending ("work", {n}) every period, n from 0.
type producer struct {
	mu    sync.Mutex
	sent  []time.Time // guarded by mu; index: n
	err   error       // guarded by mu; the write that failed
	stopF func()
}

func startProducer(t *testing.T, c *wsClient, period time.Duration) *producer {
	p := &producer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(period)
		defer tick.Stop()
		for n := 0; ; n++ {
			at := time.Now()
			err := c.write(fmt.Sprintf(`42["work",{"n":%d}]`, n))
			p.mu.Lock()
			if err != nil {
				p.err = err
				p.mu.Unlock()
				return
			}
			p.sent = append(p.sent, at)
			p.mu.Unlock()
			select {
			case <-tick.C:
			case <-ctx.Done():
				return
			}
		}
	}()
	var once sync.Once
	p.stopF = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(p.stopF)
	return p
}

func (p *producer) stop() { p.stopF() }

func (p *producer) sentAt() ([]time.Time, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.sent), p.err
}

const (
	// workPeriod is how often the client sends a "work" event: 200 a
	// second.
	workPeriod = 5 * time.Millisecond
	// groupMargin: an event sent up to this long before the kill may have
	// been given to the killed control's share and died with it.
	groupMargin = time.Second
	// afterSettle is how long the client goes on sending once NATS has
	// dropped the killed control's connection.
	afterSettle = 1500 * time.Millisecond
)

// TestControlKilledQueueGroup: two Subscribe streams in queue group
// "workers" on each of two control replicas, and one stream without a
// group on replica B (the witness), while a client sends 200 events a
// second. Replica A is killed with SIGKILL. Asserted:
//
//   - before the kill, both replicas' streams get a share of the events;
//   - A's streams end with UNAVAILABLE within failFast;
//   - once NATS has dropped A's connection, B's group streams get every
//     event (each of them some: they split the group's share), and the
//     witness every event throughout, once each and in order;
//   - no event reaches the group twice (one stream gets each event,
//     across control instances);
//   - the group misses no event sent before groupMargin ahead of the kill
//     or after NATS dropped A: the events it lost (logged) were given to
//     A in the moment it died.
func TestControlKilledQueueGroup(t *testing.T) {
	r := startReplicas(t)
	c := dialClient(t, r.edge.addr)

	aStreams := []*testfeed.Feed[work]{workStream(t, r.a.api, "workers"), workStream(t, r.a.api, "workers")}
	bStreams := []*testfeed.Feed[work]{workStream(t, r.b.api, "workers"), workStream(t, r.b.api, "workers")}
	witness := workStream(t, r.b.api, "")
	group := slices.Concat(aStreams, bStreams)

	prod := startProducer(t, c, workPeriod)
	witness.WaitN(t, "100 events at the witness", 100, func(work) bool { return true })
	share := func(streams []*testfeed.Feed[work], after time.Time) int {
		n := 0
		for _, s := range streams {
			n += len(s.Matching(func(w work) bool { return w.at.After(after) }))
		}
		return n
	}
	eventually(t, "both replicas' group streams to get events", waitTimeout, func() bool {
		return share(aStreams, time.Time{}) > 0 && share(bStreams, time.Time{}) > 0
	})

	killedAt := time.Now()
	r.a.Kill(t)
	for i, s := range aStreams {
		err := s.Ended(t, fmt.Sprintf("stream %d on the killed control to end", i))
		if status.Code(err) != codes.Unavailable {
			t.Errorf("stream %d on the killed control ended with %v, want UNAVAILABLE", i, err)
		}
		if took := time.Since(killedAt); took > failFast {
			t.Errorf("stream %d on the killed control ended %v after SIGKILL, want within %v", i, took.Round(time.Millisecond), failFast)
		}
	}
	eventually(t, "NATS to drop the killed control's connection", waitTimeout, func() bool {
		return r.nats.clients(t, controlConnName) == 1
	})
	settledAt := time.Now()
	eventually(t, "the client to go on sending", afterSettle+waitTimeout, func() bool {
		sent, err := prod.sentAt()
		return err != nil || (len(sent) > 0 && sent[len(sent)-1].After(settledAt.Add(afterSettle)))
	})
	prod.stop()
	sent, err := prod.sentAt()
	if err != nil {
		t.Fatalf("the client's send: %v", err)
	}
	last := len(sent) - 1
	isLast := func(w work) bool { return w.n == last }
	witness.Wait(t, fmt.Sprintf("event %d at the witness", last), isLast)
	eventually(t, fmt.Sprintf("event %d at a group stream of the surviving control", last), waitTimeout, func() bool {
		return slices.ContainsFunc(bStreams, func(s *testfeed.Feed[work]) bool { return len(s.Matching(isLast)) > 0 })
	})

	// The witness: everything, once, in order.
	ws := witness.All()
	for i, w := range ws {
		if w.n != i {
			t.Fatalf("the witness's event %d is n=%d, want every event once and in order", i, w.n)
		}
	}
	if len(ws) != len(sent) {
		t.Errorf("the witness got %d events, want the %d sent", len(ws), len(sent))
	}

	// The group: each event once at most; all but those A held as it died.
	got := make([]int, len(sent))
	for _, s := range group {
		for _, w := range s.All() {
			got[w.n]++
		}
	}
	var lost []int
	for n, k := range got {
		if k > 1 {
			t.Errorf("event %d reached the queue group %d times", n, k)
		}
		if k > 0 {
			continue
		}
		lost = append(lost, n)
		if sent[n].Before(killedAt.Add(-groupMargin)) || sent[n].After(settledAt) {
			t.Errorf("event %d, sent %v after the kill, reached no group stream", n, sent[n].Sub(killedAt).Round(time.Millisecond))
		}
	}
	afterKill, bAfter := 0, 0
	inB := map[int]bool{}
	for _, s := range bStreams {
		for _, w := range s.All() {
			inB[w.n] = true
		}
	}
	for n, at := range sent {
		if at.After(settledAt) {
			afterKill++
			if inB[n] {
				bAfter++
			}
		}
	}
	for i, s := range bStreams {
		if k := share([]*testfeed.Feed[work]{s}, settledAt); k == 0 {
			t.Errorf("group stream %d on the surviving control got none of the %d events after the kill", i, afterKill)
		}
	}
	t.Logf("%d events sent; before the kill the group streams on A got %d, on B %d; after it, B's %d of the %d sent once NATS dropped A (%v after SIGKILL); %d lost %s",
		len(sent), share(aStreams, time.Time{}), share(bStreams, time.Time{})-share(bStreams, killedAt),
		bAfter, afterKill, settledAt.Sub(killedAt).Round(time.Millisecond), len(lost), span(lost))
	if c.lost() {
		t.Errorf("the client was disconnected")
	}
}
