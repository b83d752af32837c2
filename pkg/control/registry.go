package control

import (
	"sort"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	busv1 "github.com/switchboard-rt/switchboard/gen/switchboard/bus/v1"
)

// registry is the cluster as heartbeats describe it. An edge that misses
// three heartbeat intervals (or says it is stopping) is forgotten.
type registry struct {
	now func() time.Time

	mu    sync.Mutex
	edges map[string]*edgeEntry // guarded by mu
}

type edgeEntry struct {
	hb   *busv1.EdgeHeartbeat
	seen time.Time
}

func newRegistry() *registry {
	return &registry{now: time.Now, edges: make(map[string]*edgeEntry)}
}

func (r *registry) observe(hb *busv1.EdgeHeartbeat) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if hb.Stopping {
		delete(r.edges, hb.EdgeId)
		return
	}
	r.edges[hb.EdgeId] = &edgeEntry{hb: hb, seen: r.now()}
}

// live returns the live edges' latest heartbeats and when they arrived,
// sorted by id, forgetting dead ones.
func (r *registry) live() []edgeEntry {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	out := make([]edgeEntry, 0, len(r.edges))
	for id, e := range r.edges {
		interval := e.hb.GetInterval().AsDuration()
		if interval <= 0 {
			interval = 2 * time.Second
		}
		if now.Sub(e.seen) > 3*interval {
			delete(r.edges, id)
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
