package edge

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	busv1 "github.com/switchboard-rt/switchboard/gen/switchboard/bus/v1"
	sbv1 "github.com/switchboard-rt/switchboard/gen/switchboard/v1"
	"github.com/switchboard-rt/switchboard/pkg/bus"
	"github.com/switchboard-rt/switchboard/pkg/engineio"
	"github.com/switchboard-rt/switchboard/pkg/socketio"
)

// Version is the version edges and control report.
const Version = "0.1.0-dev"

// NewEdgeID returns a random edge id (bus.NewEdgeID).
func NewEdgeID() string { return bus.NewEdgeID() }

// EdgeOfSID returns the edge id a sid names, or "" for a sid not made by an
// edge (bus.EdgeOfSID).
func EdgeOfSID(sid string) string { return bus.EdgeOfSID(sid) }

// cluster connects an edge to the bus: interest-based subscriptions for its
// rooms, users and namespaces, the commands control sends, client events and
// lifecycle out, heartbeats.
//
// Two paths take what the bus brings (NATS channel subscriptions, no
// goroutine per subscription). The delivery path, one dispatcher goroutine
// reading every subscription's messages (busQueue of them at most), hands
// broadcasts to the sockets' queues, which never blocks; everything else
// (socket operations, queries, service acks, announces) goes on to the
// operations path: a queue of opsQueue and one worker, so that a large
// ListSockets or a slow join never holds up an emit. Each path counts what
// overflows it (ClusterStats, the heartbeat's counters): the delivery path
// drops it, the operations path refuses it (EDGE_ERROR_CODE_OVERLOADED to
// whoever waits for a reply).
// EmitWithAck waits run on goroutines of their own. The heartbeat goroutine
// also expires dedupe entries and pending client acks.
//
// Lock order: cluster.mu before socketio's locks (expire asks sockets
// whether they are connected); socketio's hooks (namespace, room, user)
// take Interest's lock, never cluster.mu while holding theirs.
type cluster struct {
	id       string
	addr     string
	started  time.Time
	interval time.Duration
	log      *slog.Logger
	sio      *socketio.Server
	subj     bus.Subjects
	nc       *nats.Conn
	interest *bus.Interest
	msgs     chan *nats.Msg // every subscription's messages: the delivery path
	ops      chan operation // what is not a broadcast: the operations path
	fixed    []*nats.Subscription
	// configured are the namespaces Config names: registered for good, so
	// that they and their subscriptions stay when their last socket goes.
	configured []string
	// hidden are the headers describe leaves out, by lower-case name
	// (hiddenHeaders); read-only after newCluster.
	hidden map[string]bool

	flushed atomic.Uint64 // Interest.Created() as of the last completed flush
	mu      sync.Mutex
	seen    map[string]time.Time                     // guarded by mu; broadcast ids acted on (multi-copy only)
	pending map[string]pendingAck                    // guarded by mu; client events awaiting a service's ack, by reply subject
	acksOf  map[*socketio.Socket]map[string]struct{} // guarded by mu; the reply subjects in pending of each socket that has some
	maxAcks int                                      // entries of acksOf[s] allowed; 0: no cap
	ackTTL  time.Duration                            // how long a pending entry lives

	wg   sync.WaitGroup
	stop chan struct{}

	leaving   chan struct{} // closed by leave, when the edge starts to stop
	leaveOnce sync.Once

	// lost receives why the NATS connection closed for good while the edge
	// was not stopping (nats.go gives up on a connection after some server
	// errors, whatever MaxReconnects says): Run then stops the edge, rather
	// than go on serving clients that no emit can reach. Capacity 1.
	lost chan error

	stats func() Stats // the edge's counters, for heartbeats; set before start

	probe  *bus.Prober          // the round trip through NATS and the delivery path, for Ready
	fanout prometheus.Histogram // the Edge's; set before start

	acksRefused atomic.Uint64 // client events refused an ack: their socket had MaxPendingAcks waiting
	omitted     atomic.Uint64 // sockets left out of a reply that could not be encoded with them
	opsDropped  atomic.Uint64 // operations dropped: the operations queue was full
	pubFailed   atomic.Uint64 // client events and lifecycle events nats.go refused to publish
	replyFails  atomic.Uint64 // replies to control that could not be sent
	noResponder atomic.Uint64 // client events with an ack that no service subscribed to

	// hold, when set (tests only), is waited on by a path before it
	// handles its next message.
	holdDeliveries, holdOps atomic.Pointer[chan struct{}]
}

// busQueue bounds the messages the bus has brought and the delivery path
// has not taken yet; past it nats.go drops them (counted per subscription,
// ClusterStats.BusDropped). opsQueue bounds the operations waiting for the
// operations worker; past it one is refused: answered at once with
// EDGE_ERROR_CODE_OVERLOADED when it has a reply subject, dropped when not,
// and counted (ClusterStats.OperationsDropped).
const (
	busQueue = 1 << 16
	opsQueue = 1 << 10
)

// operation is a message for the operations path: a decoded command, or a
// service's answer to a client event (cmd nil).
type operation struct {
	m   *nats.Msg
	cmd *busv1.EdgeCommand
}

