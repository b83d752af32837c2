package bus

import (
	"sync"
	"sync/atomic"

	"github.com/nats-io/nats.go"
)

// Interest holds subscriptions that exist only while something local needs
// them: an edge subscribes to a room subject while it has a socket in the
// room. Add and Remove count references per subject; the NATS subscription
// is made after the first Add and dropped after the last Remove.
//
// Add and Remove only count: they run under the namespace's write lock,
// which every emit needs to read, and must not wait for NATS. One goroutine
// owns the subscriptions and brings them in line with the counts, in
// batches: a subject added and removed again before it ran costs nothing.
// Sync waits until it has caught up with every change made before the call.
//
// Subscribing is asynchronous in NATS too (the server learns of it after a
// flush), so a publish racing a brand-new local interest may miss it; the
// caller syncs and flushes when it needs the guarantee.
type Interest struct {
	subscribe func(subject string) (*nats.Subscription, error)
	onError   func(subject string, err error)
	created   atomic.Uint64 // subscriptions made so far

	mu      sync.Mutex
	refs    map[string]int                // guarded by mu; references per subject
	changed map[string]struct{}           // guarded by mu; subjects whose subscription may not match refs
	queued  uint64                        // guarded by mu; changes made so far
	applied uint64                        // guarded by mu; changes the owner has applied
	caught  chan struct{}                 // guarded by mu; closed (and replaced) when applied moves
	subs    map[string]*nats.Subscription // guarded by mu; changed only by the owner
	retired uint64                        // guarded by mu; what removed subscriptions had dropped

	wake chan struct{} // capacity 1: changes are waiting
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// NewInterest returns an Interest that subscribes with subscribe, for
// instance nc.ChanSubscribe into one channel so that no goroutine is spent
// per subject, and starts the goroutine that owns the subscriptions;
// Close stops it. A subscription that fails is reported to onError (nil:
// ignored), and tried again at the next Add of the subject after its last
// Remove.
func NewInterest(subscribe func(subject string) (*nats.Subscription, error), onError func(subject string, err error)) *Interest {
	i := &Interest{
		subscribe: subscribe,
		onError:   onError,
		refs:      make(map[string]int),
		changed:   make(map[string]struct{}),
		caught:    make(chan struct{}),
		subs:      make(map[string]*nats.Subscription),
		wake:      make(chan struct{}, 1),
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
	}
	go i.run()
	return i
}

// Add takes a reference on subject; the first has it subscribed.
func (i *Interest) Add(subject string) {
	i.mu.Lock()
	i.refs[subject]++
	first := i.refs[subject] == 1
	if first {
		i.changeLocked(subject)
	}
	i.mu.Unlock()
	if first {
		i.kick()
	}
}

// Remove drops a reference on subject; the last has it unsubscribed.
func (i *Interest) Remove(subject string) {
	i.mu.Lock()
	n, ok := i.refs[subject]
	last := ok && n <= 1
	switch {
	case !ok:
	case last:
		delete(i.refs, subject)
		i.changeLocked(subject)
	default:
		i.refs[subject] = n - 1
	}
	i.mu.Unlock()
	if last {
		i.kick()
	}
}

func (i *Interest) changeLocked(subject string) {
	i.changed[subject] = struct{}{}
	i.queued++
}

func (i *Interest) kick() {
	select {
	case i.wake <- struct{}{}:
	default:
	}
}

// Sync waits until the subscriptions match every Add and Remove made before
// it was called (or Close is called). The SUB and UNSUB lines are then in
// the connection's buffer, ahead of anything published after.
func (i *Interest) Sync() {
	i.mu.Lock()
	target := i.queued
	for i.applied < target {
		ch := i.caught
		i.mu.Unlock()
		select {
		case <-ch:
		case <-i.done:
			return
		}
		i.mu.Lock()
	}
	i.mu.Unlock()
}

// run is the owner: it applies the changes in batches until Close.
func (i *Interest) run() {
	defer close(i.done)
	for {
		select {
		case <-i.wake:
		case <-i.stop:
			return
		}
		i.mu.Lock()
		batch := i.changed
		i.changed = make(map[string]struct{})
		gen := i.queued
		want := make(map[string]bool, len(batch))
		for s := range batch {
			want[s] = i.refs[s] > 0
		}
		i.mu.Unlock()
		for s, on := range want {
			i.apply(s, on)
		}
		i.mu.Lock()
		i.applied = gen
		close(i.caught)
		i.caught = make(chan struct{})
		i.mu.Unlock()
	}
}

// apply subscribes or unsubscribes subject, without holding mu for NATS.
func (i *Interest) apply(subject string, on bool) {
	i.mu.Lock()
	sub, has := i.subs[subject]
	if has && !on {
		delete(i.subs, subject)
		i.retired += dropped(sub)
	}
	i.mu.Unlock()
	switch {
	case has && !on:
		_ = sub.Unsubscribe()
	case !has && on:
		sub, err := i.subscribe(subject)
		if err != nil {
			if i.onError != nil {
				i.onError(subject, err)
			}
			return
		}
		i.mu.Lock()
		i.subs[subject] = sub
		i.mu.Unlock()
		i.created.Add(1)
	}
}

// Created counts the subscriptions made so far: a caller that must know its
// new subscriptions reached the server syncs, then flushes when it changed.
func (i *Interest) Created() uint64 { return i.created.Load() }

// Dropped counts the messages nats.go dropped for these subscriptions, the
// removed ones included, because their channel was full (a slow consumer).
func (i *Interest) Dropped() uint64 {
	i.mu.Lock()
	defer i.mu.Unlock()
	n := i.retired
	for _, s := range i.subs {
		n += dropped(s)
	}
	return n
}

func dropped(sub *nats.Subscription) uint64 {
	if d, err := sub.Dropped(); err == nil && d > 0 {
		return uint64(d)
	}
	return 0
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

// Close stops the owner and drops every subscription.
func (i *Interest) Close() {
	i.once.Do(func() { close(i.stop) })
	<-i.done
	i.mu.Lock()
	subs := i.subs
	i.subs = make(map[string]*nats.Subscription)
	i.mu.Unlock()
	for _, s := range subs {
		_ = s.Unsubscribe()
	}
}
