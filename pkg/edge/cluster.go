package edge

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	sbv1 "github.com/switchboard-rt/switchboard/gen/switchboard/v1"
	"github.com/switchboard-rt/switchboard/pkg/bus"
	"github.com/switchboard-rt/switchboard/pkg/engineio"
	"github.com/switchboard-rt/switchboard/pkg/socketio"
)

// Version is the version edges and control report.
const Version = "0.1.0-dev"

// edgeIDLen is the length of an edge id; every sid starts with its edge's id,
// which is how control routes a sid to its edge without a lookup.
const edgeIDLen = 8

// NewEdgeID returns a random edge id: edgeIDLen lowercase letters and digits.
func NewEdgeID() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	var b [edgeIDLen]byte
	_, _ = rand.Read(b[:])
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b[:])
}

// EdgeOfSID returns the edge id a sid names, or "" for a sid not made by an
// edge.
func EdgeOfSID(sid string) string {
	if len(sid) <= edgeIDLen {
		return ""
	}
	return sid[:edgeIDLen]
}

// cluster connects an edge to the bus: interest-based subscriptions for its
// rooms, users and namespaces, the commands control sends, client events and
// lifecycle out, heartbeats.
//
// One dispatcher goroutine handles every command in arrival order (NATS
// channel subscriptions, no goroutine per subscription); EmitWithAck waits
// run on goroutines of their own. The heartbeat goroutine also expires
// dedupe entries and pending client acks.
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
	msgs     chan *nats.Msg
	fixed    []*nats.Subscription

	ackSeq  atomic.Uint64
	flushed atomic.Uint64 // Interest.Created() as of the last completed flush
	mu      sync.Mutex
	seen    map[string]time.Time   // guarded by mu; broadcast ids acted on (multi-copy only)
	pending map[string]*pendingAck // guarded by mu; client events awaiting a service's ack, by reply token

	wg   sync.WaitGroup
	stop chan struct{}

	leaving   chan struct{} // closed by leave, when the edge starts to stop
	leaveOnce sync.Once

	// lost receives why the NATS connection closed for good while the edge
	// was not stopping (nats.go gives up on a connection after some server
	// errors, whatever MaxReconnects says): Run then stops the edge, rather
	// than go on serving clients that no emit can reach. Capacity 1.
	lost chan error
}

type pendingAck struct {
	ev      *socketio.Event
	created time.Time
}

// dedupeTTL is how long a broadcast id is remembered: longer than any copy
// of it can trail the first.
const dedupeTTL = 30 * time.Second

