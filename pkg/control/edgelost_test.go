package control_test

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	sbv1 "github.com/switchboard-rt/switchboard/gen/switchboard/v1"
	"github.com/switchboard-rt/switchboard/internal/repotest"
	"github.com/switchboard-rt/switchboard/pkg/control"
)

// edgeProc is an edge binary this test started.
type edgeProc struct {
	id     string
	cmd    *exec.Cmd
	exited chan struct{}
}

// startEdgeProc starts the edge binary with id on natsURL, heartbeating
// every heartbeat, and waits until api lists it. Cleanup kills it if it
// still runs.
func startEdgeProc(t *testing.T, api sbv1.ControlClient, natsURL, id string, heartbeat time.Duration) *edgeProc {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command(repotest.Bin(t, "edge"), "--nats-url", natsURL, "--addr", "127.0.0.1:0",
		"--heartbeat", heartbeat.String(), "--edge-id", id, "--log-level", "warn")
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start edge %s: %v", id, err)
	}
	p := &edgeProc{id: id, cmd: cmd, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			t.Logf("edge %s stderr:\n%s", id, stderr.String())
		}
	})
	eventually(t, "edge "+id+" to be listed", func() bool { return edgeInfo(api, id) != nil })
	return p
}

// signal sends sig to the edge process and waits until it exits.
func (p *edgeProc) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal edge %s: %v", p.id, err)
	}
	select {
	case <-p.exited:
	case <-time.After(waitTimeout):
		t.Fatalf("edge %s did not exit on %v", p.id, sig)
	}
}

// edgeInfo returns ClusterInfo's entry for edge id, nil if not listed.
func edgeInfo(api sbv1.ControlClient, id string) *sbv1.Edge {
	ci, err := api.ClusterInfo(context.Background(), &sbv1.ClusterInfoRequest{})
	if err != nil {
		return nil
	}
	for _, e := range ci.Edges {
		if e.Id == id {
			return e
		}
	}
	return nil
}

func isLost(r *sbv1.SubscribeResponse) bool { return r.GetEdgeLost() != nil }

// TestEdgeLost kills an edge with SIGKILL while two control replicas run:
// every stream that asks for EVENT_KIND_EDGE_LOST, on either replica, in a
// queue group or not, whatever its namespace and event filters, receives
// exactly one EdgeLost naming the edge and the sockets it held. An edge
// that stops gracefully, in-process or a binary on SIGTERM, is lost to
// nobody. With one replica down the other still reports a loss, once.
func TestEdgeLost(t *testing.T) {
	const hb = 100 * time.Millisecond
	f := startCluster(t, options{edges: 1, heartbeat: hb})
	n := f.clients()
	b := startControl(t, control.Config{NATSURL: f.ctl.NATSURL(), Logger: f.log})

	lostOnly := &sbv1.SubscribeRequest{Kinds: []sbv1.EventKind{sbv1.EventKind_EVENT_KIND_EDGE_LOST}}
	streams := map[string]*feed[*sbv1.SubscribeResponse]{
		"a: losses":  f.subscribe(lostOnly),
		"b: losses":  subscribe(t, b.api, lostOnly),
		"a: all":     f.subscribe(&sbv1.SubscribeRequest{}),
		"a: group":   f.subscribe(&sbv1.SubscribeRequest{QueueGroup: "g", Kinds: lostOnly.Kinds}),
		"b: group":   subscribe(t, b.api, &sbv1.SubscribeRequest{QueueGroup: "g", Kinds: lostOnly.Kinds}),
		"b: filters": subscribe(t, b.api, &sbv1.SubscribeRequest{Namespaces: []string{"/other"}, Events: []string{"x"}, Kinds: []sbv1.EventKind{sbv1.EventKind_EVENT_KIND_CLIENT_EVENT, sbv1.EventKind_EVENT_KIND_EDGE_LOST}}),
	}
	noLosses := subscribe(t, b.api, &sbv1.SubscribeRequest{Kinds: []sbv1.EventKind{sbv1.EventKind_EVENT_KIND_CONNECT, sbv1.EventKind_EVENT_KIND_DISCONNECT}})

	// Two edges that stop gracefully: lost to nobody.
	graceful := startEdgeProc(t, f.api, f.ctl.NATSURL(), "grace001", hb)
	graceful.signal(t, syscall.SIGTERM)
	f.edges[0].stop()
	eventually(t, "both replicas to forget the stopped edges", func() bool {
		return edgeInfo(f.api, "grace001") == nil && edgeInfo(b.api, "grace001") == nil &&
			edgeInfo(f.api, f.edges[0].ID()) == nil && edgeInfo(b.api, f.edges[0].ID()) == nil
	})

	// An edge with two sockets, killed.
	dead := startEdgeProc(t, f.api, f.ctl.NATSURL(), "dead0001", hb)
	url := "http://" + edgeInfo(f.api, dead.id).Address
	n.connect(0, dial{url: url, transports: []string{"websocket"}})
	n.connect(1, dial{url: url})
	eventually(t, "both replicas to see the dead edge's sockets", func() bool {
		ea, eb := edgeInfo(f.api, dead.id), edgeInfo(b.api, dead.id)
		return ea.GetSockets() == 2 && eb.GetSockets() == 2
	})
	info := edgeInfo(f.api, dead.id)
	killed := time.Now()
	dead.signal(t, syscall.SIGKILL)

	for name, s := range streams {
		lost := s.Wait(t, name+" to get the EdgeLost", isLost).GetEdgeLost()
		if lost.EdgeId != dead.id || lost.Sockets == nil || *lost.Sockets != 2 || lost.Connections == nil || *lost.Connections != info.GetConnections() {
			t.Errorf("%s: EdgeLost %v, want edge %s, 2 sockets, %d connections", name, lost, dead.id, info.GetConnections())
		}
		if lost.LastHeartbeat.AsTime().After(killed) || killed.Sub(lost.LastHeartbeat.AsTime()) > time.Second {
			t.Errorf("%s: last heartbeat %v, want shortly before the kill at %v", name, lost.LastHeartbeat.AsTime(), killed)
		}
		if !lost.StartedAt.AsTime().Equal(info.StartedAt.AsTime()) || lost.HeartbeatInterval.AsDuration() != hb {
			t.Errorf("%s: started %v, interval %v; want %v, %v", name, lost.StartedAt.AsTime(), lost.HeartbeatInterval.AsDuration(), info.StartedAt.AsTime(), hb)
		}
	}
	if d := time.Since(killed); d > 3*hb+time.Second {
		t.Errorf("the loss was reported %v after the kill, want about 3 heartbeats", d)
	}

	// Time for any duplicate: both replicas swept many times over.
	time.Sleep(10 * hb)
	for name, s := range streams {
		if got := s.Matching(isLost); len(got) != 1 {
			t.Errorf("%s got %d EdgeLost, want 1: %v", name, len(got), got)
		}
	}

	// One replica down: the other reports the next loss alone, once.
	b.stop()
	dead2 := startEdgeProc(t, f.api, f.ctl.NATSURL(), "dead0002", hb)
	dead2.signal(t, syscall.SIGKILL)
	streams["a: losses"].Wait(t, "the second EdgeLost", func(r *sbv1.SubscribeResponse) bool {
		return r.GetEdgeLost().GetEdgeId() == dead2.id
	})

	time.Sleep(10 * hb)
	for name, s := range streams {
		if name[0] != 'a' {
			continue // b's streams ended with b
		}
		if got := s.Matching(isLost); len(got) != 2 {
			t.Errorf("%s got %d EdgeLost, want 2 (one per loss): %v", name, len(got), got)
		}
	}
	if got := noLosses.Matching(isLost); len(got) != 0 {
		t.Errorf("a stream without EVENT_KIND_EDGE_LOST got %v", got)
	}
}