// ClusterStats counts what an edge's bus side refused or left out since it
// started. They are zero for a standalone edge.
type ClusterStats struct {
	// AcksPending is how many client events wait for a service's ack now.
	AcksPending int
	// AcksRefused counts client events that asked for an ack while their
	// socket already had the maximum waiting: they were not published.
	AcksRefused uint64
	// SocketsOmitted counts sockets left out of a ListSockets reply because
	// the reply could not be encoded with them.
	SocketsOmitted uint64
	// BusDropped counts messages nats.go dropped because the delivery path
	// had busQueue of them waiting: broadcasts and operations that never
	// reached the edge's sockets or its operations worker.
	BusDropped uint64
	// OperationsDropped counts socket operations, queries and acks refused
	// because the operations path had opsQueue of them waiting: a command
	// or an Ack call is answered EDGE_ERROR_CODE_OVERLOADED at once; an ack
	// a service published without a reply subject is dropped (the client's
	// own ack timeout fires).
	OperationsDropped uint64
	// PublishFailures counts client events and lifecycle events that
	// nats.go refused to publish (the connection closed, its reconnect
	// buffer full, a message over the server's max payload): no service
	// saw them, and a client that asked for an ack gets none (its own
	// timeout fires).
	PublishFailures uint64
	// ReplyFailures counts replies to control that could not be sent (one
	// part over NATS's max payload, the connection closed): the edge then
	// tries a last part with EDGE_ERROR_CODE_REPLY_INCOMPLETE, and the call
	// lists the edge in missing_edges (and, when that part went, in
	// edge_errors).
	ReplyFailures uint64
	// AcksNoResponder counts client events that asked for an ack while no
	// service subscribed to them (NATS answered "no responders"): the ack
	// is forgotten, not answered, and the client's own timeout fires.
	AcksNoResponder uint64
	// ProbeFailures counts readiness probes (Config.ReadyCheckInterval)
	// that got no answer in time.
	ProbeFailures uint64
}

// ClusterStats returns the edge's bus counters; zero while the edge is not
// running with a bus.
func (e *Edge) ClusterStats() ClusterStats {
	e.mu.Lock()
	c := e.cluster
	e.mu.Unlock()
	if c == nil {
		return ClusterStats{}
	}
	c.mu.Lock()
	n := len(c.pending)
	c.mu.Unlock()
	return ClusterStats{
		AcksPending: n, AcksRefused: c.acksRefused.Load(), SocketsOmitted: c.omitted.Load(),
		BusDropped: c.busDropped(), OperationsDropped: c.opsDropped.Load(), PublishFailures: c.pubFailed.Load(),
		ReplyFailures: c.replyFails.Load(), AcksNoResponder: c.noResponder.Load(),
		ProbeFailures: c.probe.Failures(),
	}
}

// pendingAck is a client event waiting for a service's answer: only what
// the answer needs, never the event itself, whose arguments may weigh a
// megabyte.
type pendingAck struct {
	s       *socketio.Socket
	id      int64 // the client's ack id
	created time.Time
}

// dedupeTTL is how long a broadcast id is remembered: longer than any copy
// of it can trail the first.
const dedupeTTL = 30 * time.Second

// Defaults of the limits on client events waiting for a service's ack.
const (
	// DefaultMaxPendingAcks is how many events of one socket may wait for a
	// service's ack at once. Over it, the client's event is refused: not
	// published, counted (ClusterStats.AcksRefused), and the client's own ack
	// timeout fires, as when no service answers. A burst of 200 events of
	// one client, each asking for an ack (the reference chat app's test),
	// fits; at about 200 bytes an entry, a socket holds 50 KiB at most.
	DefaultMaxPendingAcks = 256
	// DefaultPendingAckTTL is how long the edge keeps a client event's ack
	// for a service to answer; a later answer is not delivered.
	DefaultPendingAckTTL = 10 * time.Minute
)

// ackLimits returns the limits on client acks from cfg (entries per
// socket, 0 for no cap; TTL): zero means the defaults, a negative
// MaxPendingAcks no cap.
func ackLimits(cfg Config) (maxPerSocket int, ttl time.Duration) {
	maxPerSocket, ttl = cfg.MaxPendingAcks, cfg.PendingAckTTL
	switch {
	case maxPerSocket == 0:
		maxPerSocket = DefaultMaxPendingAcks
	case maxPerSocket < 0:
		maxPerSocket = 0
	}
	if ttl <= 0 {
		ttl = DefaultPendingAckTTL
	}
	return maxPerSocket, ttl
}

// stopGrace is how long before the edge starts to stop a lost NATS
// connection still counts as part of stopping: a terminal's Ctrl-C reaches
// control and the edge together, and control's embedded NATS may go first.
const stopGrace = 500 * time.Millisecond

