package control

import (
	"sort"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	busv1 "github.com/switchboard-rt/switchboard/gen/switchboard/bus/v1"
)

// registry is the cluster as heartbeats describe it. An edge that misses
// three heartbeat intervals (its lease) is lost: expire removes it and
// returns it, for an EdgeLost. An edge that says it is stopping is
// forgotten at once, and is not lost.
//
// While control has no NATS connection it receives no heartbeat, which says
// nothing about the edges: pause stops expire from losing any, and resume
// gives every edge a fresh lease from the reconnect.
type registry struct {
	now func() time.Time

	mu     sync.Mutex
	edges  map[string]*edgeEntry // guarded by mu
	paused bool                  // guarded by mu; control's NATS connection is down
}

type edgeEntry struct {
	hb   *busv1.EdgeHeartbeat
	seen time.Time
}

// lease is how long e lives without a heartbeat.
func (e *edgeEntry) lease() time.Duration { return 3 * heartbeatInterval(e.hb) }

// heartbeatInterval is hb's interval, 2 s when it says none.
func heartbeatInterval(hb *busv1.EdgeHeartbeat) time.Duration {
	if d := hb.GetInterval().AsDuration(); d > 0 {
		return d
	}
	return 2 * time.Second
}

func newRegistry() *registry {
	return &registry{now: time.Now, edges: make(map[string]*edgeEntry)}
}

// observe records hb. It returns the heartbeat of another instance of the
// same edge id (started at another time) that hb replaces without that
// one having said it stopped: an edge restarted under its id, whose former
// instance is lost.
func (r *registry) observe(hb *busv1.EdgeHeartbeat) (replaced *busv1.EdgeHeartbeat) {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.edges[hb.EdgeId]
	if old != nil && !proto.Equal(old.hb.GetStartedAt(), hb.GetStartedAt()) {
		replaced = old.hb
	}
	if hb.Stopping {
		if replaced == nil {
			delete(r.edges, hb.EdgeId)
			return nil
		}
		// A stopping heartbeat of another instance than the one known: the
		// known one is lost all the same.
		delete(r.edges, hb.EdgeId)
		return replaced
	}
	r.edges[hb.EdgeId] = &edgeEntry{hb: hb, seen: r.now()}
	return replaced
}

// expire removes and returns the edges whose lease has passed, by id;
// none while paused.
func (r *registry) expire() []*busv1.EdgeHeartbeat {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.paused {
		return nil
	}
	now := r.now()
	var out []*busv1.EdgeHeartbeat
	for id, e := range r.edges {
		if now.Sub(e.seen) > e.lease() {
			delete(r.edges, id)
			out = append(out, e.hb)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].EdgeId < out[j].EdgeId })
	return out
}

// pause stops expire (control lost its NATS connection).
func (r *registry) pause() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.paused = true
}

// resume restarts expire with a lease for every edge from now (control's
// NATS connection is back).
func (r *registry) resume() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.paused = false
	now := r.now()
	for _, e := range r.edges {
		e.seen = now
	}
}

// live returns the live edges' latest heartbeats and when they arrived,
// sorted by id: those whose lease has not passed (expire removes the
// others).
func (r *registry) live() []edgeEntry {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	out := make([]edgeEntry, 0, len(r.edges))
	for _, e := range r.edges {
		if now.Sub(e.seen) > e.lease() {
			continue
		}
		out = append(out, edgeEntry{hb: proto.Clone(e.hb).(*busv1.EdgeHeartbeat), seen: e.seen})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].hb.EdgeId < out[j].hb.EdgeId })
	return out
}

func (r *registry) liveIDs() []string {
	edges := r.live()
	ids := make([]string, len(edges))
	for i, e := range edges {
		ids[i] = e.hb.EdgeId
	}
	return ids
}
