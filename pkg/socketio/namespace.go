package socketio

import (
	"errors"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/switchboard-rt/switchboard/pkg/engineio"
)

// ConnectResult is what Authenticate grants a socket.
type ConnectResult struct {
	User  string   // the user id, "" for anonymous
	Rooms []string // rooms joined at connect
	Data  any      // application data kept on the socket
}

// ConnectError refuses a connection: the client receives CONNECT_ERROR with
// {"message": Message, "data": Data}.
type ConnectError struct {
	Message string
	Data    any
}

func (e *ConnectError) Error() string { return e.Message }

// Namespace is a Socket.IO namespace: its sockets and its local room index.
// Hooks are set before the server starts serving and not changed after.
type Namespace struct {
	srv    *Server
	name   string
	ackIDs atomic.Int64

	authenticate func(*Handshake) (*ConnectResult, error)
	onAdmit      []func(*Socket)
	onConnect    []func(*Socket)
	onDisconnect []func(*Socket, string)
	onEvent      []func(*Socket, *Event)
	roomCreated  func(room string)
	roomDeleted  func(room string)
	userCreated  func(user string)
	userDeleted  func(user string)
	onDelete     []func()

	// dynamic and refs are guarded by srv.mu: a namespace created for a
	// CONNECT (Config.AllowNamespace) counts its sockets and the CONNECTs
	// in progress, and is deleted when the count drops to zero.
	dynamic bool
	refs    int

	mu      sync.RWMutex
	sockets map[string]*Socket              // guarded by mu; connected sockets by id
	rooms   map[string]map[*Socket]struct{} // guarded by mu; rooms other than the sockets' own id rooms
	users   map[string]map[*Socket]struct{} // guarded by mu; sockets of each user id
}

func newNamespace(s *Server, name string) *Namespace {
	return &Namespace{
		srv:     s,
		name:    name,
		sockets: make(map[string]*Socket),
		rooms:   make(map[string]map[*Socket]struct{}),
		users:   make(map[string]map[*Socket]struct{}),
	}
}

// Name returns the namespace name, such as "/" or "/chat".
func (n *Namespace) Name() string { return n.name }

// Authenticate sets the hook that decides at CONNECT whether a socket may
// join. A nil result with a nil error admits the socket anonymously. An
// error refuses it; a *ConnectError chooses the message and data.
func (n *Namespace) Authenticate(fn func(*Handshake) (*ConnectResult, error)) { n.authenticate = fn }

// OnAdmit adds a hook called when a socket is registered (its user and
// initial rooms indexed) but before the client is told it is connected: what
// it does happens-before anything the client can observe.
func (n *Namespace) OnAdmit(fn func(*Socket)) { n.onAdmit = append(n.onAdmit, fn) }

// OnConnect adds a hook called when a socket has connected.
func (n *Namespace) OnConnect(fn func(*Socket)) { n.onConnect = append(n.onConnect, fn) }

// OnDisconnect adds a hook called once when a socket disconnects, with the
// reason ("client namespace disconnect", "transport close", ...).
func (n *Namespace) OnDisconnect(fn func(*Socket, string)) {
	n.onDisconnect = append(n.onDisconnect, fn)
}

// OnEvent adds a hook called for every event of every socket of the
// namespace (after the socket's own handlers).
func (n *Namespace) OnEvent(fn func(*Socket, *Event)) { n.onEvent = append(n.onEvent, fn) }

// OnRoom sets hooks called when a room gets its first local socket and when
// it loses its last one. They run with the namespace locked: they must not
// call back into the namespace.
func (n *Namespace) OnRoom(created, deleted func(room string)) {
	n.roomCreated, n.roomDeleted = created, deleted
}

// OnUser sets hooks called when a user gets its first local socket in the
// namespace and when it loses its last one; like OnRoom, with the namespace
// locked.
func (n *Namespace) OnUser(created, deleted func(user string)) {
	n.userCreated, n.userDeleted = created, deleted
}

