package control

// Edges lost: an edge whose heartbeats stop without its stopping heartbeat
// (killed, cut off from NATS) is reported to the Subscribe streams that ask
// for EVENT_KIND_EDGE_LOST, once per stream however many control instances
// run.
//
// No instance is in charge: every instance detects the loss from the
// heartbeats it tracks (registry.expire, swept every sweepEvery) and
// publishes an EdgeLost on the bus's edge-lost subject. Every instance
// always holds a subscription to that subject and takes the copies in
// order on its hub goroutine, which delivers the first copy of each loss to
// its streams and drops the others (lossMemory). So a loss is reported as
// long as one instance is up, and a stream gets it once whichever instance
// it is on.

import (
	"time"

	"google.golang.org/protobuf/proto"

	busv1 "github.com/switchboard-rt/switchboard/gen/switchboard/bus/v1"
	sbv1 "github.com/switchboard-rt/switchboard/gen/switchboard/v1"
	"github.com/switchboard-rt/switchboard/pkg/bus"
)

// sweepEvery is how often control looks for edges whose lease passed: a
// loss is reported within this of three missed heartbeats.
const sweepEvery = 100 * time.Millisecond

// sweep publishes an EdgeLost for each edge whose lease passed, until quit.
func (s *Server) sweep(quit <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
	for {
		select {
		case <-quit:
			return
		case <-t.C:
			for _, hb := range s.reg.expire() {
				s.publishLost(hb, "no heartbeat within its lease")
			}
		}
	}
}

// publishLost publishes the loss of the edge instance hb describes.
func (s *Server) publishLost(hb *busv1.EdgeHeartbeat, why string) {
	lost := edgeLost(hb)
	s.log.Warn("control: edge lost", "edge", lost.EdgeId, "why", why, "sockets", lost.Sockets, "connections", lost.Connections,
		"last_heartbeat", lost.LastHeartbeat.AsTime())
	if err := bus.Publish(s.nc, s.subj.EdgeLost(), lost); err != nil {
		// Another instance reports it, if one runs.
		s.log.Warn("control: publish an edge lost", "edge", lost.EdgeId, "err", err)
	}
}

func edgeLost(hb *busv1.EdgeHeartbeat) *sbv1.EdgeLost {
	return &sbv1.EdgeLost{
		EdgeId:            hb.EdgeId,
		Sockets:           proto.Uint32(hb.Sockets),
		Connections:       proto.Uint32(hb.Connections),
		LastHeartbeat:     hb.SentAt,
		StartedAt:         hb.StartedAt,
		HeartbeatInterval: hb.Interval,
	}
}

// lossMemory remembers the losses delivered, to drop the copies of each
// that the other instances publish. Owned by hub.run.
//
// A loss is of one edge instance (edge id and start time). Copies of one
// loss carry the same last heartbeat, or an earlier one from an instance
// that missed the last heartbeats (it lost NATS meanwhile, and reports the
// edge once its fresh lease from the reconnect passes: later than the
// others). A new loss of the same instance (it was cut off, came back, and
// was cut off again) comes after at least a lease of heartbeats, so its last
// heartbeat is at least a lease after the first's. Hence: a copy is new if
// its last heartbeat is a lease or more after the latest one delivered for
// its instance. Losses are remembered for lossWindow, at most
// maxLossMemory of them (the oldest go first).
type lossMemory struct {
	now    func() time.Time
	byEdge map[lossKey]lossSeen
}

type lossKey struct {
	edge    string
	started int64 // unix nanos
}

type lossSeen struct {
	last time.Time // the latest last heartbeat delivered or dropped
	at   time.Time // when it was delivered
}

const (
	lossWindow    = 10 * time.Minute
	maxLossMemory = 4096
)

func newLossMemory() *lossMemory {
	return &lossMemory{now: time.Now, byEdge: make(map[lossKey]lossSeen)}
}

// first reports whether lost is the first copy of its loss.
func (lm *lossMemory) first(lost *sbv1.EdgeLost) bool {
	now := lm.now()
	for k, v := range lm.byEdge {
		if now.Sub(v.at) > lossWindow {
			delete(lm.byEdge, k)
		}
	}
	k := lossKey{lost.EdgeId, lost.StartedAt.AsTime().UnixNano()}
	last := lost.LastHeartbeat.AsTime()
	lease := 3 * lost.HeartbeatInterval.AsDuration()
	if lease <= 0 {
		lease = 6 * time.Second
	}
	if seen, ok := lm.byEdge[k]; ok && last.Before(seen.last.Add(lease)) {
		if last.After(seen.last) {
			seen.last = last
			lm.byEdge[k] = seen
		}
		return false
	}
	if len(lm.byEdge) >= maxLossMemory {
		var oldest lossKey
		var at time.Time
		for k, v := range lm.byEdge {
			if at.IsZero() || v.at.Before(at) {
				oldest, at = k, v.at
			}
		}
		delete(lm.byEdge, oldest)
	}
	lm.byEdge[k] = lossSeen{last: last, at: now}
	return true
}

// decodeLost decodes an EdgeLost from the bus; nil if it does not decode
// or names no edge.
func decodeLost(b []byte) *sbv1.EdgeLost {
	var lost sbv1.EdgeLost
	if proto.Unmarshal(b, &lost) != nil || lost.EdgeId == "" {
		return nil
	}
	return &lost
}
