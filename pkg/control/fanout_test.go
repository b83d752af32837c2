package control_test

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	busv1 "github.com/switchboard-rt/switchboard/gen/switchboard/bus/v1"
	sbv1 "github.com/switchboard-rt/switchboard/gen/switchboard/v1"
)

// busTap counts, on a NATS connection of its own, every Broadcast control
// publishes whose packet holds a marker.
type busTap struct {
	mu    sync.Mutex
	bytes map[string]int // guarded by mu; payload bytes by marker
	msgs  map[string]int // guarded by mu; messages by marker
	seen  *feed[string]  // markers, as they arrive
}

func tapBus(t *testing.T, f *fixture, markers ...string) *busTap {
	t.Helper()
	nc, err := nats.Connect(f.ctl.NATSURL())
	if err != nil {
		t.Fatalf("connect to NATS: %v", err)
	}
	t.Cleanup(nc.Close)
	tap := &busTap{bytes: map[string]int{}, msgs: map[string]int{}, seen: newFeed[string]()}
	_, err = nc.Subscribe("sb.v1.>", func(m *nats.Msg) {
		var cmd busv1.EdgeCommand
		if proto.Unmarshal(m.Data, &cmd) != nil || cmd.GetBroadcast() == nil {
			return
		}
		for _, mk := range markers {
			if bytes.Contains(cmd.GetBroadcast().Packet, []byte(mk)) {
				tap.mu.Lock()
				tap.bytes[mk] += len(m.Data)
				tap.msgs[mk]++
				tap.mu.Unlock()
				tap.seen.Add(mk)
			}
		}
	})
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatalf("flush: %v", err)
	}
	return tap
}

// count returns what the tap saw of marker, once it saw after (a marker
// control published later: NATS keeps one publisher's order, so every copy
// of marker arrived before it).
func (tap *busTap) count(t *testing.T, marker, after string) (msgs, bytes int) {
	t.Helper()
	tap.seen.Wait(t, after, func(s string) bool { return s == after })
	tap.mu.Lock()
	defer tap.mu.Unlock()
	return tap.msgs[marker], tap.bytes[marker]
}

// TestEmitFanoutBytes: an emit to many rooms, or to sids on many edges,
// costs about one packet on the bus, not one per room or edge (control
// published the whole request once per room subject: 10,000 rooms of a
// ~120 KB emit took 8 s and pushed an edge to 1.24 GB), and each selected
// socket still receives it exactly once.
func TestEmitFanoutBytes(t *testing.T) {
	f := startCluster(t, options{edges: 2})
	n := f.clients()
	c0 := n.connect(0, dial{edge: 0, auth: map[string]any{"rooms": []any{"r0", "r1", "r999"}}})
	c1 := n.connect(1, dial{edge: 1, auth: map[string]any{"rooms": []any{"r500"}}, transports: []string{"websocket"}})
	c2 := n.connect(2, dial{edge: 0, auth: map[string]any{"rooms": []any{"r2", "x"}}})
	n.connect(3, dial{edge: 1, auth: map[string]any{"rooms": []any{"other"}}})
	tap := tapBus(t, f, "big-rooms", "big-sids", "after-rooms", "after-sids", "plain-sids", "after-plain")
	arg := strings.Repeat("y", 10_000)
	const rooms = 1000
	packet := len(arg) + 64 // the Socket.IO packet alone

	f.emit(&sbv1.EmitRequest{Target: &sbv1.Target{Rooms: repeat("r", rooms), ExceptRooms: []string{"x"}}, Event: "big-rooms", Args: values(t, arg)})
	f.emit(&sbv1.EmitRequest{Event: "after-rooms"})
	msgs, total := tap.count(t, "big-rooms", "after-rooms")
	t.Logf("a %d-byte emit to %d rooms: %d messages, %d bytes on the bus", packet, rooms, msgs, total)
	// One packet plus the target (1,000 short room names), not 1,000 packets.
	if limit := 2*packet + 16<<10; total > limit {
		t.Errorf("a %d-byte emit to %d rooms published %d bytes in %d messages, want at most %d", packet, rooms, total, msgs, limit)
	}
	f.received("big-rooms", `["`+arg+`"]`, c0, c1)

	// Sids on 50 edges: 2 real, 48 that do not exist. With report, the
	// edges answer what they delivered.
	targets := append(fakeSIDs(48), c0.sid, c1.sid, c2.sid)
	resp := f.emit(&sbv1.EmitRequest{Target: &sbv1.Target{Sids: targets}, Event: "big-sids", Args: values(t, arg), Report: true})
	f.emit(&sbv1.EmitRequest{Event: "after-sids"})
	msgs, total = tap.count(t, "big-sids", "after-sids")
	t.Logf("a %d-byte emit to sids of 50 edges: %d messages, %d bytes on the bus", packet, msgs, total)
	if limit := 2*packet + 4<<10; total > limit {
		t.Errorf("a %d-byte emit to sids of 50 edges published %d bytes in %d messages, want at most %d", packet, total, msgs, limit)
	}
	delivered := map[string]uint32{}
	for _, d := range resp.Deliveries {
		delivered[d.EdgeId] = d.GetSockets()
	}
	if resp.Sockets == nil || *resp.Sockets != 3 || len(delivered) != 2 || delivered[c0.edgeID] != 2 || delivered[c1.edgeID] != 1 {
		t.Errorf("EmitResponse = %v; want 3 sockets: 2 on edge 0, 1 on edge 1", resp)
	}
	f.received("big-sids", `["`+arg+`"]`, c0, c1, c2)

	// The same without report, published for the edges alone.
	f.emit(&sbv1.EmitRequest{Target: &sbv1.Target{Sids: targets}, Event: "plain-sids", Args: values(t, arg)})
	f.emit(&sbv1.EmitRequest{Event: "after-plain"})
	msgs, total = tap.count(t, "plain-sids", "after-plain")
	t.Logf("a %d-byte emit without report to sids of 50 edges: %d messages, %d bytes on the bus", packet, msgs, total)
	if limit := 2*packet + 4<<10; total > limit {
		t.Errorf("a %d-byte emit without report to sids of 50 edges published %d bytes in %d messages, want at most %d", packet, total, msgs, limit)
	}
	f.received("plain-sids", `["`+arg+`"]`, c0, c1, c2)

	// The same through scatter-gather RPCs: every socket once.
	ack, err := f.api.EmitWithAck(context.Background(), &sbv1.EmitWithAckRequest{Target: &sbv1.Target{Sids: targets}, Event: "ack-sids", Timeout: durationpb.New(time.Second)})
	if err != nil || len(ack.Acks) != 3 {
		t.Fatalf("EmitWithAck to sids of 50 edges = %v, %v; want 3 acks", ack, err)
	}
	f.received("ack-sids", "", c0, c1, c2)
	// ListSockets takes one sid: each listed, fake ones listing nothing.
	var got []string
	for _, sid := range targets {
		got = append(got, listedSIDs(f.listSockets(&sbv1.ListSocketsRequest{Sid: sid}))...)
	}
	slices.Sort(got)
	if strings.Join(got, ",") != strings.Join(sids(c0, c1, c2), ",") {
		t.Errorf("ListSockets of each sid on 50 edges = %v, want %v", got, sids(c0, c1, c2))
	}
}