// OnDelete adds a hook called once when the namespace is deleted: a
// namespace created for a client's CONNECT (Config.AllowNamespace) goes
// when it has no socket left and no CONNECT in progress; one registered
// with Of never does. The hooks release what the OnNamespace hooks took for
// it. They run with the server's namespace table locked, as OnNamespace
// hooks do: they must not call Of, Namespace or Namespaces. A later CONNECT
// to the same name creates a new namespace.
func (n *Namespace) OnDelete(fn func()) { n.onDelete = append(n.onDelete, fn) }

// NextAckID returns a fresh ack id, unique in the namespace.
func (n *Namespace) NextAckID() int64 { return n.ackIDs.Add(1) }

// Socket returns the connected socket with that id, or nil.
func (n *Namespace) Socket(id string) *Socket {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.sockets[id]
}

// Len returns the number of connected sockets.
func (n *Namespace) Len() int {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return len(n.sockets)
}

// Rooms returns the local rooms (sockets' own id rooms excluded) and their
// socket counts.
func (n *Namespace) Rooms() map[string]int {
	n.mu.RLock()
	defer n.mu.RUnlock()
	out := make(map[string]int, len(n.rooms))
	for r, m := range n.rooms {
		out[r] = len(m)
	}
	return out
}

// add registers a connected socket and its initial rooms.
func (n *Namespace) add(s *Socket, rooms []string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	s.connected = true
	n.sockets[s.id] = s
	if s.user != "" {
		m, ok := n.users[s.user]
		if !ok {
			m = make(map[*Socket]struct{}, 1)
			n.users[s.user] = m
			if n.userCreated != nil {
				n.userCreated(s.user)
			}
		}
		m[s] = struct{}{}
	}
	for _, r := range rooms {
		if !n.joinLocked(s, r) {
			break // counted; the socket connects with the rooms that fit
		}
	}
}

// tell queues s's CONNECT packet (queue) and makes s selectable, in one
// step under the namespace's lock, which every selection takes: a broadcast
// that selected s before its CONNECT was queued would reach the client ahead
// of it, and a selection made once the client could read its CONNECT (a
// service's JoinRoom of its sid, the client's own request) must find it.
// queue must not block (Session.Send does not).
func (n *Namespace) tell(s *Socket, queue func()) {
	n.mu.Lock()
	queue()
	s.told = true
	n.mu.Unlock()
}

func (n *Namespace) connected(s *Socket) {
	for _, fn := range n.onConnect {
		fn(s)
	}
}

// remove unregisters s; it reports whether s was connected.
func (n *Namespace) remove(s *Socket) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !s.connected {
		return false
	}
	s.connected = false
	delete(n.sockets, s.id)
	if m, ok := n.users[s.user]; ok && s.user != "" {
		delete(m, s)
		if len(m) == 0 {
			delete(n.users, s.user)
			if n.userDeleted != nil {
				n.userDeleted(s.user)
			}
		}
	}
	// Out of the room index, but s.rooms stays as it was: disconnect hooks
	// still see the rooms the socket was in (socket.io's "disconnecting").
	for r := range s.rooms {
		n.unindexLocked(s, r)
	}
	return true
}

// joinLocked adds s to room; it reports false when s is in
// MaxRoomsPerSocket rooms already and so does not join (counted).
func (n *Namespace) joinLocked(s *Socket, room string) bool {
	if room == s.id || !s.connected {
		return true
	}
	if _, ok := s.rooms[room]; ok {
		return true
	}
	if limit := n.srv.cfg.MaxRoomsPerSocket; limit > 0 && len(s.rooms) >= limit {
		n.srv.roomJoinsRefused.Add(1)
		return false
	}
	if s.rooms == nil {
		s.rooms = make(map[string]struct{}, 1)
	}
	s.rooms[room] = struct{}{}
	m, ok := n.rooms[room]
	if !ok {
		m = make(map[*Socket]struct{}, 1)
		n.rooms[room] = m
		if n.roomCreated != nil {
			n.roomCreated(room)
		}
	}
	m[s] = struct{}{}
	return true
}

func (n *Namespace) leaveLocked(s *Socket, room string) {
	if _, ok := s.rooms[room]; !ok {
		return
	}
	delete(s.rooms, room)
	if len(s.rooms) == 0 {
		s.rooms = nil
	}
	n.unindexLocked(s, room)
}

