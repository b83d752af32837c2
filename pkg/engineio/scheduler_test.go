package engineio

import (
	"slices"
	"sync"
	"testing"
	"time"
)

const schedWait = 2 * time.Second // how long a test waits for a callback

func newTestScheduler(t *testing.T) *Scheduler {
	t.Helper()
	s := NewScheduler()
	t.Cleanup(s.Stop)
	return s
}

// recv returns the next value of ch, or fails the test after schedWait.
func recv[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(schedWait):
		t.Fatal("timed out waiting for a callback")
		panic("unreachable")
	}
}

func TestSchedulerOrder(t *testing.T) {
	tests := []struct {
		name   string
		delays map[string]time.Duration
		want   []string
	}{
		{
			name:   "by deadline, not by scheduling order",
			delays: map[string]time.Duration{"c": 30 * time.Millisecond, "a": 0, "b": 15 * time.Millisecond, "d": 45 * time.Millisecond},
			want:   []string{"a", "b", "c", "d"},
		},
		{
			name:   "past deadlines run at once",
			delays: map[string]time.Duration{"late": -time.Second, "later": 10 * time.Millisecond},
			want:   []string{"late", "later"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestScheduler(t)
			ran := make(chan string, len(tt.delays))
			timers := make([]Timer, len(tt.delays))
			i := 0
			for name, d := range tt.delays {
				s.Schedule(&timers[i], d, func() { ran <- name })
				i++
			}
			var got []string
			for range tt.want {
				got = append(got, recv(t, ran))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("callbacks ran in order %v, want %v", got, tt.want)
			}
			if n := s.Len(); n != 0 {
				t.Errorf("Len = %d after every timer ran, want 0", n)
			}
		})
	}
}

func TestSchedulerReschedule(t *testing.T) {
	s := newTestScheduler(t)
	ran := make(chan string, 8)
	var a, b Timer

	// Earlier: a timer far in the future is brought forward, and the
	// scheduler goroutine, asleep until then, must wake for it.
	s.Schedule(&a, time.Hour, func() { ran <- "a-old" })
	s.Schedule(&a, 10*time.Millisecond, func() { ran <- "a" })
	if n := s.Len(); n != 1 {
		t.Fatalf("Len = %d after rescheduling one timer, want 1", n)
	}
	if got := recv(t, ran); got != "a" {
		t.Fatalf("got %q, want the new callback of a", got)
	}

	// Later: a is pushed behind b.
	s.Schedule(&a, 10*time.Millisecond, func() { ran <- "a" })
	s.Schedule(&b, 30*time.Millisecond, func() { ran <- "b" })
	s.Schedule(&a, 60*time.Millisecond, func() { ran <- "a" })
	got := []string{recv(t, ran), recv(t, ran)}
	if want := []string{"b", "a"}; !slices.Equal(got, want) {
		t.Errorf("order %v, want %v", got, want)
	}
	select {
	case v := <-ran:
		t.Errorf("extra callback %q: a rescheduled timer ran twice", v)
	default:
	}
}

func TestSchedulerCancel(t *testing.T) {
	s := newTestScheduler(t)
	ran := make(chan string, 8)
	var a, b, c, zero Timer

	if s.Cancel(&a) {
		t.Error("Cancel of a timer never scheduled reported true")
	}
	s.Schedule(&a, 10*time.Millisecond, func() { ran <- "a" })
	s.Schedule(&b, 20*time.Millisecond, func() { ran <- "b" })
	s.Schedule(&c, 40*time.Millisecond, func() { ran <- "c" })
	// A zero Timer has index 0, where another timer sits: cancelling it must
	// not remove that one.
	if s.Cancel(&zero) {
		t.Error("Cancel of a zero Timer reported true")
	}
	if !s.Cancel(&a) {
		t.Error("Cancel of a pending timer reported false")
	}
	if s.Cancel(&a) {
		t.Error("second Cancel reported true")
	}
	if n := s.Len(); n != 2 {
		t.Errorf("Len = %d, want 2", n)
	}
	// a would have run before b and c.
	got := []string{recv(t, ran), recv(t, ran)}
	if want := []string{"b", "c"}; !slices.Equal(got, want) {
		t.Errorf("callbacks %v, want %v", got, want)
	}
	if s.Cancel(&b) {
		t.Error("Cancel of a timer that ran reported true")
	}

	// A cancelled timer can be scheduled again.
	s.Schedule(&a, 0, func() { ran <- "a again" })
	if got := recv(t, ran); got != "a again" {
		t.Errorf("got %q, want %q", got, "a again")
	}
}

// Callbacks may schedule, as a session's ping callback arms its pong deadline.
func TestSchedulerCallbackSchedules(t *testing.T) {
	s := newTestScheduler(t)
	var tm Timer
	done := make(chan int)
	n := 0
	var tick func()
	tick = func() {
		n++
		if n == 5 {
			done <- n
			return
		}
		s.Schedule(&tm, time.Millisecond, tick)
	}
	s.Schedule(&tm, time.Millisecond, tick)
	if got := recv(t, done); got != 5 {
		t.Errorf("ran %d times, want 5", got)
	}
}

func TestSchedulerMany(t *testing.T) {
	s := newTestScheduler(t)
	const n = 2000
	timers := make([]Timer, n)
	var mu sync.Mutex
	counts := make([]int, n)
	all := make(chan struct{})
	left := n
	var wg sync.WaitGroup
	for g := range 4 { // concurrent Schedule and Cancel calls
		wg.Go(func() {
			for i := g; i < n; i += 4 {
				s.Schedule(&timers[i], time.Duration(i%20)*time.Millisecond, func() {
					mu.Lock()
					counts[i]++
					left--
					if left == 0 {
						close(all)
					}
					mu.Unlock()
				})
			}
		})
	}
	wg.Wait()
	recv(t, all)
	for i, c := range counts {
		if c != 1 {
			t.Fatalf("timer %d ran %d times", i, c)
		}
	}
}

func TestSchedulerStop(t *testing.T) {
	s := NewScheduler()
	ran := make(chan struct{}, 1)
	var tm Timer
	s.Schedule(&tm, 20*time.Millisecond, func() { ran <- struct{}{} })
	s.Stop()
	// Stop waited for the scheduler goroutine to end: nothing can run now.
	select {
	case <-ran:
		t.Error("a pending callback ran although Stop came first")
	default:
	}
	s.Stop() // idempotent
	if !s.Cancel(&tm) {
		t.Error("the timer pending at Stop cannot be cancelled")
	}
}
