package control

import (
	"sync"
	"sync/atomic"

	"github.com/nats-io/nats.go"
)

// Subscribe streams share NATS subscriptions: one per subject and queue
// group on each control instance, however many streams ask for it, fanned
// out in-process to a bounded queue per stream. With a subscription per
// stream, N streams multiplied the traffic into control's one NATS
// connection until NATS cut it as a slow consumer, for every caller.
//
// Every shared subscription delivers into one channel, read by one
// goroutine (hub.run): a stream on several subjects (events "a" and "b", or
// events and connects) gets their messages in the order NATS sent them, as
// it did when its subscriptions shared a channel. A callback subscription
// each would have had a goroutine each, and no order between them.
//
// Locks: hub.mu and streamQueue.mu are never held together.

// Defaults of Config.StreamQueue and Config.StreamQueueBytes.
const (
	DefaultStreamQueue      = 4096
	DefaultStreamQueueBytes = 32 << 20
)

// hubBuffer is the capacity of the channel between nats.go's read loop and
// hub.run. run never blocks, so it stays near empty; were it full, nats.go
// would drop the message and report a slow consumer (counted in
// Stats.BusErrors).
const hubBuffer = 4 * DefaultStreamQueue

// streamQueue is one Subscribe stream's queue: NATS messages the stream has
// not sent yet, bounded in messages and bytes. A message counts from offer
// until the stream has sent it (sent), not until it takes it: what a stream
// holds is bounded whether the messages wait here or in its send loop.
// Overflow is the one action: the stream has fallen behind, takes no more
// messages (they are counted as dropped) and ends once it has sent those it
// holds.
type streamQueue struct {
	maxMsgs, maxBytes int
	wake              chan struct{} // capacity 1: something to take

	mu      sync.Mutex
	msgs    []*nats.Msg // guarded by mu; offered, not taken yet
	held    int         // guarded by mu; messages offered and not sent yet
	bytes   int         // guarded by mu; their bytes
	over    bool        // guarded by mu; fell behind: takes nothing more
	dropped uint64      // guarded by mu; messages refused once over
}

func newStreamQueue(maxMsgs, maxBytes int) *streamQueue {
	return &streamQueue{maxMsgs: maxMsgs, maxBytes: maxBytes, wake: make(chan struct{}, 1)}
}

// offer queues m if q has room. If it has not, q falls behind (once):
// offer reports whether q took m, and whether this offer made q overflow.
func (q *streamQueue) offer(m *nats.Msg) (taken, overflowed bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.pushLocked(m) {
		return true, false
	}
	q.dropped++
	if q.over {
		return false, false
	}
	q.over = true
	q.signal()
	return false, true
}

// tryOffer queues m if q has room, and leaves q as it was if not.
func (q *streamQueue) tryOffer(m *nats.Msg) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.pushLocked(m)
}

func (q *streamQueue) pushLocked(m *nats.Msg) bool {
	if q.over || q.held+1 > q.maxMsgs || q.bytes+len(m.Data) > q.maxBytes {
		return false
	}
	q.msgs = append(q.msgs, m)
	q.held++
	q.bytes += len(m.Data)
	q.signal()
	return true
}

func (q *streamQueue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// take returns the queued messages, and whether q has overflowed (with the
// number dropped so far). They still count against q's bounds until sent.
func (q *streamQueue) take() (msgs []*nats.Msg, over bool, dropped uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	msgs, q.msgs = q.msgs, nil
	return msgs, q.over, q.dropped
}

// sent releases m, taken and sent (or skipped): q has room for another.
func (q *streamQueue) sent(m *nats.Msg) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.held--
	q.bytes -= len(m.Data)
}

// hubKey names a shared subscription.
type hubKey struct{ subject, group string }

// hubSub is one NATS subscription and the streams it feeds.
type hubSub struct {
	key     hubKey
	sub     *nats.Subscription
	streams []*streamQueue // guarded by hub.mu; replaced, never modified, so run may use a copy it loaded
	next    uint64         // owned by hub.run: round robin within a queue group
	keep    bool           // held without streams: the edge-lost subscription
}

// hub owns the shared subscriptions of one control instance and the
// goroutine (run) that fans their messages out. newHub starts it; close
// stops it once NATS is closed.
type hub struct {
	nc   *nats.Conn
	in   chan *nats.Msg // every shared subscription's messages, in NATS's order
	quit chan struct{}  // closed by close: run returns
	done chan struct{}  // closed when run has returned
	once sync.Once

	mu    sync.Mutex
	subs  map[hubKey]*hubSub             // guarded by mu
	bySub map[*nats.Subscription]*hubSub // guarded by mu; the same, by subscription

	// lost is the edge-lost subscription (edgelost.go), held from newHub
	// to close whether or not a stream wants it, so that losses owns every
	// copy of every loss and drops those it delivered already.
	lost   *hubSub
	losses *lossMemory // owned by run

	slowStreams atomic.Uint64 // streams that fell behind
	dropped     atomic.Uint64 // messages not queued for a stream that had fallen behind
}