func newCluster(cfg Config, sio *socketio.Server, log *slog.Logger) (*cluster, error) {
	subj, err := bus.NewSubjects(cfg.SubjectPrefix)
	if err != nil {
		return nil, err
	}
	c := &cluster{
		id:       cfg.EdgeID,
		started:  time.Now(),
		interval: cfg.HeartbeatInterval,
		log:      log.With("edge", cfg.EdgeID),
		sio:      sio,
		subj:     subj,
		msgs:     make(chan *nats.Msg, busQueue),
		ops:      make(chan operation, opsQueue),
		seen:     make(map[string]time.Time),
		pending:  make(map[string]pendingAck),
		acksOf:   make(map[*socketio.Socket]map[string]struct{}),
		stop:     make(chan struct{}),
		leaving:  make(chan struct{}),
		lost:     make(chan error, 1),
		fanout:   newFanoutHistogram(), // the Edge sets its own, which /metrics reads
	}
	c.probe = bus.NewProber(bus.ProberConfig{
		Interval: cfg.ReadyCheckInterval,
		Probe:    c.roundTrip,
		OnChange: func(err error) {
			if err != nil {
				c.log.Warn("edge: not ready: no answer through NATS to its own probes", "err", err)
			} else {
				c.log.Info("edge: ready again: its probes through NATS are answered")
			}
		},
	})
	for _, n := range cfg.Namespaces {
		if n != "*" {
			c.configured = append(c.configured, n)
		}
	}
	c.maxAcks, c.ackTTL = ackLimits(cfg)
	c.hidden = hiddenHeaders(cfg.ExposeHeaders)
	opts := []nats.Option{
		nats.Name("switchboard-edge " + cfg.EdgeID),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			switch {
			case err == nil: // the edge closed the connection itself
			case c.leavingWithin(stopGrace):
				c.log.Info("edge: NATS disconnected while the edge stops", "err", err)
			default:
				c.log.Warn("edge: NATS disconnected", "err", err)
			}
		}),
		nats.ClosedHandler(func(nc *nats.Conn) {
			select {
			case <-c.leaving:
				return // closed by close, or lost while stopping anyway
			default:
			}
			err := nc.LastError()
			if err == nil {
				err = errors.New("closed")
			}
			select {
			case c.lost <- fmt.Errorf("NATS connection closed for good: %w", err):
			default:
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			c.log.Info("edge: NATS reconnected", "url", nc.ConnectedUrl())
			c.publishHeartbeat(false)
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subject := ""
			if sub != nil {
				subject = sub.Subject
			}
			level := slog.LevelWarn
			if c.leavingWithin(0) {
				// Writes that fail once control's NATS has gone: part of stopping.
				level = slog.LevelDebug
			}
			c.log.Log(context.Background(), level, "edge: NATS error", "subject", subject, "err", err)
		}),
	}
	nc, err := nats.Connect(cfg.NATSURL, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS %s: %w", cfg.NATSURL, err)
	}
	c.nc = nc
	c.interest = bus.NewInterest(func(subject string) (*nats.Subscription, error) {
		return nc.ChanSubscribe(subject, c.msgs)
	}, func(subject string, err error) {
		c.log.Error("edge: subscribe", "subject", subject, "err", err)
	})
	return c, nil
}

// chanSub subscribes subject into the dispatcher's channel.
func (c *cluster) chanSub(subject string) error {
	sub, err := c.nc.ChanSubscribe(subject, c.msgs)
	if err != nil {
		return fmt.Errorf("subscribe %s: %w", subject, err)
	}
	c.fixed = append(c.fixed, sub)
	return nil
}

// start installs the socketio hooks and subscribes the fixed subjects.
func (c *cluster) start() error {
	for _, s := range []string{c.subj.Edge(c.id), c.subj.Cluster(), c.subj.AckInbox(c.id)} {
		if err := c.chanSub(s); err != nil {
			return err
		}
	}
	c.sio.OnNamespace(c.hookNamespace)
	for _, n := range c.configured {
		c.sio.Of(n)
	}
	if err := c.nc.Flush(); err != nil {
		return fmt.Errorf("NATS flush: %w", err)
	}
	c.wg.Add(3)
	go c.dispatch()
	go c.operate()
	go c.heartbeats()
	c.publishHeartbeat(false)
	c.probe.Start()
	return nil
}

// roundTrip sends the edge a probe on its own subject, which route answers
// from the delivery path: the answer proves the subscription is there at
// the server and the path that delivers broadcasts is moving.
func (c *cluster) roundTrip(ctx context.Context) error {
	_, err := c.nc.RequestMsgWithContext(ctx, bus.ProbeMsg(c.subj.Edge(c.id), c.id))
	return err
}

// leave marks the start of the edge's shutdown; close follows.
func (c *cluster) leave() { c.leaveOnce.Do(func() { close(c.leaving) }) }

// leavingWithin reports whether the edge is stopping or starts to within d.
// It runs on nats.go's callback goroutine, which it holds up to d.
func (c *cluster) leavingWithin(d time.Duration) bool {
	select {
	case <-c.leaving:
		return true
	default:
		if d <= 0 {
			return false
		}
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-c.leaving:
		return true
	case <-t.C:
		return false
	}
}

// close stops the cluster goroutines, then says goodbye: the heartbeat
// goroutine (or an Announce) must not publish a live heartbeat after the
// stopping one, which would make control list the edge again.
func (c *cluster) close() {
	c.leave()
	c.probe.Stop()
	close(c.stop)
	c.wg.Wait()
	c.publishHeartbeat(true)
	for _, s := range c.fixed {
		_ = s.Unsubscribe()
	}
	c.interest.Close()
	if c.nc.IsConnected() {
		// Get the goodbye out, but never wait long for a bus that is down.
		_ = c.nc.FlushTimeout(time.Second)
	}
	c.nc.Close()
}

func (c *cluster) hookNamespace(ns *socketio.Namespace) {
	name := ns.Name()
	ns.OnRoom(
		func(room string) { c.addInterest(c.subj.Room(name, room)) },
		func(room string) { c.interest.Remove(c.subj.Room(name, room)) },
	)
	ns.OnUser(
		func(user string) { c.addInterest(c.subj.User(name, user)) },
		func(user string) { c.interest.Remove(c.subj.User(name, user)) },
	)
	// The namespace subject is subscribed for as long as the edge knows the
	// namespace: already in place when the first socket connects, and gone
	// with a namespace that was created for a client and lost its last
	// socket (socketio deletes those).
	c.addInterest(c.subj.Namespace(name))
	ns.OnDelete(func() { c.interest.Remove(c.subj.Namespace(name)) })
	ns.OnAdmit(c.flushNewInterest)
	ns.OnConnect(func(s *socketio.Socket) {
		c.publish(c.subj.Lifecycle(name), &busv1.LifecycleEvent{Event: &busv1.LifecycleEvent_Connected{
			Connected: &sbv1.SocketConnected{Socket: c.describe(s)},
		}})
	})
	ns.OnDisconnect(func(s *socketio.Socket, reason string) {
		c.dropAcks(s)
		c.publish(c.subj.Lifecycle(name), &busv1.LifecycleEvent{Event: &busv1.LifecycleEvent_Disconnected{
			Disconnected: &sbv1.SocketDisconnected{
				Sid: s.ID(), Namespace: validUTF8(name), User: validUTF8(s.User()), EdgeId: c.id,
				Rooms: validUTF8s(s.Rooms()), Reason: validUTF8(reason), DisconnectedAt: timestamppb.Now(),
				DataJson: dataJSON(s.Data()),
			},
		}})
	})
	ns.OnEvent(c.onClientEvent)
}

