package socketio

import (
	"context"
	"errors"
	"maps"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Disconnect reasons, as socket.io names them.
const (
	ReasonClientDisconnect = "client namespace disconnect"
	ReasonServerDisconnect = "server namespace disconnect"
)

// ErrDisconnected is returned for acks of a socket that disconnected.
var ErrDisconnected = errors.New("socketio: socket disconnected")

// EventHandler handles one event of a socket.
type EventHandler func(s *Socket, e *Event)

// Socket is one client connected to one namespace.
type Socket struct {
	id        string
	ns        *Namespace
	client    *client
	handshake *Handshake
	user      string

	connected bool                // guarded by ns.mu
	told      bool                // guarded by ns.mu; its CONNECT packet is queued: selections see it
	rooms     map[string]struct{} // guarded by ns.mu; without the socket's own id room

	mu       sync.Mutex
	acks     map[int64]ackFunc       // guarded by mu; acks the client owes
	acksDone bool                    // guarded by mu; onClose has failed the acks, no more are taken
	handlers map[string]EventHandler // guarded by mu
	data     any                     // guarded by mu

	eventRate *rate.Limiter // admitEvent's, made on the first event; the message path's own
}

type ackFunc func(args []byte, attachments [][]byte, err error)

func newSocket(ns *Namespace, c *client, hs *Handshake, grant ConnectResult) *Socket {
	// The socket's Handshake.Time is when it is admitted to its namespace,
	// not when its connection's first request came (which may be long
	// before: a connection joins namespaces whenever it likes, and
	// authorization takes its time). A copy, so that nothing Authenticate
	// may still hold is written to.
	admitted := *hs
	admitted.Time = time.Now()
	return &Socket{
		id:        ns.srv.cfg.NewSocketID(),
		ns:        ns,
		client:    c,
		handshake: &admitted,
		user:      grant.User,
		data:      grant.Data,
	}
}

// ID returns the socket id (socket.io's socket.id), also its own room.
func (s *Socket) ID() string { return s.id }

// Namespace returns the socket's namespace.
func (s *Socket) Namespace() *Namespace { return s.ns }

// Handshake returns how the socket connected; its Time is when the socket
// was admitted to its namespace.
func (s *Socket) Handshake() *Handshake { return s.handshake }

// User returns the user id granted at connect, "" if anonymous.
func (s *Socket) User() string { return s.user }

// Transport returns the connection's current transport.
func (s *Socket) Transport() string { return s.client.sess.Transport() }

// Data returns the application data attached to the socket. The value is
// shared with whoever else reads it: treat it as read-only. SetData and
// MergeData replace it and never modify it, so that a reader needs no lock
// past this call.
func (s *Socket) Data() any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.data
}

// SetData attaches application data to the socket, replacing what it had.
// v is kept as it is, maybe by many sockets: it must not be modified after.
func (s *Socket) SetData(v any) {
	s.mu.Lock()
	s.data = v
	s.mu.Unlock()
}

// MergeData merges m into the socket's data, atomically: when the data is a
// map[string]any, m's keys replace its keys (a shallow merge, as Python's
// dict.update) in a new map; otherwise m replaces the data. fits, when not
// nil, may refuse the result (a size limit), which leaves the data as it
// was; it runs under the socket's lock and must not call its methods.
// MergeData reports whether the data changed. m is kept, maybe by many
// sockets: it must not be modified after.
func (s *Socket) MergeData(m map[string]any, fits func(merged map[string]any) bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	merged := m
	if old, ok := s.data.(map[string]any); ok && len(old) > 0 {
		merged = make(map[string]any, len(old)+len(m))
		maps.Copy(merged, old)
		maps.Copy(merged, m)
	}
	if fits != nil && !fits(merged) {
		return false
	}
	s.data = merged
	return true
}

