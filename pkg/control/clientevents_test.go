package control_test

// Client events and their acks as a service sees them (issue 13, "Client
// events that never lie"): an ack nobody can answer is never faked, and a
// queue group shares the events whichever way its members subscribe.

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	busv1 "github.com/switchboard-rt/switchboard/gen/switchboard/bus/v1"
	sbv1 "github.com/switchboard-rt/switchboard/gen/switchboard/v1"
	"github.com/switchboard-rt/switchboard/pkg/bus"
	"github.com/switchboard-rt/switchboard/pkg/control"
)

// quiet is how long a test waits to see that something does not arrive.
const quiet = 1500 * time.Millisecond

// edgeCounters returns the counters ClusterInfo shows for edge id.
func edgeCounters(t *testing.T, api sbv1.ControlClient, id string) *sbv1.EdgeCounters {
	t.Helper()
	ci, err := api.ClusterInfo(context.Background(), &sbv1.ClusterInfoRequest{})
	if err != nil {
		t.Fatalf("ClusterInfo: %v", err)
	}
	for _, e := range ci.Edges {
		if e.Id == id {
			return e.Counters
		}
	}
	t.Fatalf("ClusterInfo does not list edge %s", id)
	return nil
}

// TestAckNoResponder: a client emits with an ack to an event that nothing
// subscribes to. NATS answers the edge's request with "no responders"; the
// client must get no ack (its own timeout fires), the edge forgets the
// pending ack, counts it (acks_no_responder in ClusterInfo) and sends
// nothing else. An event that only a Subscribe stream receives is not a
// no-responder: the stream holds the ack token, and until it calls Ack
// nothing reaches the client.
func TestAckNoResponder(t *testing.T) {
	f := startCluster(t, options{edges: 1})
	n := f.clients()
	e := f.edges[0]
	// Streams that do not take the event: another event's, and one of
	// connects only. Neither makes the event have a responder.
	f.subscribe(&sbv1.SubscribeRequest{Events: []string{"other"}})
	f.subscribe(&sbv1.SubscribeRequest{Events: []string{"ask"}, Kinds: []sbv1.EventKind{sbv1.EventKind_EVENT_KIND_CONNECT}})
	c0 := n.connect(0, dial{edge: 0})

	noAck := func(id int) {
		t.Helper()
		time.Sleep(quiet) // nothing to wait for: what is checked is that nothing came
		for _, l := range n.lines.Matching(func(l line) bool { return l.Ev == "ack" && l.ID == id }) {
			t.Errorf("client 0 got ack %d with %s; nothing answered the event", id, l.Args)
		}
	}

	n.emit(c0.c, "ask", 1, "q")
	noAck(1)
	eventually(t, "the edge to count the no-responder", func() bool { return e.ClusterStats().AcksNoResponder == 1 })
	if st := e.ClusterStats(); st.AcksPending != 0 {
		t.Errorf("the edge holds %d pending acks, want 0: the no-responder releases it", st.AcksPending)
	}
	eventually(t, "ClusterInfo to show acks_no_responder 1", func() bool {
		return edgeCounters(t, f.api, e.ID()).GetAcksNoResponder() == 1
	})

	// Only a Subscribe stream takes the event: it gets an ack token, and
	// the client nothing until the stream answers.
	ctx, cancel := context.WithCancel(context.Background())
	st, err := f.api.Subscribe(ctx, &sbv1.SubscribeRequest{Events: []string{"ask"}})
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	if _, err := st.Header(); err != nil {
		t.Fatalf("Subscribe headers: %v", err)
	}
	n.emit(c0.c, "ask", 2, "q")
	r, err := st.Recv()
	if err != nil {
		t.Fatalf("Subscribe Recv: %v", err)
	}
	if r.GetClientEvent().GetEvent() != "ask" || r.GetClientEvent().GetAckToken() == "" {
		t.Fatalf("the stream got %v, want the ask with an ack token", r)
	}
	noAck(2)
	if got := e.ClusterStats(); got.AcksNoResponder != 1 || got.AcksPending != 1 {
		t.Errorf("edge stats %+v, want 1 no-responder and the stream's ack pending", got)
	}
	// The stream leaves without answering: control unsubscribes, and the
	// next ask has no responder again. The first still waits for an Ack.
	cancel()
	eventually(t, "the stream's subscription to go", func() bool {
		n.emit(c0.c, "ask", 3, "q")
		return e.ClusterStats().AcksNoResponder >= 2
	})
	noAck(3)
	if _, err := f.api.Ack(context.Background(), &sbv1.AckRequest{AckToken: r.GetClientEvent().GetAckToken(), Args: values(t, "late")}); err != nil {
		t.Fatalf("Ack of the stream's event after the stream left: %v", err)
	}
	got := n.lines.Wait(t, "client 0's ack 2", func(l line) bool { return l.Ev == "ack" && l.ID == 2 })
	jsonEqual(t, "ack 2", got.Args, `["late"]`)
}