// flushNewInterest runs before a client learns it is connected: if the
// socket's user or rooms made new subscriptions, it waits until NATS has
// them, so that an emit sent right after the client saw "connect" is not
// lost. Sockets that subscribe nothing new cost nothing.
func (c *cluster) flushNewInterest(*socketio.Socket) {
	c.interest.Sync()
	created := c.interest.Created()
	if c.flushed.Load() >= created {
		return
	}
	if err := c.nc.FlushTimeout(2 * time.Second); err != nil {
		c.log.Warn("edge: NATS flush", "err", err)
		return
	}
	for {
		old := c.flushed.Load()
		if old >= created || c.flushed.CompareAndSwap(old, created) {
			return
		}
	}
}

func (c *cluster) addInterest(subject string) { c.interest.Add(subject) }

func (c *cluster) publish(subject string, m proto.Message) {
	if err := bus.Publish(c.nc, subject, m); err != nil {
		c.publishFailed(subject, err)
	}
}

// worthLogging reports whether the nth of a repeated failure is logged:
// the 1st, 2nd, 4th, 8th…, so that the log stays short however many come.
func worthLogging(n uint64) bool { return n&(n-1) == 0 }

// publishFailed counts a message nats.go refused, and logs some of them
// (worthLogging).
func (c *cluster) publishFailed(subject string, err error) {
	if n := c.pubFailed.Add(1); worthLogging(n) {
		c.log.Warn("edge: publish", "subject", subject, "err", err, "failures", n)
	}
}

// onClientEvent publishes what a client emitted; an event that asks for an
// ack carries a reply subject that the service answers on. An event that
// asks for an ack while its socket has maxAcks waiting is refused: not
// published, counted; the client's own ack timeout fires.
func (c *cluster) onClientEvent(s *socketio.Socket, ev *socketio.Event) {
	ce := &sbv1.ClientEvent{
		Namespace:  validUTF8(s.Namespace().Name()),
		Sid:        s.ID(),
		User:       validUTF8(s.User()),
		EdgeId:     c.id,
		Event:      validUTF8(ev.Name), // decoded from JSON, so valid already
		ArgsJson:   validUTF8(string(ev.Args)),
		Binary:     ev.Attachments,
		ReceivedAt: timestamppb.Now(),
		DataJson:   dataJSON(s.Data()),
	}
	subject := c.subj.Event(ce.Namespace, ce.Event)
	if !ev.WantsAck() {
		c.publish(subject, ce)
		return
	}
	reply, ok := c.holdAck(s, ev.AckID())
	if !ok {
		c.acksRefused.Add(1)
		return
	}
	if err := bus.PublishRequest(c.nc, subject, reply, ce); err != nil {
		c.takeAck(reply) // no service will see it
		c.publishFailed(subject, err)
	}
}

// holdAck registers a client event's ack for a service to answer and
// returns the reply subject, or false when the socket has maxAcks waiting.
func (c *cluster) holdAck(s *socketio.Socket, id int64) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	mine := c.acksOf[s]
	if c.maxAcks > 0 && len(mine) >= c.maxAcks {
		return "", false
	}
	if mine == nil {
		mine = make(map[string]struct{}, 1)
		c.acksOf[s] = mine
	}
	reply := c.subj.Ack(c.id, bus.NewAckID())
	mine[reply] = struct{}{}
	c.pending[reply] = pendingAck{s: s, id: id, created: time.Now()}
	return reply, true
}

// takeAck removes and returns the pending ack of a reply subject.
func (c *cluster) takeAck(reply string) (pendingAck, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.pending[reply]
	if ok {
		c.forgetLocked(reply, p.s)
	}
	return p, ok
}

func (c *cluster) forgetLocked(reply string, s *socketio.Socket) {
	delete(c.pending, reply)
	if mine := c.acksOf[s]; mine != nil {
		delete(mine, reply)
		if len(mine) == 0 {
			delete(c.acksOf, s)
		}
	}
}

// dropAcks forgets the pending acks of a socket that disconnected.
func (c *cluster) dropAcks(s *socketio.Socket) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for reply := range c.acksOf[s] {
		delete(c.pending, reply)
	}
	delete(c.acksOf, s)
}

// dispatch is the delivery path: it takes every message in arrival order,
// delivers broadcasts and passes the rest to the operations path.
func (c *cluster) dispatch() {
	defer c.wg.Done()
	for {
		select {
		case m := <-c.msgs:
			c.wait(&c.holdDeliveries)
			c.route(m)
		case <-c.stop:
			return
		}
	}
}

