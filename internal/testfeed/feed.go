// Package testfeed is for tests that wait for things arriving over time
// from other goroutines (stream messages, a client process's lines): a Feed
// collects them and lets the test wait for the ones it wants, within a
// bound, instead of sleeping.
package testfeed

import (
	"slices"
	"sync"
	"testing"
	"time"
)

// Feed collects values that arrive over time and lets a test wait for them.
type Feed[T any] struct {
	timeout time.Duration // bounds every wait

	mu    sync.Mutex
	items []T           // guarded by mu
	grew  chan struct{} // guarded by mu; closed and replaced on every change
	err   error         // guarded by mu; why the feed ended, nil while it runs
}

// New returns an empty feed whose waits give up after timeout.
func New[T any](timeout time.Duration) *Feed[T] {
	return &Feed[T]{timeout: timeout, grew: make(chan struct{})}
}

// Add appends a value.
func (f *Feed[T]) Add(v T) {
	f.mu.Lock()
	f.items = append(f.items, v)
	f.changedLocked()
	f.mu.Unlock()
}

// End marks the feed ended, with why (not nil): waits for values that are
// not there fail at once.
func (f *Feed[T]) End(err error) {
	f.mu.Lock()
	f.err = err
	f.changedLocked()
	f.mu.Unlock()
}

func (f *Feed[T]) changedLocked() {
	close(f.grew)
	f.grew = make(chan struct{})
}

// All returns the values so far.
func (f *Feed[T]) All() []T {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.items)
}

// Matching returns the values that satisfy pred so far.
func (f *Feed[T]) Matching(pred func(T) bool) []T {
	f.mu.Lock()
	defer f.mu.Unlock()
	return matching(f.items, pred)
}

func matching[T any](items []T, pred func(T) bool) []T {
	var out []T
	for _, v := range items {
		if pred(v) {
			out = append(out, v)
		}
	}
	return out
}

// WaitN waits until n values satisfy pred and returns them.
func (f *Feed[T]) WaitN(t testing.TB, what string, n int, pred func(T) bool) []T {
	t.Helper()
	deadline := time.NewTimer(f.timeout)
	defer deadline.Stop()
	for {
		f.mu.Lock()
		got := matching(f.items, pred)
		grew, err := f.grew, f.err
		f.mu.Unlock()
		if len(got) >= n {
			return got
		}
		if err != nil {
			t.Fatalf("waiting for %s: the feed ended: %v", what, err)
		}
		select {
		case <-grew:
		case <-deadline.C:
			t.Fatalf("timed out after %v waiting for %s (%d of %d)", f.timeout, what, len(got), n)
		}
	}
}

// Wait waits for the first value that satisfies pred.
func (f *Feed[T]) Wait(t testing.TB, what string, pred func(T) bool) T {
	t.Helper()
	return f.WaitN(t, what, 1, pred)[0]
}

// Ended waits until the feed ends and returns why.
func (f *Feed[T]) Ended(t testing.TB, what string) error {
	t.Helper()
	deadline := time.NewTimer(f.timeout)
	defer deadline.Stop()
	for {
		f.mu.Lock()
		grew, err := f.grew, f.err
		f.mu.Unlock()
		if err != nil {
			return err
		}
		select {
		case <-grew:
		case <-deadline.C:
			t.Fatalf("timed out after %v waiting for %s", f.timeout, what)
		}
	}
}
