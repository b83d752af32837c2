package harness

import (
	"testing"
	"time"
)

// Two load processes each saw part of every message: the merge keeps each
// message's earliest and latest arrival and adds its frames, and the phase
// summary counts a message as complete only once all n sockets got it.
func TestPerMessageSpread(t *testing.T) {
	a := map[int64][3]int64{
		100: {1000, 5000, 2}, // µs after the stamp: first, last, frames
		200: {2000, 3000, 2},
	}
	b := map[int64][3]int64{
		100: {800, 9000, 2},
		300: {400, 400, 1},
	}
	m := mergeSpread(mergeSpread(nil, a), b)
	if got, want := m[100], [3]int64{800, 9000, 4}; got != want {
		t.Fatalf("message 100: %v, want %v", got, want)
	}
	if got, want := m[200], a[200]; got != want {
		t.Fatalf("message 200: %v, want %v", got, want)
	}
	if len(m) != 3 {
		t.Fatalf("%d messages, want 3", len(m))
	}

	var ph Phase
	ph.fill(3, 4, report{Msgs: 7, Spread: m}, time.Second)
	s := ph.PerMessage
	if s == nil || s.Messages != 3 || s.Complete != 1 {
		t.Fatalf("per message %+v, want 3 messages, 1 complete", s)
	}
	if s.First.N != 3 || s.First.Max < 1.9 || s.First.Max > 2.1 {
		t.Errorf("first socket %+v: want 3 messages, max 2 ms", s.First)
	}
	if s.Last.N != 1 || s.Last.Max < 8.8 || s.Last.Max > 9.2 {
		t.Errorf("last socket %+v: want only message 100, 9 ms", s.Last)
	}
}