func (c *cluster) route(m *nats.Msg) {
	if probe, mine := bus.IsProbe(m, c.id); probe {
		if mine {
			_ = m.Respond(nil)
		}
		return
	}
	if strings.HasPrefix(m.Subject, c.subj.AckPrefix()) {
		c.toOps(operation{m: m})
		return
	}
	cmd := new(busv1.EdgeCommand)
	if err := proto.Unmarshal(m.Data, cmd); err != nil {
		c.log.Warn("edge: undecodable command", "subject", m.Subject, "err", err)
		c.refuse(m, sbv1.EdgeErrorCode_EDGE_ERROR_CODE_UNSUPPORTED, "command does not decode: %v", err)
		return
	}
	switch x := cmd.Command.(type) {
	case *busv1.EdgeCommand_Broadcast:
		c.onBroadcast(m, x.Broadcast)
	case *busv1.EdgeCommand_Sockets, *busv1.EdgeCommand_Query, *busv1.EdgeCommand_Announce:
		c.toOps(operation{m: m, cmd: cmd})
	default:
		// A command this edge does not know: a newer control.
		c.refuse(m, sbv1.EdgeErrorCode_EDGE_ERROR_CODE_UNSUPPORTED, "command not known to this edge (version %s)", Version)
	}
}

// toOps queues an operation or, if the operations path is full, refuses
// it: its sender gets EDGE_ERROR_CODE_OVERLOADED at once rather than
// waiting for a reply that will not come.
func (c *cluster) toOps(o operation) {
	select {
	case c.ops <- o:
		return
	default:
	}
	if n := c.opsDropped.Add(1); worthLogging(n) {
		c.log.Warn("edge: operations queue full; operation refused", "queue", opsQueue, "refused", n)
	}
	const why = "operations queue full (%d waiting): retry later"
	if o.cmd == nil {
		c.respond(o.m, &busv1.EventAckReply{Error: replyError(sbv1.EdgeErrorCode_EDGE_ERROR_CODE_OVERLOADED, why, opsQueue)})
		return
	}
	c.refuse(o.m, sbv1.EdgeErrorCode_EDGE_ERROR_CODE_OVERLOADED, why, opsQueue)
}

// operate is the operations path's worker.
func (c *cluster) operate() {
	defer c.wg.Done()
	for {
		select {
		case o := <-c.ops:
			c.wait(&c.holdOps)
			c.handleOp(o)
		case <-c.stop:
			return
		}
	}
}

func (c *cluster) handleOp(o operation) {
	if o.cmd == nil {
		c.onEventAck(o.m)
		return
	}
	switch x := o.cmd.Command.(type) {
	case *busv1.EdgeCommand_Sockets:
		c.onSockets(o.m, x.Sockets)
	case *busv1.EdgeCommand_Query:
		c.onQuery(o.m, x.Query)
	case *busv1.EdgeCommand_Announce:
		c.publishHeartbeat(false)
	}
}

// wait waits on what hold holds, if anything (tests), or for the stop.
func (c *cluster) wait(hold *atomic.Pointer[chan struct{}]) {
	if h := hold.Load(); h != nil {
		select {
		case <-*h:
		case <-c.stop:
		}
	}
}

// busDropped sums what nats.go dropped for the delivery path, over every
// subscription that feeds it.
func (c *cluster) busDropped() uint64 {
	var n uint64
	for _, s := range c.fixed {
		if d, err := s.Dropped(); err == nil && d > 0 {
			n += uint64(d)
		}
	}
	return n + c.interest.Dropped()
}

func (c *cluster) onEventAck(m *nats.Msg) {
	p, ok := c.takeAck(m.Subject)
	if len(m.Data) == 0 && m.Header.Get("Status") == "503" {
		// NATS's "no responders": no service subscribes to the event, so no
		// answer will come. The client's own ack timeout fires; an empty
		// ack would tell it a service answered with nothing.
		c.noResponderFor(p, ok)
		return
	}
	var ack busv1.EventAck
	delivered := false
	if ok && proto.Unmarshal(m.Data, &ack) == nil && p.s.Connected() {
		delivered = p.s.SendAck(p.id, ack.ArgsJson, ack.Attachments) == nil
	}
	c.respond(m, &busv1.EventAckReply{Delivered: delivered})
}

// noResponderFor counts a client event with an ack that no service
// subscribed to, and logs some (worthLogging): an application that asks
// for acks nothing gives.
func (c *cluster) noResponderFor(p pendingAck, ok bool) {
	n := c.noResponder.Add(1)
	if !worthLogging(n) {
		return
	}
	attrs := []any{"no_responder", n}
	if ok {
		attrs = append(attrs, "sid", p.s.ID(), "ns", p.s.Namespace().Name())
	}
	c.log.Warn("edge: a client event asked for an ack, but no service subscribes to it; the client's ack timeout will fire", attrs...)
}

// selector turns a Target into the namespace and socketio selection.
func (c *cluster) selector(t *sbv1.Target) (*socketio.Namespace, *socketio.BroadcastOperator) {
	name := t.GetNamespace()
	if name == "" {
		name = "/"
	}
	ns := c.sio.Namespace(name)
	if ns == nil {
		return nil, nil
	}
	return ns, ns.Select(socketio.Selector{
		Rooms: t.GetRooms(), Except: t.GetExceptRooms(), SIDs: t.GetSids(), Users: t.GetUsers(),
	})
}

// firstCopy reports whether this edge has not acted on broadcast id yet.
func (c *cluster) firstCopy(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.seen[id]; ok {
		return false
	}
	c.seen[id] = time.Now()
	return true
}

func (c *cluster) onBroadcast(m *nats.Msg, b *busv1.Broadcast) {
	if bus.Copies(b.Target) > 1 && !c.firstCopy(b.Id) {
		return
	}
	ns, op := c.selector(b.Target)
	if ns == nil {
		c.answerBroadcast(m, &busv1.BroadcastReply{})
		return
	}
	if b.AckTimeout == nil {
		if b.Volatile {
			op = op.Volatile()
		}
		start := time.Now()
		d := op.SendCounted(socketio.NewEncodedText(b.Packet, b.Attachments))
		c.fanout.Observe(time.Since(start).Seconds())
		if m.Reply != "" {
			c.answerBroadcast(m, &busv1.BroadcastReply{
				Sockets: uint32(d.Selected), Queued: uint32(d.Queued), DroppedVolatile: uint32(d.DroppedVolatile),
				DroppedSlow: uint32(d.DroppedSlow), DroppedClosed: uint32(d.DroppedClosed),
			})
		}
		return
	}
	c.broadcastWithAck(m, ns, op, b)
}

