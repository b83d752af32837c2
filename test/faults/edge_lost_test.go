package faults

import (
	"context"
	"testing"
	"time"

	sbv1 "github.com/switchboard-rt/switchboard/gen/switchboard/v1"
	"github.com/switchboard-rt/switchboard/internal/testfeed"
)

// lostStream opens a Subscribe stream of EdgeLost events on api, waits
// until it is live and feeds what it receives until it ends or the test
// does.
func lostStream(t *testing.T, api sbv1.ControlClient) *testfeed.Feed[*sbv1.EdgeLost] {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	st, err := api.Subscribe(ctx, &sbv1.SubscribeRequest{Kinds: []sbv1.EventKind{sbv1.EventKind_EVENT_KIND_EDGE_LOST}})
	if err == nil {
		_, err = st.Header()
	}
	if err != nil {
		cancel()
		t.Fatalf("Subscribe: %v", err)
	}
	feed := testfeed.New[*sbv1.EdgeLost](waitTimeout)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			r, err := st.Recv()
			if err != nil {
				feed.End(err)
				return
			}
			feed.Add(r.GetEdgeLost())
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return feed
}

// sockets returns the socket count api's ClusterInfo gives edge id, -1
// when it does not list it.
func sockets(api sbv1.ControlClient, id string) int {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	ci, err := api.ClusterInfo(ctx, &sbv1.ClusterInfoRequest{})
	if err != nil {
		return -1
	}
	for _, e := range ci.Edges {
		if e.Id == id {
			return int(e.GetSockets())
		}
	}
	return -1
}

// TestEdgeLostControlKilled: two control replicas and two edges, all
// binaries. An edge killed with SIGKILL is reported once on a stream of
// each replica; then replica A is killed with SIGKILL too, and the next
// edge killed is reported once by B alone, with the sockets it held. The
// edge left running is never reported.
func TestEdgeLostControlKilled(t *testing.T) {
	r := startReplicas(t)
	first := startEdge(t, "edgedie1", r.nats.url)
	second := startEdge(t, "edgedie2", r.nats.url)
	waitEdges(t, r.b.api, r.edge.id, first.id, second.id)
	a, b := lostStream(t, r.a.api), lostStream(t, r.b.api)
	isEdge := func(id string) func(*sbv1.EdgeLost) bool {
		return func(l *sbv1.EdgeLost) bool { return l.GetEdgeId() == id }
	}

	first.Kill(t)
	for name, s := range map[string]*testfeed.Feed[*sbv1.EdgeLost]{"A": a, "B": b} {
		s.Wait(t, name+"'s stream to get the first loss", isEdge(first.id))
	}

	dialClient(t, second.addr)
	dialClient(t, second.addr)
	eventually(t, "B to count the second edge's sockets", waitTimeout, func() bool { return sockets(r.b.api, second.id) == 2 })
	r.a.Kill(t)
	killed := time.Now()
	second.Kill(t)
	l := b.Wait(t, "B's stream to get the second loss", isEdge(second.id))
	if l.Sockets == nil || *l.Sockets != 2 || l.LastHeartbeat.AsTime().After(killed) {
		t.Errorf("EdgeLost %v, want 2 sockets, a heartbeat before the kill at %v", l, killed)
	}

	time.Sleep(3 * 3 * heartbeat) // three leases: time for any duplicate
	if got := b.Matching(func(*sbv1.EdgeLost) bool { return true }); len(got) != 2 || got[0].EdgeId != first.id || got[1].EdgeId != second.id {
		t.Errorf("B's stream got %v, want one loss of %s then one of %s", got, first.id, second.id)
	}
	if got := a.Matching(func(*sbv1.EdgeLost) bool { return true }); len(got) != 1 {
		t.Errorf("A's stream got %v before A died, want one loss", got)
	}
	waitEdges(t, r.b.api, r.edge.id)
}