// UpdateData replaces the socket's data with what update makes of it,
// atomically (a read-modify-write no other change comes between): update
// gets the data as it is, must not modify it, and returns the new data
// and whether to keep it (false leaves the data as it was). It runs under
// the socket's lock and must not call its methods. UpdateData returns the
// data the socket has after the call and whether update's was kept.
func (s *Socket) UpdateData(update func(old any) (any, bool)) (any, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := update(s.data)
	if ok {
		s.data = v
	}
	return s.data, ok
}

// Connected reports whether the socket is still connected.
func (s *Socket) Connected() bool {
	s.ns.mu.RLock()
	defer s.ns.mu.RUnlock()
	return s.connected
}

// Rooms returns the rooms of the socket, its own id room first. After a
// disconnect it returns the rooms the socket was in.
func (s *Socket) Rooms() []string {
	s.ns.mu.RLock()
	out := make([]string, 0, 1+len(s.rooms))
	for r := range s.rooms {
		out = append(out, r)
	}
	s.ns.mu.RUnlock()
	sort.Strings(out)
	return append([]string{s.id}, out...)
}

// ErrTooManyRooms is Join's error for a socket in Config.MaxRoomsPerSocket
// rooms.
var ErrTooManyRooms = errors.New("socketio: socket is in the maximum number of rooms")

// Join adds the socket to rooms, in order. When the socket is in
// Config.MaxRoomsPerSocket rooms before it joined them all, the rest are
// not joined and Join returns ErrTooManyRooms.
func (s *Socket) Join(rooms ...string) error {
	s.ns.mu.Lock()
	defer s.ns.mu.Unlock()
	for _, r := range rooms {
		if !s.ns.joinLocked(s, r) {
			return ErrTooManyRooms
		}
	}
	return nil
}

// Leave removes the socket from rooms.
func (s *Socket) Leave(rooms ...string) {
	s.ns.mu.Lock()
	defer s.ns.mu.Unlock()
	for _, r := range rooms {
		s.ns.leaveLocked(s, r)
	}
}

// On sets the handler of one event for this socket.
func (s *Socket) On(event string, h EventHandler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.handlers == nil {
		s.handlers = make(map[string]EventHandler)
	}
	s.handlers[event] = h
}

// Emit sends an event to this socket. []byte arguments (also inside
// []any and map[string]any) travel as binary attachments.
func (s *Socket) Emit(event string, args ...any) error {
	e, err := EncodeEvent(s.ns.name, event, args...)
	if err != nil {
		return err
	}
	return s.Send(e)
}

// Send sends an encoded packet to this socket.
func (s *Socket) Send(e *Encoded) error { return s.client.send(e, false) }

// Ack is a client's answer to an emit with ack.
type Ack struct {
	Args        []byte   // JSON array of the ack arguments
	Attachments [][]byte // binary parts referenced from Args
}

// EmitWithAck sends an event and waits for the client's ack, until ctx ends.
func (s *Socket) EmitWithAck(ctx context.Context, event string, args ...any) (*Ack, error) {
	id := s.ns.NextAckID()
	e, err := EncodeEventWithID(s.ns.name, id, event, args...)
	if err != nil {
		return nil, err
	}
	type result struct {
		ack *Ack
		err error
	}
	ch := make(chan result, 1)
	if !s.ExpectAck(id, func(a []byte, att [][]byte, err error) {
		ch <- result{&Ack{Args: a, Attachments: att}, err}
	}) {
		return nil, ErrDisconnected
	}
	if err := s.Send(e); err != nil {
		s.CancelAck(id)
		return nil, err
	}
	select {
	case r := <-ch:
		return r.ack, r.err
	case <-ctx.Done():
		s.CancelAck(id)
		return nil, ctx.Err()
	}
}