func (c *cluster) answerBroadcast(m *nats.Msg, r *busv1.BroadcastReply) {
	c.answer(m, &busv1.EdgeReply{Reply: &busv1.EdgeReply_Broadcast{Broadcast: r}})
}

// broadcastWithAck asks every selected socket for an ack under one id and
// answers once all did or the timeout passed.
func (c *cluster) broadcastWithAck(m *nats.Msg, ns *socketio.Namespace, op *socketio.BroadcastOperator, b *busv1.Broadcast) {
	id := ns.NextAckID()
	p, _, err := socketio.ParseText(b.Packet)
	if err != nil {
		c.log.Warn("edge: bad broadcast packet", "err", err)
		c.refuse(m, sbv1.EdgeErrorCode_EDGE_ERROR_CODE_INVALID, "broadcast packet does not parse: %v", err)
		return
	}
	p.ID, p.HasID = id, true
	p.Attachments = b.Attachments // AppendText writes their count
	enc := socketio.NewEncodedText(p.AppendText(nil), b.Attachments)

	type answer struct {
		sid string
		ack *busv1.BroadcastAck
	}
	socks := op.Sockets()
	answers := make(chan answer, len(socks))
	var asked []*socketio.Socket
	for _, s := range socks {
		sid := s.ID()
		ok := s.ExpectAck(id, func(args []byte, att [][]byte, err error) {
			if err != nil {
				answers <- answer{sid: sid}
				return
			}
			answers <- answer{sid: sid, ack: &busv1.BroadcastAck{Sid: sid, ArgsJson: args, Attachments: att}}
		})
		if !ok {
			continue
		}
		if s.Send(enc) != nil {
			s.CancelAck(id)
			continue
		}
		asked = append(asked, s)
	}
	timeout := b.AckTimeout.AsDuration()
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		reply := &busv1.BroadcastReply{Sockets: uint32(len(asked))}
		answered := map[string]bool{}
		timer := time.NewTimer(timeout)
		defer timer.Stop()
	wait:
		for len(answered) < len(asked) {
			select {
			case a := <-answers:
				if answered[a.sid] {
					continue
				}
				answered[a.sid] = true
				if a.ack != nil {
					reply.Acks = append(reply.Acks, a.ack)
				} else {
					reply.TimedOutSids = append(reply.TimedOutSids, a.sid)
				}
			case <-timer.C:
				break wait
			case <-c.stop:
				break wait
			}
		}
		for _, s := range asked {
			if !answered[s.ID()] {
				s.CancelAck(id)
				reply.TimedOutSids = append(reply.TimedOutSids, s.ID())
			}
		}
		c.answerBroadcast(m, reply)
	}()
}

func (c *cluster) onSockets(m *nats.Msg, op *busv1.SocketsOperation) {
	reply := &busv1.SocketsOperationReply{}
	if _, sel := c.selector(op.Target); sel != nil {
		switch op.Action {
		case busv1.SocketsAction_SOCKETS_ACTION_JOIN:
			n, full := sel.Join(op.Rooms...)
			reply.Sockets, reply.SocketsFull = uint32(n), uint32(full)
			// The new rooms' SUB lines go out before the reply: an emit
			// the caller sends once JoinRoom returned reaches the room.
			c.interest.Sync()
		case busv1.SocketsAction_SOCKETS_ACTION_LEAVE:
			reply.Sockets = uint32(sel.Leave(op.Rooms...))
		case busv1.SocketsAction_SOCKETS_ACTION_DISCONNECT:
			reply.Sockets = uint32(sel.Disconnect(op.CloseConnection))
		case busv1.SocketsAction_SOCKETS_ACTION_SET_DATA:
			if err := setData(sel, op, reply); err != nil {
				c.refuse(m, sbv1.EdgeErrorCode_EDGE_ERROR_CODE_INVALID, "set data: %v", err)
				return
			}
		default:
			// An action of a newer control: saying 0 sockets would be a lie.
			c.refuse(m, sbv1.EdgeErrorCode_EDGE_ERROR_CODE_UNSUPPORTED, "sockets action %v not known to this edge (version %s)", op.Action, Version)
			return
		}
	}
	c.answer(m, &busv1.EdgeReply{Reply: &busv1.EdgeReply_Sockets{Sockets: reply}})
}

// onQuery answers a page of sockets or rooms: those after q.After, in
// order, at most q.Limit of them, so that a reply is bounded whatever the
// edge holds.
func (c *cluster) onQuery(m *nats.Msg, q *busv1.Query) {
	reply := &busv1.QueryReply{}
	switch q.Kind {
	case busv1.QueryKind_QUERY_KIND_SOCKETS:
		socks := c.querySockets(q)
		reply.Total = uint32(len(socks))
		if q.Limit == 0 {
			break
		}
		i, _ := slices.BinarySearchFunc(socks, q.After, func(s *socketio.Socket, after string) int {
			return strings.Compare(s.ID(), after)
		})
		if i < len(socks) && socks[i].ID() == q.After {
			i++
		}
		page := socks[i:]
		if len(page) > int(q.Limit) {
			page, reply.Truncated = page[:q.Limit], true
		}
		for _, s := range page {
			reply.Sockets = append(reply.Sockets, c.describe(s))
		}
	case busv1.QueryKind_QUERY_KIND_ROOMS:
		if ns, _ := c.selector(q.Target); ns != nil {
			rooms := ns.Rooms()
			names := make([]string, 0, len(rooms))
			for name := range rooms {
				if name > q.After {
					names = append(names, name)
				}
			}
			slices.Sort(names)
			if len(names) > int(q.Limit) {
				names, reply.Truncated = names[:q.Limit], true
			}
			for _, name := range names {
				reply.Rooms = append(reply.Rooms, &sbv1.Room{Name: validUTF8(name), Sockets: proto.Uint32(uint32(rooms[name]))})
			}
		}
	}
	c.answer(m, &busv1.EdgeReply{Reply: &busv1.EdgeReply_Query{Query: reply}})
}

