package edge

import (
	"errors"
	"strings"
	"sync"
	"sync/atomic"
)

// BreakBus makes the NATS server close the edge's connection for good,
// the way an event name of 3,200 characters once did: a PUB line over the
// server's control-line limit (4 KB), after which nats.go does not
// reconnect.
func BreakBus(e *Edge) error {
	e.mu.Lock()
	c := e.cluster
	e.mu.Unlock()
	return c.nc.Publish(strings.Repeat("x", 5000), nil)
}

// HoldOperations makes the edge's operations path wait, before the next
// operation it takes, until release is called.
func HoldOperations(e *Edge) (release func()) {
	return hold(e, func(c *cluster) *holdPtr { return &c.holdOps })
}

// HoldDeliveries does the same for the delivery path.
func HoldDeliveries(e *Edge) (release func()) {
	return hold(e, func(c *cluster) *holdPtr { return &c.holdDeliveries })
}

type holdPtr = atomic.Pointer[chan struct{}]

func hold(e *Edge, which func(*cluster) *holdPtr) func() {
	e.mu.Lock()
	c := e.cluster
	e.mu.Unlock()
	ch := make(chan struct{})
	p := which(c)
	p.Store(&ch)
	var once sync.Once
	return func() {
		once.Do(func() {
			p.Store(nil)
			close(ch)
		})
	}
}

// BusQueue and OpsQueue are the bounds of the delivery and operations paths.
const BusQueue, OpsQueue = busQueue, opsQueue

// DropEdgeSubscription unsubscribes the edge's own subject at the NATS
// server behind the edge's back, as a subscription that silently stopped
// would: the connection stays CONNECTED. The returned function subscribes
// it again, into the same delivery path.
func DropEdgeSubscription(e *Edge) (restore func() error, err error) {
	e.mu.Lock()
	c := e.cluster
	e.mu.Unlock()
	subject := c.subj.Edge(c.id)
	for _, s := range c.fixed {
		if s.Subject == subject {
			if err := s.Unsubscribe(); err != nil {
				return nil, err
			}
			return func() error {
				sub, err := c.nc.ChanSubscribe(subject, c.msgs)
				if err == nil {
					c.fixed = append(c.fixed, sub)
					err = c.nc.Flush()
				}
				return err
			}, nil
		}
	}
	return nil, errors.New("no subscription of " + subject)
}