// TestQueueGroups: each client event reaches exactly one member of a queue
// group, whether the members are services on NATS (queue subscriptions on
// the event subject) or Subscribe streams on different control replicas;
// and an ack makes the round trip client → service → client both ways.
func TestQueueGroups(t *testing.T) {
	f := startCluster(t, options{edges: 2})
	n := f.clients()
	b := startControl(t, control.Config{NATSURL: f.ctl.NATSURL(), Logger: f.log})
	eventually(t, "the second control to know the edges", func() bool {
		ci, err := b.api.ClusterInfo(context.Background(), &sbv1.ClusterInfoRequest{})
		return err == nil && len(ci.Edges) == 2
	})
	c0 := n.connect(0, dial{edge: 0})
	c1 := n.connect(1, dial{edge: 1})

	subj, err := bus.NewSubjects("")
	if err != nil {
		t.Fatal(err)
	}
	// Two services in group "svc" on NATS, each on a connection of its
	// own, for "job" and "ask-nats"; they answer the acks asked for.
	type got struct {
		member int
		args   string
	}
	natsGot := newFeed[got]()
	for i := range 2 {
		nc, err := nats.Connect(f.ctl.NATSURL())
		if err != nil {
			t.Fatalf("service %d: connect: %v", i, err)
		}
		t.Cleanup(nc.Close)
		handle := func(m *nats.Msg) {
			var ce sbv1.ClientEvent
			if err := proto.Unmarshal(m.Data, &ce); err != nil {
				t.Errorf("service %d: ClientEvent does not decode: %v", i, err)
				return
			}
			natsGot.Add(got{member: i, args: string(ce.ArgsJson)})
			if m.Reply == "" {
				return
			}
			// The ack, as a request: the edge says whether it reached the
			// client (EventAckReply).
			ack, _ := proto.Marshal(&busv1.EventAck{ArgsJson: fmt.Appendf(nil, `["svc",%d]`, i)})
			rep, err := nc.Request(m.Reply, ack, waitTimeout)
			if err != nil {
				t.Errorf("service %d: ack: %v", i, err)
				return
			}
			var ar busv1.EventAckReply
			if err := proto.Unmarshal(rep.Data, &ar); err != nil || !ar.Delivered {
				t.Errorf("service %d: ack reply %v (%v), want delivered", i, &ar, err)
			}
		}
		for _, ev := range []string{"job", "ask-nats"} {
			if _, err := nc.QueueSubscribe(subj.Event("/", ev), "svc", handle); err != nil {
				t.Fatalf("service %d: subscribe: %v", i, err)
			}
		}
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	// Two Subscribe streams in group "workers", one on each control, for
	// "job" and "ask-stream".
	streams := []*feed[*sbv1.SubscribeResponse]{
		f.subscribe(&sbv1.SubscribeRequest{QueueGroup: "workers", Events: []string{"job", "ask-stream"}}),
		subscribe(t, b.api, &sbv1.SubscribeRequest{QueueGroup: "workers", Events: []string{"job", "ask-stream"}}),
	}
	named := func(ev string) func(*sbv1.SubscribeResponse) bool {
		return func(r *sbv1.SubscribeResponse) bool { return r.GetClientEvent().GetEvent() == ev }
	}

	const jobs = 40
	for i := range jobs {
		n.emit(i%2, "job", -1, i)
	}
	isJob := func(g got) bool { return g.args != `["ask"]` }
	natsGot.WaitN(t, "the services to get every job", jobs, isJob)
	eventually(t, "the streams to get every job", func() bool {
		return len(streams[0].Matching(named("job")))+len(streams[1].Matching(named("job"))) >= jobs
	})
	// The ack's round trip leaves a duplicate job time to show up.
	n.emit(c0.c, "ask-nats", 1, "ask")
	n.lines.Wait(t, "client 0's ack over NATS", func(l line) bool { return l.Ev == "ack" && l.ID == 1 })
	seen := map[string]int{}
	per := [2]int{}
	for _, g := range natsGot.Matching(isJob) {
		seen[g.args]++
		per[g.member]++
	}
	checkShare(t, "the NATS services", jobs, seen, per)
	seen = map[string]int{}
	per = [2]int{}
	for i, s := range streams {
		for _, r := range s.Matching(named("job")) {
			seen[r.GetClientEvent().ArgsJson]++
			per[i]++
		}
	}
	checkShare(t, "the Subscribe streams", jobs, seen, per)

	// The ack over NATS: one service got the ask and answered; the client
	// got that answer, once.
	if asks := natsGot.Matching(func(g got) bool { return g.args == `["ask"]` }); len(asks) != 1 {
		t.Errorf("the ask reached %d services, want 1", len(asks))
	} else {
		ack := n.lines.Matching(func(l line) bool { return l.Ev == "ack" && l.ID == 1 })
		jsonEqual(t, "client 0's ack over NATS", ack[0].Args, fmt.Sprintf(`["svc",%d]`, asks[0].member))
	}

	// The ack over Subscribe: the worker that got it calls Ack, through the
	// other control replica for good measure.
	n.emit(c1.c, "ask-stream", 2, "ask")
	var ev *sbv1.ClientEvent
	var via sbv1.ControlClient
	eventually(t, "a worker to get the ask", func() bool {
		if m := streams[0].Matching(named("ask-stream")); len(m) > 0 {
			ev, via = m[0].GetClientEvent(), b.api
		} else if m := streams[1].Matching(named("ask-stream")); len(m) > 0 {
			ev, via = m[0].GetClientEvent(), f.api
		}
		return ev != nil
	})
	if ev.AckToken == "" {
		t.Fatalf("the worker's event %v has no ack token", ev)
	}
	if _, err := via.Ack(context.Background(), &sbv1.AckRequest{AckToken: ev.AckToken, Args: values(t, "worker")}); err != nil {
		t.Fatalf("Ack: %v", err)
	}
	ack := n.lines.Wait(t, "client 1's ack over Subscribe", func(l line) bool { return l.Ev == "ack" && l.ID == 2 })
	jsonEqual(t, "client 1's ack over Subscribe", ack.Args, `["worker"]`)
	if k := len(streams[0].Matching(named("ask-stream"))) + len(streams[1].Matching(named("ask-stream"))); k != 1 {
		t.Errorf("the ask reached %d workers, want 1", k)
	}
	if got := n.lines.Matching(func(l line) bool { return l.Ev == "ack" }); len(got) != 2 {
		t.Errorf("the clients got %d acks, want 2", len(got))
	}
}

// checkShare checks that each of jobs events reached exactly one of two
// members, and each member some.
func checkShare(t *testing.T, who string, jobs int, seen map[string]int, per [2]int) {
	t.Helper()
	for i := range jobs {
		if c := seen[fmt.Sprintf("[%d]", i)]; c != 1 {
			t.Errorf("%s: job %d arrived %d times, want once", who, i, c)
		}
	}
	if per[0]+per[1] != jobs || per[0] == 0 || per[1] == 0 {
		t.Errorf("%s: the members got %d and %d of %d jobs, want all shared, some each", who, per[0], per[1], jobs)
	}
}