// unindexLocked takes s out of the index of room, and the room out of the
// namespace when s was its last member.
func (n *Namespace) unindexLocked(s *Socket, room string) {
	m := n.rooms[room]
	delete(m, s)
	if len(m) == 0 {
		delete(n.rooms, room)
		if n.roomDeleted != nil {
			n.roomDeleted(room)
		}
	}
}

// Selector chooses sockets of a namespace, like socket.io's
// io.to(rooms).except(rooms), with sids and users as more targets: the
// sockets in any of Rooms, or named by SIDs, or of any of Users (every
// socket when all three are empty), minus those in any of Except.
type Selector struct {
	Rooms  []string
	Except []string
	SIDs   []string
	Users  []string
}

// eachLocked calls fn once for every socket sel selects. A socket reached
// through several rooms, sids or users is visited once. A socket's id
// names its own room.
func (n *Namespace) eachLocked(sel *Selector, fn func(*Socket)) int {
	var excluded map[*Socket]struct{}
	if len(sel.Except) > 0 {
		excluded = make(map[*Socket]struct{})
		for _, r := range sel.Except {
			n.membersLocked(r, func(s *Socket) { excluded[s] = struct{}{} })
		}
	}
	count := 0
	visit := func(s *Socket) {
		if !s.told {
			return // still connecting: nothing may reach it before its CONNECT
		}
		if _, ok := excluded[s]; ok {
			return
		}
		count++
		fn(s)
	}
	sources := len(sel.Rooms) + len(sel.SIDs) + len(sel.Users)
	switch {
	case sources == 0:
		for _, s := range n.sockets {
			visit(s)
		}
		return count
	case sources == 1 && len(sel.Rooms) == 1:
		n.membersLocked(sel.Rooms[0], visit)
		return count
	}
	seen := make(map[*Socket]struct{})
	once := func(s *Socket) {
		if _, ok := seen[s]; ok {
			return
		}
		seen[s] = struct{}{}
		visit(s)
	}
	for _, r := range sel.Rooms {
		n.membersLocked(r, once)
	}
	for _, id := range sel.SIDs {
		if s := n.sockets[id]; s != nil {
			once(s)
		}
	}
	for _, u := range sel.Users {
		for s := range n.users[u] {
			once(s)
		}
	}
	return count
}

func (n *Namespace) membersLocked(room string, fn func(*Socket)) {
	s := n.sockets[room]
	if s != nil {
		fn(s)
	}
	for m := range n.rooms[room] {
		if m != s {
			fn(m)
		}
	}
}

// To selects the sockets in any of the rooms, like socket.io's io.to().
func (n *Namespace) To(rooms ...string) *BroadcastOperator {
	return (&BroadcastOperator{ns: n}).To(rooms...)
}

// Except excludes the sockets in any of the rooms.
func (n *Namespace) Except(rooms ...string) *BroadcastOperator {
	return (&BroadcastOperator{ns: n}).Except(rooms...)
}

// Emit sends an event to every socket of the namespace.
func (n *Namespace) Emit(event string, args ...any) (int, error) {
	return (&BroadcastOperator{ns: n}).Emit(event, args...)
}

// BroadcastOperator selects sockets of a namespace, like socket.io's
// BroadcastOperator. Each method returns a new operator.
type BroadcastOperator struct {
	ns       *Namespace
	sel      Selector
	volatile bool
}

// Select returns an operator for the sockets sel chooses.
func (n *Namespace) Select(sel Selector) *BroadcastOperator {
	return &BroadcastOperator{ns: n, sel: sel}
}

// To adds rooms to the selection.
func (b *BroadcastOperator) To(rooms ...string) *BroadcastOperator {
	c := *b
	c.sel.Rooms = append(append([]string(nil), b.sel.Rooms...), rooms...)
	return &c
}

// Except adds rooms whose sockets are excluded.
func (b *BroadcastOperator) Except(rooms ...string) *BroadcastOperator {
	c := *b
	c.sel.Except = append(append([]string(nil), b.sel.Except...), rooms...)
	return &c
}

// Volatile marks the emit as droppable for sockets not ready to write.
func (b *BroadcastOperator) Volatile() *BroadcastOperator {
	c := *b
	c.volatile = true
	return &c
}