// pendingAckTTL bounds how long a client event waits for a service's ack.
const pendingAckTTL = 10 * time.Minute

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
		msgs:     make(chan *nats.Msg, 1<<16),
		seen:     make(map[string]time.Time),
		pending:  make(map[string]*pendingAck),
		stop:     make(chan struct{}),
		leaving:  make(chan struct{}),
		lost:     make(chan error, 1),
	}
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
	if err := c.nc.Flush(); err != nil {
		return fmt.Errorf("NATS flush: %w", err)
	}
	c.wg.Add(2)
	go c.dispatch()
	go c.heartbeats()
	c.publishHeartbeat(false)
	return nil
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
	// namespace: cheap (namespaces are few) and already in place when the
	// first socket connects.
	c.addInterest(c.subj.Namespace(name))
	ns.OnAdmit(c.flushNewInterest)
	ns.OnConnect(func(s *socketio.Socket) {
		c.publish(c.subj.Lifecycle(name), &sbv1.LifecycleEvent{Event: &sbv1.LifecycleEvent_Connected{
			Connected: &sbv1.SocketConnected{Socket: c.describe(s)},
		}})
	})
	ns.OnDisconnect(func(s *socketio.Socket, reason string) {
		c.publish(c.subj.Lifecycle(name), &sbv1.LifecycleEvent{Event: &sbv1.LifecycleEvent_Disconnected{
			Disconnected: &sbv1.SocketDisconnected{
				Sid: s.ID(), Namespace: name, User: s.User(), EdgeId: c.id, Rooms: s.Rooms(),
				Reason: reason, DisconnectedAt: timestamppb.Now(),
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

func (c *cluster) addInterest(subject string) {
	if err := c.interest.Add(subject); err != nil {
		c.log.Error("edge: subscribe", "subject", subject, "err", err)
	}
}

func (c *cluster) publish(subject string, m proto.Message) {
	if err := bus.Publish(c.nc, subject, m); err != nil {
		c.log.Warn("edge: publish", "subject", subject, "err", err)
	}
}

// onClientEvent publishes what a client emitted; an event that asks for an
// ack carries a reply subject that the service answers on.
func (c *cluster) onClientEvent(s *socketio.Socket, ev *socketio.Event) {
	ce := &sbv1.ClientEvent{
		Namespace:  s.Namespace().Name(),
		Sid:        s.ID(),
		User:       s.User(),
		EdgeId:     c.id,
		Event:      ev.Name,
		ArgsJson:   ev.Args,
		Binary:     ev.Attachments,
		ReceivedAt: timestamppb.Now(),
	}
	subject := c.subj.Event(ce.Namespace, ev.Name)
	if !ev.WantsAck() {
		c.publish(subject, ce)
		return
	}
	reply := c.subj.Ack(c.id, strconv.FormatUint(c.ackSeq.Add(1), 36))
	c.mu.Lock()
	c.pending[reply] = &pendingAck{ev: ev, created: time.Now()}
	c.mu.Unlock()
	if err := bus.PublishRequest(c.nc, subject, reply, ce); err != nil {
		c.log.Warn("edge: publish", "subject", subject, "err", err)
	}
}

// dispatch handles every command in arrival order.
func (c *cluster) dispatch() {
	defer c.wg.Done()
	for {
		select {
		case m := <-c.msgs:
			c.handle(m)
		case <-c.stop:
			return
		}
	}
}

func (c *cluster) handle(m *nats.Msg) {
	if strings.HasPrefix(m.Subject, c.subj.AckPrefix()) {
		c.onEventAck(m)
		return
	}
	var cmd sbv1.EdgeCommand
	if err := proto.Unmarshal(m.Data, &cmd); err != nil {
		c.log.Warn("edge: undecodable command", "subject", m.Subject, "err", err)
		return
	}
	switch x := cmd.Command.(type) {
	case *sbv1.EdgeCommand_Broadcast:
		c.onBroadcast(m, x.Broadcast)
	case *sbv1.EdgeCommand_Sockets:
		c.onSockets(m, x.Sockets)
	case *sbv1.EdgeCommand_Query:
		c.onQuery(m, x.Query)
	case *sbv1.EdgeCommand_Announce:
		c.publishHeartbeat(false)
	}
}

func (c *cluster) onEventAck(m *nats.Msg) {
	c.mu.Lock()
	p := c.pending[m.Subject]
	delete(c.pending, m.Subject)
	c.mu.Unlock()
	var ack sbv1.EventAck
	delivered := false
	if p != nil && proto.Unmarshal(m.Data, &ack) == nil && p.ev.Socket().Connected() {
		delivered = p.ev.AckRaw(ack.ArgsJson, ack.Attachments) == nil
	}
	_ = bus.Respond(m, &sbv1.EventAckReply{Delivered: delivered})
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

// copies is how many subjects control published a broadcast on, as the bus
// contract defines it: one per room, per user, per distinct edge named by a
// sid or by a room that has the form of a sid, or the namespace subject alone.
func copies(t *sbv1.Target) int {
	edges := map[string]bool{}
	for _, sid := range t.GetSids() {
		edges[EdgeOfSID(sid)] = true
	}
	for _, r := range t.GetRooms() {
		if e := EdgeOfSID(r); validEdgeID(e) {
			edges[e] = true
		}
	}
	n := len(t.GetRooms()) + len(t.GetUsers()) + len(edges)
	if n == 0 {
		return 1
	}
	return n
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

func (c *cluster) onBroadcast(m *nats.Msg, b *sbv1.Broadcast) {
	if copies(b.Target) > 1 && !c.firstCopy(b.Id) {
		return
	}
	ns, op := c.selector(b.Target)
	if ns == nil {
		_ = bus.Respond(m, &sbv1.BroadcastReply{EdgeId: c.id})
		return
	}
	if b.AckTimeout == nil {
		if b.Volatile {
			op = op.Volatile()
		}
		n := op.Send(socketio.NewEncodedText(b.Packet, b.Attachments))
		_ = bus.Respond(m, &sbv1.BroadcastReply{EdgeId: c.id, Sockets: uint32(n)})
		return
	}
	c.broadcastWithAck(m, ns, op, b)
}

// broadcastWithAck asks every selected socket for an ack under one id and
// answers once all did or the timeout passed.
func (c *cluster) broadcastWithAck(m *nats.Msg, ns *socketio.Namespace, op *socketio.BroadcastOperator, b *sbv1.Broadcast) {
	id := ns.NextAckID()
	p, _, err := socketio.ParseText(b.Packet)
	if err != nil {
		c.log.Warn("edge: bad broadcast packet", "err", err)
		_ = bus.Respond(m, &sbv1.BroadcastReply{EdgeId: c.id})
		return
	}
	p.ID, p.HasID = id, true
	p.Attachments = b.Attachments // AppendText writes their count
	enc := socketio.NewEncodedText(p.AppendText(nil), b.Attachments)

	type answer struct {
		sid string
		ack *sbv1.BroadcastAck
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
			answers <- answer{sid: sid, ack: &sbv1.BroadcastAck{Sid: sid, ArgsJson: args, Attachments: att}}
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
		reply := &sbv1.BroadcastReply{EdgeId: c.id, Sockets: uint32(len(asked))}
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
		_ = bus.Respond(m, reply)
	}()
}

func (c *cluster) onSockets(m *nats.Msg, op *sbv1.SocketsOperation) {
	reply := &sbv1.SocketsOperationReply{EdgeId: c.id}
	if _, sel := c.selector(op.Target); sel != nil {
		switch op.Action {
		case sbv1.SocketsAction_SOCKETS_ACTION_JOIN:
			reply.Sockets = uint32(sel.Join(op.Rooms...))
		case sbv1.SocketsAction_SOCKETS_ACTION_LEAVE:
			reply.Sockets = uint32(sel.Leave(op.Rooms...))
		case sbv1.SocketsAction_SOCKETS_ACTION_DISCONNECT:
			reply.Sockets = uint32(sel.Disconnect(op.CloseConnection))
		}
	}
	_ = bus.Respond(m, reply)
}

func (c *cluster) onQuery(m *nats.Msg, q *sbv1.Query) {
	reply := &sbv1.QueryReply{EdgeId: c.id}
	ns, sel := c.selector(q.Target)
	if ns != nil {
		switch q.Kind {
		case sbv1.QueryKind_QUERY_KIND_SOCKETS:
			for _, s := range sel.Sockets() {
				reply.Sockets = append(reply.Sockets, c.describe(s))
			}
		case sbv1.QueryKind_QUERY_KIND_ROOMS:
			for name, n := range ns.Rooms() {
				reply.Rooms = append(reply.Rooms, &sbv1.Room{Name: name, Sockets: uint32(n)})
			}
		}
	}
	_ = bus.Respond(m, reply)
}

// describe renders a socket for ListSockets and lifecycle events.
func (c *cluster) describe(s *socketio.Socket) *sbv1.Socket {
	hs := s.Handshake()
	out := &sbv1.Socket{
		Sid:       s.ID(),
		Namespace: s.Namespace().Name(),
		Rooms:     s.Rooms(),
		User:      s.User(),
		EdgeId:    c.id,
		Handshake: &sbv1.Handshake{
			Headers:       joinHeader(hs.Header),
			Query:         map[string]string{},
			RemoteAddress: hs.Address,
			ConnectedAt:   timestamppb.New(hs.Time),
			Transport:     transportEnum(s.Transport()),
		},
	}
	for k, v := range hs.Query {
		out.Handshake.Query[k] = strings.Join(v, ",")
	}
	var auth map[string]any
	if json.Unmarshal(hs.Auth, &auth) == nil {
		if st, err := structpb.NewStruct(auth); err == nil {
			out.Handshake.Auth = st
		}
	}
	if d := s.Data(); d != nil {
		if v, err := structpb.NewValue(d); err == nil {
			out.Data = v
		}
	}
	return out
}

func joinHeader(h http.Header) map[string]string {
	out := make(map[string]string, len(h))
	for k, v := range h {
		sep := ", "
		if k == "Cookie" {
			sep = "; "
		}
		out[strings.ToLower(k)] = strings.Join(v, sep)
	}
	return out
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
	for k, p := range c.pending {
		if now.Sub(p.created) > pendingAckTTL || !p.ev.Socket().Connected() {
			delete(c.pending, k)
		}
	}
}

func (c *cluster) publishHeartbeat(stopping bool) {
	st := c.sio.Engine().Stats()
	sockets := 0
	for _, ns := range c.sio.Namespaces() {
		sockets += ns.Len()
	}
	c.publish(c.subj.Heartbeat(), &sbv1.EdgeHeartbeat{
		EdgeId:      c.id,
		Address:     c.addr,
		Version:     Version,
		StartedAt:   timestamppb.New(c.started),
		SentAt:      timestamppb.Now(),
		Connections: uint32(st.Sessions),
		Sockets:     uint32(sockets),
		Interval:    durationpb.New(c.interval),
		Stopping:    stopping,
	})
}
