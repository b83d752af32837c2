package engineio

import (
	"container/heap"
	"sync"
	"time"
)

// Scheduler runs delayed callbacks for many sessions from one goroutine and
// one runtime timer: pings, pong deadlines, upgrade and connect timeouts. A
// Timer is a plain struct embedded in its owner, so an idle session costs no
// allocation, goroutine or runtime timer for its deadlines.
//
// Callbacks run on the scheduler goroutine and must not block; anything slow
// is handed to another goroutine by the callback itself.
type Scheduler struct {
	base time.Time

	mu     sync.Mutex
	timers timerHeap // guarded by mu

	wake     chan struct{} // capacity 1: the earliest deadline changed
	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}
}

// Timer is one pending callback of a Scheduler. The zero value is an
// unscheduled timer; it must not be copied once scheduled.
type Timer struct {
	at    time.Duration // since Scheduler.base
	index int           // position in the heap, -1 when not scheduled; guarded by Scheduler.mu
	fn    func()
}

// NewScheduler starts a scheduler; Stop ends its goroutine.
func NewScheduler() *Scheduler {
	s := &Scheduler{
		base: time.Now(),
		wake: make(chan struct{}, 1),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	go s.run()
	return s
}

// Schedule (re)arms t to call fn after d, replacing any earlier schedule of t.
func (s *Scheduler) Schedule(t *Timer, d time.Duration, fn func()) {
	at := time.Since(s.base) + d
	s.mu.Lock()
	t.fn = fn
	t.at = at
	if s.pendingLocked(t) {
		heap.Fix(&s.timers, t.index)
	} else {
		heap.Push(&s.timers, t)
	}
	first := s.timers[0] == t
	s.mu.Unlock()
	if first {
		s.poke()
	}
}

// Cancel disarms t. It reports whether t was pending.
func (s *Scheduler) Cancel(t *Timer) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.pendingLocked(t) {
		return false
	}
	heap.Remove(&s.timers, t.index)
	t.fn = nil
	return true
}

func (s *Scheduler) pendingLocked(t *Timer) bool {
	return t.index >= 0 && t.index < len(s.timers) && s.timers[t.index] == t
}

// Len is the number of pending timers.
func (s *Scheduler) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.timers)
}

// Stop ends the scheduler goroutine; pending callbacks never run.
func (s *Scheduler) Stop() {
	s.stopOnce.Do(func() { close(s.stop) })
	<-s.done
}

func (s *Scheduler) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *Scheduler) run() {
	defer close(s.done)
	clock := time.NewTimer(time.Hour)
	defer clock.Stop()
	var due []func()
	for {
		now := time.Since(s.base)
		next := time.Hour
		s.mu.Lock()
		for len(s.timers) > 0 {
			t := s.timers[0]
			if t.at > now {
				next = t.at - now
				break
			}
			heap.Pop(&s.timers)
			due = append(due, t.fn)
			t.fn = nil
		}
		s.mu.Unlock()
		if len(due) > 0 {
			for i, fn := range due {
				fn()
				due[i] = nil
			}
			due = due[:0]
			continue // callbacks took time: look at the clock again
		}
		clock.Reset(next)
		select {
		case <-clock.C:
		case <-s.wake:
		case <-s.stop:
			return
		}
	}
}

type timerHeap []*Timer

func (h timerHeap) Len() int           { return len(h) }
func (h timerHeap) Less(i, j int) bool { return h[i].at < h[j].at }
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}
func (h *timerHeap) Push(x any) {
	t := x.(*Timer)
	t.index = len(*h)
	*h = append(*h, t)
}
func (h *timerHeap) Pop() any {
	old := *h
	n := len(old)
	t := old[n-1]
	old[n-1] = nil
	t.index = -1
	*h = old[:n-1]
	if cap(*h) > 1024 && len(*h) < cap(*h)/4 {
		*h = append(timerHeap(nil), *h...)
	}
	return t
}