// querySockets returns the local sockets a Query selects: those of its
// namespace (or of every namespace), in its room, of its user, with its
// sid, for each of these it sets; sorted by sid unless the query only
// counts them (limit 0).
func (c *cluster) querySockets(q *busv1.Query) []*socketio.Socket {
	t := q.Target
	var spaces []*socketio.Namespace
	if q.AnyNamespace {
		spaces = c.sio.Namespaces()
	} else if ns, _ := c.selector(t); ns != nil {
		spaces = []*socketio.Namespace{ns}
	}
	sel := socketio.Selector{Rooms: first(t.GetRooms()), Users: first(t.GetUsers()), SIDs: first(t.GetSids())}
	var out []*socketio.Socket
	for _, ns := range spaces {
		for _, s := range ns.Select(sel).Sockets() {
			if matches(s, t) {
				out = append(out, s)
			}
		}
	}
	if q.Limit > 0 { // a count (limit 0) needs no order
		slices.SortFunc(out, func(a, b *socketio.Socket) int { return strings.Compare(a.ID(), b.ID()) })
	}
	return out
}

// first is the first element of ss, as a list of at most one.
func first(ss []string) []string { return ss[:min(len(ss), 1)] }

// matches reports whether s passes every filter of a query's target: the
// selection above is the union of its room, user and sid, the filters
// combine.
func matches(s *socketio.Socket, t *sbv1.Target) bool {
	if u := t.GetUsers(); len(u) > 0 && s.User() != u[0] {
		return false
	}
	if id := t.GetSids(); len(id) > 0 && s.ID() != id[0] {
		return false
	}
	if r := t.GetRooms(); len(r) > 0 && !slices.Contains(s.Rooms(), r[0]) {
		return false
	}
	return true
}

// validUTF8 makes a string that a client chose fit for a protobuf string
// field, which must hold UTF-8 (or the whole message fails to encode): each
// run of bytes that is not UTF-8 becomes U+FFFD. A valid string is returned
// as it is, without a copy.
func validUTF8(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }

// validUTF8s is validUTF8 for each string; ss itself when all are valid.
func validUTF8s(ss []string) []string {
	for i, s := range ss {
		if !utf8.ValidString(s) {
			out := slices.Clone(ss)
			for j := i; j < len(out); j++ {
				out[j] = validUTF8(out[j])
			}
			return out
		}
	}
	return ss
}

// validValue makes every string of a JSON-like value (maps, slices,
// strings) UTF-8, for structpb; other values are returned as they are.
func validValue(v any) any {
	switch x := v.(type) {
	case string:
		return validUTF8(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = validValue(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[validUTF8(k)] = validValue(e)
		}
		return out
	}
	return v
}

// describe renders a socket for ListSockets and lifecycle events. Whatever
// the client sent (headers, query, auth, the names it chose) may hold bytes
// that are not UTF-8: every string goes through validUTF8.
func (c *cluster) describe(s *socketio.Socket) *sbv1.Socket {
	hs := s.Handshake()
	out := &sbv1.Socket{
		Sid:       s.ID(),
		Namespace: validUTF8(s.Namespace().Name()),
		Rooms:     validUTF8s(s.Rooms()),
		User:      validUTF8(s.User()),
		EdgeId:    c.id,
		Handshake: &sbv1.Handshake{
			Headers:       joinHeader(hs.Header, c.hidden),
			Query:         make(map[string]string, len(hs.Query)),
			RemoteAddress: validUTF8(hs.Address),
			ConnectedAt:   timestamppb.New(hs.Time),
			Transport:     transportEnum(s.Transport()),
		},
	}
	for k, v := range hs.Query {
		addJoined(out.Handshake.Query, validUTF8(k), validUTF8(strings.Join(v, ",")), ",")
	}
	// The payload's token is a credential as the header is (the JWT mode
	// reads both): hidden with it.
	out.Handshake.AuthJson = authJSON(hs.Auth, c.hidden["authorization"])
	out.DataJson = dataJSON(s.Data())
	return out
}

// authJSON renders a CONNECT's auth payload (a JSON object, or nothing) as
// JSON text in the client's key order, without its member "token" when
// hideToken is set; "" when there is none or it is not an object.
func authJSON(raw []byte, hideToken bool) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' || !json.Valid(raw) {
		return ""
	}
	if !hideToken {
		return validUTF8(string(raw))
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	out := []byte{'{'}
	if _, err := dec.Token(); err != nil { // {
		return ""
	}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return ""
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return ""
		}
		if k == "token" {
			continue
		}
		if len(out) > 1 {
			out = append(out, ',')
		}
		key, _ := json.Marshal(k)
		out = append(append(append(out, key...), ':'), v...)
	}
	return validUTF8(string(append(out, '}')))
}