// newHub starts the hub of nc, holding the edge-lost subscription on
// lostSubject.
func newHub(nc *nats.Conn, lostSubject string) (*hub, error) {
	h := &hub{
		nc:     nc,
		in:     make(chan *nats.Msg, hubBuffer),
		quit:   make(chan struct{}),
		done:   make(chan struct{}),
		subs:   make(map[hubKey]*hubSub),
		bySub:  make(map[*nats.Subscription]*hubSub),
		losses: newLossMemory(),
	}
	sub, err := nc.ChanSubscribe(lostSubject, h.in)
	if err != nil {
		return nil, err
	}
	h.lost = &hubSub{key: hubKey{subject: lostSubject}, sub: sub, keep: true}
	h.subs[h.lost.key] = h.lost
	h.bySub[sub] = h.lost
	go h.run()
	return h, nil
}

// close stops run and waits for it. Streams must have left, or the NATS
// connection be closed, before: nothing reads h.in afterwards.
func (h *hub) close() {
	h.once.Do(func() { close(h.quit) })
	<-h.done
}

// join feeds q with the messages of subject (in queue group group, if not
// empty), subscribing NATS if no stream of this instance did yet. leave
// stops it, and unsubscribes once no stream is left.
func (h *hub) join(subject, group string, q *streamQueue) (leave func(), err error) {
	k := hubKey{subject, group}
	h.mu.Lock()
	defer h.mu.Unlock()
	hs := h.subs[k]
	if hs == nil {
		hs = &hubSub{key: k}
		if group != "" {
			hs.sub, err = h.nc.ChanQueueSubscribe(subject, group, h.in)
		} else {
			hs.sub, err = h.nc.ChanSubscribe(subject, h.in)
		}
		if err != nil {
			return nil, err
		}
		h.subs[k] = hs
		h.bySub[hs.sub] = hs
	}
	hs.streams = append(hs.streams[:len(hs.streams):len(hs.streams)], q) // a new array: run may hold the old one
	var once sync.Once
	return func() { once.Do(func() { h.leave(hs, q) }) }, nil
}

func (h *hub) leave(hs *hubSub, q *streamQueue) {
	h.mu.Lock()
	defer h.mu.Unlock()
	next := make([]*streamQueue, 0, len(hs.streams))
	for _, s := range hs.streams {
		if s != q {
			next = append(next, s)
		}
	}
	hs.streams = next
	if len(next) == 0 && !hs.keep {
		// Messages of hs still in h.in find no subscription in bySub:
		// no stream is left to want them.
		_ = hs.sub.Unsubscribe()
		delete(h.subs, hs.key)
		delete(h.bySub, hs.sub)
	}
}

// run hands each message to the streams of its subscription, in order,
// until close.
func (h *hub) run() {
	defer close(h.done)
	for {
		select {
		case <-h.quit:
			return
		case m := <-h.in:
			h.mu.Lock()
			hs := h.bySub[m.Sub]
			var streams []*streamQueue
			if hs != nil {
				streams = hs.streams
			}
			h.mu.Unlock()
			if hs == h.lost && !h.firstLoss(m) {
				continue
			}
			if len(streams) > 0 {
				h.deliver(hs, streams, m)
			}
		}
	}
}

// deliver hands m to every stream of hs or, in a queue group (NATS gave
// this instance one message for the whole group), to one of them: the next
// in turn that has room. It never blocks.
func (h *hub) deliver(hs *hubSub, streams []*streamQueue, m *nats.Msg) {
	if hs.key.group == "" {
		for _, q := range streams {
			h.offer(q, m)
		}
		return
	}
	hs.next++
	start := int(hs.next % uint64(len(streams)))
	for i := range streams {
		if streams[(start+i)%len(streams)].tryOffer(m) {
			return
		}
	}
	h.offer(streams[start], m) // every member is full: the turn's one falls behind
}

// firstLoss reports whether m, on the edge-lost subject, is the first copy
// of its loss (one that does not decode is no loss).
func (h *hub) firstLoss(m *nats.Msg) bool {
	lost := decodeLost(m.Data)
	return lost != nil && h.losses.first(lost)
}

func (h *hub) offer(q *streamQueue, m *nats.Msg) {
	taken, overflowed := q.offer(m)
	if overflowed {
		h.slowStreams.Add(1)
	}
	if !taken {
		h.dropped.Add(1)
	}
}

// Stats are a control instance's counters since it started.
type Stats struct {
	// SlowStreams counts Subscribe streams that fell behind: each ends with
	// ResourceExhausted once it has sent what it holds (unless its caller
	// leaves first).
	SlowStreams uint64
	// StreamEventsDropped counts events not queued for a stream that had
	// fallen behind.
	StreamEventsDropped uint64
	// BusErrors counts asynchronous NATS errors (a subscription that
	// dropped messages, a permission refused).
	BusErrors uint64
	// BusReconnects counts NATS reconnections.
	BusReconnects uint64
	// EdgeErrors counts edge replies that carried an error (an EdgeError
	// in a response), or that did not decode.
	EdgeErrors uint64
}

// Stats returns the instance's counters.
func (s *Server) Stats() Stats {
	return Stats{
		SlowStreams:         s.hub.slowStreams.Load(),
		StreamEventsDropped: s.hub.dropped.Load(),
		BusErrors:           s.busErrors.Load(),
		BusReconnects:       s.nc.Stats().Reconnects,
		EdgeErrors:          s.edgeErrors.Load(),
	}
}