// Emit encodes an event once and sends it to every selected socket. It
// returns the number of sockets it was queued for.
func (b *BroadcastOperator) Emit(event string, args ...any) (int, error) {
	e, err := EncodeEvent(b.ns.name, event, args...)
	if err != nil {
		return 0, err
	}
	return b.Send(e), nil
}

// Send sends an encoded packet to every selected socket and returns the
// number of sockets it was queued for.
//
// The selection is copied under the namespace's read lock and the packet
// queued after it is released: queueing to thousands of sockets (and
// starting their writers) must not hold up the connects, disconnects, joins
// and leaves waiting for the write lock.
func (b *BroadcastOperator) Send(e *Encoded) int { return b.SendCounted(e).Queued }

// Delivery is what Send did for each selected socket.
type Delivery struct {
	Selected        int // sockets the selection held
	Queued          int // of them, those the packet was queued for
	DroppedVolatile int // a volatile packet the connection could not take right away
	DroppedSlow     int // the write queue was full: the connection was closed (slow consumer)
	DroppedClosed   int // the connection was already closing
}

// SendCounted is Send, and says what became of the packet for each socket.
func (b *BroadcastOperator) SendCounted(e *Encoded) Delivery {
	bp := targetPool.Get().(*[]*Socket)
	targets := *bp
	b.ns.mu.RLock()
	b.ns.eachLocked(&b.sel, func(s *Socket) { targets = append(targets, s) })
	b.ns.mu.RUnlock()
	d := Delivery{Selected: len(targets)}
	for i, s := range targets {
		switch err := s.client.send(e, b.volatile); {
		case err == nil:
			d.Queued++
		case errors.Is(err, errDropped):
			d.DroppedVolatile++
		case errors.Is(err, engineio.ErrQueueFull):
			d.DroppedSlow++
		default:
			d.DroppedClosed++
		}
		targets[i] = nil
	}
	*bp = targets[:0]
	targetPool.Put(bp)
	return d
}

// targetPool holds the slices Send copies its selection into.
var targetPool = sync.Pool{New: func() any { return new([]*Socket) }}

// Each calls fn for every selected socket, with the namespace read-locked:
// fn must not block nor call back into the namespace. It returns the count.
func (b *BroadcastOperator) Each(fn func(*Socket)) int {
	b.ns.mu.RLock()
	defer b.ns.mu.RUnlock()
	return b.ns.eachLocked(&b.sel, fn)
}

// Sockets returns the selected sockets, like socket.io's fetchSockets.
func (b *BroadcastOperator) Sockets() []*Socket {
	b.ns.mu.RLock()
	defer b.ns.mu.RUnlock()
	var out []*Socket
	b.ns.eachLocked(&b.sel, func(s *Socket) { out = append(out, s) })
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

// Join makes the selected sockets join rooms. It returns how many sockets
// were selected, and how many of them were full: in
// Config.MaxRoomsPerSocket rooms before they joined them all (they joined
// those rooms that fitted, in order).
func (b *BroadcastOperator) Join(rooms ...string) (sockets, full int) {
	b.ns.mu.Lock()
	defer b.ns.mu.Unlock()
	var sel []*Socket
	b.ns.eachLocked(&b.sel, func(s *Socket) { sel = append(sel, s) })
	for _, s := range sel {
		for _, r := range rooms {
			if !b.ns.joinLocked(s, r) {
				full++
				break
			}
		}
	}
	return len(sel), full
}

// Leave makes the selected sockets leave rooms; it returns how many sockets.
func (b *BroadcastOperator) Leave(rooms ...string) int {
	b.ns.mu.Lock()
	defer b.ns.mu.Unlock()
	var sel []*Socket
	b.ns.eachLocked(&b.sel, func(s *Socket) { sel = append(sel, s) })
	for _, s := range sel {
		for _, r := range rooms {
			b.ns.leaveLocked(s, r)
		}
	}
	return len(sel)
}

// Disconnect disconnects the selected sockets (closing their connections
// when closeConn); it returns how many.
func (b *BroadcastOperator) Disconnect(closeConn bool) int {
	socks := b.Sockets()
	for _, s := range socks {
		s.Disconnect(closeConn)
	}
	return len(socks)
}