// dataJSON renders a socket's data (socketio.Socket.Data) as JSON text;
// "" when there is none or it is not JSON-like.
func dataJSON(d any) string {
	if d == nil {
		return ""
	}
	b, err := json.Marshal(validValue(d))
	if err != nil {
		return ""
	}
	return string(b)
}

// addJoined sets m[k] to v, or appends v with sep when k is there already:
// two names that were not UTF-8 may have become the same.
func addJoined(m map[string]string, k, v, sep string) {
	if old, ok := m[k]; ok {
		v = old + sep + v
	}
	m[k] = v
}

// joinHeader renders a handshake's headers by lower-case name, without
// those hidden names.
func joinHeader(h http.Header, hidden map[string]bool) map[string]string {
	out := make(map[string]string, len(h))
	for k, v := range h {
		name := strings.ToLower(k)
		if hidden[name] {
			continue
		}
		sep := ", "
		if name == "cookie" {
			sep = "; "
		}
		addJoined(out, validUTF8(name), validUTF8(strings.Join(v, sep)), sep)
	}
	return out
}

// hiddenByDefault are the handshake headers ListSockets and lifecycle
// events leave out unless Config.ExposeHeaders names them: they hold a
// browser's credentials, which any API caller could otherwise read. The
// auth payload's "token" is hidden with authorization.
var hiddenByDefault = []string{"cookie", "authorization", "proxy-authorization"}

// hiddenHeaders returns hiddenByDefault less those expose names (any
// case); "*" exposes all.
func hiddenHeaders(expose []string) map[string]bool {
	hidden := make(map[string]bool, len(hiddenByDefault))
	for _, h := range hiddenByDefault {
		hidden[h] = true
	}
	for _, e := range expose {
		if e == "*" {
			return nil
		}
		delete(hidden, strings.ToLower(e))
	}
	return hidden
}

// CheckHeaderName checks a name of Config.ExposeHeaders: "*" or an HTTP
// header name (a token: letters, digits and !#$%&'*+-.^_`|~).
func CheckHeaderName(name string) error {
	if name == "*" {
		return nil
	}
	if name == "" || strings.ContainsFunc(name, func(r rune) bool {
		return r > 0x7e || !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || strings.ContainsRune("!#$%&'*+-.^_`|~", r))
	}) {
		return errors.New("want an HTTP header name, such as cookie, or *")
	}
	return nil
}

func transportEnum(t string) sbv1.Transport {
	switch t {
	case engineio.TransportPolling:
		return sbv1.Transport_TRANSPORT_POLLING
	case engineio.TransportWebSocket:
		return sbv1.Transport_TRANSPORT_WEBSOCKET
	}
	return sbv1.Transport_TRANSPORT_UNSPECIFIED
}

func (c *cluster) heartbeats() {
	defer c.wg.Done()
	t := time.NewTicker(c.interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			c.publishHeartbeat(false)
			c.expire()
		case <-c.stop:
			return
		}
	}
}

func (c *cluster) expire() {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, t := range c.seen {
		if now.Sub(t) > dedupeTTL {
			delete(c.seen, id)
		}
	}
	for reply, p := range c.pending {
		// A socket that disconnected took its acks along (dropAcks), but
		// one of its events may have crossed the disconnect.
		if now.Sub(p.created) > c.ackTTL || !p.s.Connected() {
			c.forgetLocked(reply, p.s)
		}
	}
}

func (c *cluster) publishHeartbeat(stopping bool) {
	st := c.sio.Engine().Stats()
	sockets := 0
	for _, ns := range c.sio.Namespaces() {
		sockets += ns.Len()
	}
	hb := &busv1.EdgeHeartbeat{
		EdgeId:      c.id,
		Address:     c.addr,
		Version:     Version,
		StartedAt:   timestamppb.New(c.started),
		SentAt:      timestamppb.Now(),
		Connections: uint32(st.Sessions),
		Sockets:     uint32(sockets),
		Interval:    durationpb.New(c.interval),
		Stopping:    stopping,
		Counters:    c.counters(),
	}
	// Not a publish failure of the counters': the next heartbeat follows.
	if err := bus.Publish(c.nc, c.subj.Heartbeat(), hb); err != nil {
		c.log.Warn("edge: publish heartbeat", "err", err)
	}
}

// counters are what the edge refused or cut, for its heartbeat.
func (c *cluster) counters() *sbv1.EdgeCounters {
	var st Stats
	if c.stats != nil {
		st = c.stats()
	}
	return &sbv1.EdgeCounters{
		RefusedMaxConnections: proto.Uint64(st.RefusedMaxConnections),
		RefusedPerIp:          proto.Uint64(st.RefusedPerIP),
		PostTimeouts:          proto.Uint64(st.Engine.PostTimeouts),
		SlowConsumers:         proto.Uint64(st.Engine.SlowConsumers),
		WriteTimeouts:         proto.Uint64(st.Engine.WriteTimeouts),
		NamespacesRefused:     proto.Uint64(st.SocketIO.NamespacesRefused),
		ConnectsRefused:       proto.Uint64(st.ConnectsRefused),
		AuthFailures:          proto.Uint64(st.AuthFailures),
		RoomJoinsRefused:      proto.Uint64(st.SocketIO.RoomJoinsRefused),
		AcksRefused:           proto.Uint64(c.acksRefused.Load()),
		SocketsOmitted:        proto.Uint64(c.omitted.Load()),
		BusDropped:            proto.Uint64(c.busDropped()),
		OperationsDropped:     proto.Uint64(c.opsDropped.Load()),
		PublishFailures:       proto.Uint64(c.pubFailed.Load()),
		ReplyFailures:         proto.Uint64(c.replyFails.Load()),
		AcksNoResponder:       proto.Uint64(c.noResponder.Load()),
	}
}
