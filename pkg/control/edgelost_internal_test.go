package control

import (
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	sbv1 "github.com/switchboard-rt/switchboard/gen/switchboard/v1"
)

// TestLossMemory: of the copies the control instances publish of one
// loss, the first is delivered and the others dropped, whether they carry
// the same last heartbeat or an earlier one (an instance that missed the
// last heartbeats); a later loss of the same instance, a lease or more of
// heartbeats after, is new, and so is a loss of another instance of the
// same edge id. Losses are forgotten after lossWindow, and at most
// maxLossMemory are kept.
func TestLossMemory(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	lm := newLossMemory()
	lm.now = func() time.Time { return now }
	start := now.Add(-time.Hour)
	loss := func(edge string, started, last time.Time) *sbv1.EdgeLost {
		return &sbv1.EdgeLost{EdgeId: edge, StartedAt: timestamppb.New(started), LastHeartbeat: timestamppb.New(last),
			HeartbeatInterval: durationpb.New(time.Second)}
	}
	last := now.Add(-3 * time.Second)
	steps := []struct {
		what string
		lost *sbv1.EdgeLost
		want bool
	}{
		{"the first copy", loss("e1", start, last), true},
		{"a second copy", loss("e1", start, last), false},
		{"a copy from an instance that missed heartbeats", loss("e1", start, last.Add(-10*time.Second)), false},
		{"a copy with a later heartbeat, within a lease", loss("e1", start, last.Add(2*time.Second)), false},
		{"the instance lost again, a lease after", loss("e1", start, last.Add(5*time.Second)), true},
		{"its copy", loss("e1", start, last.Add(5*time.Second)), false},
		{"another instance of the id", loss("e1", start.Add(time.Minute), last), true},
		{"another edge", loss("e2", start, last), true},
	}
	for _, s := range steps {
		if got := lm.first(s.lost); got != s.want {
			t.Errorf("%s: first = %v, want %v", s.what, got, s.want)
		}
	}
	now = now.Add(lossWindow + time.Second)
	if !lm.first(loss("e2", start, last)) {
		t.Errorf("a copy after the window: dropped, want delivered (forgotten)")
	}
	if len(lm.byEdge) != 1 {
		t.Errorf("%d losses remembered after the window, want 1", len(lm.byEdge))
	}
	for i := range maxLossMemory + 10 {
		now = now.Add(time.Millisecond)
		lm.first(loss("e3", start.Add(time.Duration(i)), last))
	}
	if len(lm.byEdge) != maxLossMemory {
		t.Errorf("%d losses remembered, want at most %d", len(lm.byEdge), maxLossMemory)
	}
}