// TestEdgeRestartedSameID: an edge killed and started again under the same
// id before its lease passed is lost once, as soon as the new instance
// heartbeats; the new instance is listed.
func TestEdgeRestartedSameID(t *testing.T) {
	f := startCluster(t, options{edges: -1})
	lost := f.subscribe(&sbv1.SubscribeRequest{Kinds: []sbv1.EventKind{sbv1.EventKind_EVENT_KIND_EDGE_LOST}})
	const hb = time.Second // a 3 s lease: the restart comes first
	first := startEdgeProc(t, f.api, f.ctl.NATSURL(), "again001", hb)
	started := edgeInfo(f.api, first.id).StartedAt.AsTime()
	first.signal(t, syscall.SIGKILL)
	killed := time.Now()
	second := startEdgeProc(t, f.api, f.ctl.NATSURL(), "again001", hb)
	eventually(t, "the new instance to be listed", func() bool {
		e := edgeInfo(f.api, second.id)
		return e != nil && !e.StartedAt.AsTime().Equal(started)
	})
	l := lost.Wait(t, "the EdgeLost of the first instance", isLost).GetEdgeLost()
	if l.EdgeId != first.id || !l.StartedAt.AsTime().Equal(started) {
		t.Errorf("EdgeLost %v, want edge %s started at %v", l, first.id, started)
	}
	if d := time.Since(killed); d >= 3*hb {
		t.Errorf("the loss came after %v: from the lease, not from the restart", d)
	}
	time.Sleep(3*hb + 500*time.Millisecond) // past the first instance's lease
	if got := lost.Matching(isLost); len(got) != 1 {
		t.Errorf("got %d EdgeLost, want 1: %v", len(got), got)
	}
	if edgeInfo(f.api, second.id) == nil {
		t.Errorf("the new instance is not listed")
	}
}

// TestEdgeLostNotOnNATSOutage: NATS goes away for longer than the edges'
// lease and comes back. Control heard no heartbeat meanwhile, which says
// nothing of the edges: it reports none lost, and lists them all again.
func TestEdgeLostNotOnNATSOutage(t *testing.T) {
	ns, err := control.StartEmbeddedNATS("127.0.0.1:0")
	if err != nil {
		t.Fatalf("StartEmbeddedNATS: %v", err)
	}
	addr := strings.TrimPrefix(ns.URL(), "nats://")
	t.Cleanup(func() { ns.Shutdown() })
	const hb = 300 * time.Millisecond // a 900 ms lease: room for the reconnects
	f := startCluster(t, options{edges: 2, heartbeat: hb, natsURL: ns.URL()})
	lost := f.subscribe(&sbv1.SubscribeRequest{Kinds: []sbv1.EventKind{sbv1.EventKind_EVENT_KIND_EDGE_LOST}})

	ns.Shutdown()
	time.Sleep(4 * 3 * hb) // four leases without a heartbeat
	ns, err = control.StartEmbeddedNATS(addr)
	if err != nil {
		t.Fatalf("restart NATS on %s: %v", addr, err)
	}
	f.waitEdges(f.edgeIDs()...)
	time.Sleep(2 * 3 * hb) // two leases from the reconnect: any loss would be out
	if got := lost.Matching(isLost); len(got) != 0 {
		t.Errorf("got EdgeLost %v across a NATS outage; every edge lives", got)
	}
	f.waitEdges(f.edgeIDs()...)
}
