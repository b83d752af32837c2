package bus

import (
	"sync"
	"sync/atomic"

	"github.com/nats-io/nats.go"
)

// Interest holds subscriptions that exist only while something local needs
// them: an edge subscribes to a room subject while it has a socket in the
// room. Add and Remove count references per subject; the NATS subscription
// is made on the first Add and dropped on the last Remove.
//
// Subscribing is asynchronous in NATS (the server learns of it after a
// flush), so a publish racing a brand-new local interest may miss it; the
// caller flushes when it needs the guarantee.
type Interest struct {
	subscribe func(subject string) (*nats.Subscription, error)
	created   atomic.Uint64 // subscriptions made so far

	mu   sync.Mutex
	subs map[string]*interestSub // guarded by mu
}

type interestSub struct {
	refs int
	sub  *nats.Subscription
}

// NewInterest returns an Interest that subscribes with subscribe, for
// instance nc.ChanSubscribe into one channel so that no goroutine is spent
// per subject.
func NewInterest(subscribe func(subject string) (*nats.Subscription, error)) *Interest {
	return &Interest{subscribe: subscribe, subs: make(map[string]*interestSub)}
}

// Add takes a reference on subject, subscribing on the first.
func (i *Interest) Add(subject string) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	if s, ok := i.subs[subject]; ok {
		s.refs++
		return nil
	}
	sub, err := i.subscribe(subject)
	if err != nil {
		return err
	}
	i.subs[subject] = &interestSub{refs: 1, sub: sub}
	i.created.Add(1)
	return nil
}

// Created counts the subscriptions made so far: a caller that must know its
// new subscriptions reached the server flushes when it changed.
func (i *Interest) Created() uint64 { return i.created.Load() }

// Remove drops a reference on subject, unsubscribing on the last.
func (i *Interest) Remove(subject string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	s, ok := i.subs[subject]
	if !ok {
		return
	}
	s.refs--
	if s.refs > 0 {
		return
	}
	delete(i.subs, subject)
	_ = s.sub.Unsubscribe()
}

// Len returns the number of subscribed subjects.
func (i *Interest) Len() int {
	i.mu.Lock()
	defer i.mu.Unlock()
	return len(i.subs)
}

// Has reports whether subject is subscribed.
func (i *Interest) Has(subject string) bool {
	i.mu.Lock()
	defer i.mu.Unlock()
	_, ok := i.subs[subject]
	return ok
}

// Close drops every subscription.
func (i *Interest) Close() {
	i.mu.Lock()
	defer i.mu.Unlock()
	for k, s := range i.subs {
		_ = s.sub.Unsubscribe()
		delete(i.subs, k)
	}
}