// ExpectAck registers fn to receive the client's ack with that id (or
// ErrDisconnected). It reports false when the socket is gone.
func (s *Socket) ExpectAck(id int64, fn func(args []byte, attachments [][]byte, err error)) bool {
	if !s.Connected() {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.acksDone {
		// onClose ran since the check above: an ack registered now would
		// never be answered nor failed.
		return false
	}
	if s.acks == nil {
		s.acks = make(map[int64]ackFunc)
	}
	s.acks[id] = fn
	return true
}

// CancelAck forgets an expected ack.
func (s *Socket) CancelAck(id int64) {
	s.mu.Lock()
	delete(s.acks, id)
	s.mu.Unlock()
}

// Disconnect disconnects the socket from its namespace; with closeConn the
// whole connection closes (every namespace on it).
func (s *Socket) Disconnect(closeConn bool) {
	pkt := NewEncoded(&Packet{Type: PacketDisconnect, Namespace: s.ns.name})
	if s.Connected() {
		_ = s.Send(pkt)
	}
	s.onClose(ReasonServerDisconnect, true)
	if closeConn {
		s.client.mu.Lock()
		others := make([]*Socket, 0, len(s.client.sockets))
		for _, o := range s.client.sockets {
			others = append(others, o)
		}
		s.client.mu.Unlock()
		for _, o := range others {
			o.Disconnect(false)
		}
		s.client.sess.Close()
	}
}

// onClose removes the socket and runs the disconnect hooks, once.
func (s *Socket) onClose(reason string, _ bool) {
	if !s.ns.remove(s) {
		return
	}
	s.client.remove(s)
	s.mu.Lock()
	acks := s.acks
	s.acks = nil
	s.acksDone = true
	s.mu.Unlock()
	for _, fn := range acks {
		fn(nil, nil, ErrDisconnected)
	}
	for _, fn := range s.ns.onDisconnect {
		fn(s, reason)
	}
	s.ns.srv.release(s.ns) // the reference its CONNECT took
}

// Event is an event a client emitted.
type Event struct {
	Name        string
	Args        []byte   // JSON array of the arguments, binary parts as placeholders
	Attachments [][]byte // binary parts, in placeholder order
	socket      *Socket
	ackID       int64
	hasAck      bool
	acked       atomic.Bool
}

// Socket returns the socket that emitted the event.
func (e *Event) Socket() *Socket { return e.socket }

// WantsAck reports whether the client asked for an acknowledgement.
func (e *Event) WantsAck() bool { return e.hasAck }

// Ack answers the event; only the first call sends anything.
func (e *Event) Ack(args ...any) error {
	data, att, err := MarshalArgs(args)
	if err != nil {
		return err
	}
	return e.AckRaw(data, att)
}

// AckRaw answers the event with a JSON array of arguments and binary parts.
func (e *Event) AckRaw(args []byte, attachments [][]byte) error {
	if !e.hasAck || !e.acked.CompareAndSwap(false, true) {
		return nil
	}
	return e.socket.SendAck(e.ackID, args, attachments)
}

// AckID returns the id the client asked for an ack with; it means nothing
// when WantsAck is false. With Socket.SendAck it lets an answer that comes
// later (from another process) be sent without keeping the Event, whose
// arguments may be large.
func (e *Event) AckID() int64 { return e.ackID }

// SendAck answers the client's event id (Event.AckID) with a JSON array of
// arguments and binary parts. Unlike Event.AckRaw it does not check that
// the event asked for an ack nor that it is answered once: the caller
// does.
func (s *Socket) SendAck(id int64, args []byte, attachments [][]byte) error {
	return s.Send(EncodeAck(s.ns.name, id, args, attachments))
}

func (s *Socket) onEvent(p *Packet) {
	name, args, err := SplitEvent(p.Data)
	if err != nil {
		s.client.sess.CloseWithReason("parse error")
		return
	}
	if !s.admitEvent(name) {
		return
	}
	ev := &Event{Name: name, Args: args, Attachments: p.Attachments, socket: s, ackID: p.ID, hasAck: p.HasID}
	s.mu.Lock()
	h := s.handlers[name]
	s.mu.Unlock()
	if h != nil {
		h(s, ev)
	}
	for _, fn := range s.ns.onEvent {
		fn(s, ev)
	}
}

func (s *Socket) onAck(p *Packet) {
	s.mu.Lock()
	fn := s.acks[p.ID]
	delete(s.acks, p.ID)
	s.mu.Unlock()
	if fn != nil {
		fn(p.Data, p.Attachments, nil)
	}
}
