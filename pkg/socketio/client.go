package socketio

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/switchboard-rt/switchboard/pkg/engineio"
)

// client is one Engine.IO session seen by Socket.IO: it multiplexes the
// sockets of several namespaces.
type client struct {
	srv  *Server
	sess *engineio.Session
	dec  Decoder // used only from OnMessage, which engineio serializes

	mu      sync.Mutex
	sockets map[string]*Socket // guarded by mu; by namespace name
	closed  bool               // guarded by mu

	connectTimer engineio.Timer
	// partialTimer runs while a binary packet waits for its attachments.
	partialTimer engineio.Timer
}

func (c *client) onPartialTimeout() {
	c.srv.log.Debug("socketio: closing connection: a binary packet's attachments did not arrive in time", "eio", c.sess.ID())
	c.sess.CloseWithReason(engineio.ReasonParseError)
}

func (c *client) onConnectTimeout() {
	c.mu.Lock()
	idle := len(c.sockets) == 0 && !c.closed
	c.mu.Unlock()
	if idle {
		c.sess.CloseWithReason("connect timeout")
	}
}

// send queues an encoded packet on the connection.
func (c *client) send(e *Encoded, volatile bool) error {
	if volatile {
		if !c.sess.SendVolatile(e.msgs...) {
			return errDropped
		}
		return nil
	}
	return c.sess.Send(e.msgs...)
}

var errDropped = errors.New("socketio: volatile packet dropped")

// connectQueued is a test hook (export_test.go), called once a socket's
// CONNECT packet is queued.
var connectQueued atomic.Pointer[func(*Socket)]

// OnMessage implements engineio.SessionHandler.
func (c *client) OnMessage(data []byte, binary bool) {
	var p *Packet
	var err error
	if binary {
		p, err = c.dec.DecodeBinary(data)
	} else {
		p, err = c.dec.DecodeText(data)
	}
	if err != nil {
		c.srv.eio.Scheduler().Cancel(&c.partialTimer)
		c.srv.log.Debug("socketio: closing connection on malformed packet", "eio", c.sess.ID(), "err", err)
		c.sess.CloseWithReason(engineio.ReasonParseError)
		return
	}
	if p == nil {
		if !binary {
			// A header: its attachments have AttachmentTimeout to arrive.
			c.srv.eio.Scheduler().Schedule(&c.partialTimer, c.srv.cfg.AttachmentTimeout, c.onPartialTimeout)
		}
		return // waiting for attachments
	}
	if binary {
		c.srv.eio.Scheduler().Cancel(&c.partialTimer)
	}
	c.onPacket(p)
}

func (c *client) onPacket(p *Packet) {
	if p.Type == PacketConnect {
		c.connect(p)
		return
	}
	c.mu.Lock()
	s := c.sockets[p.Namespace]
	c.mu.Unlock()
	if s == nil {
		// A packet for a namespace the client has not joined (or just left:
		// a server-side disconnect can cross an event in flight) is dropped.
		// The reference server closes the whole connection instead, which
		// would punish that race on every other namespace of the client.
		return
	}
	switch p.Type {
	case PacketDisconnect:
		s.onClose(ReasonClientDisconnect, false)
	case PacketEvent, PacketBinaryEvent:
		s.onEvent(p)
	case PacketAck, PacketBinaryAck:
		s.onAck(p)
	case PacketConnectError:
		c.sess.CloseWithReason(engineio.ReasonParseError)
	}
}

// MaxNamespaceLen bounds a namespace's name in bytes, as control bounds the
// names callers give it: a longer one gets CONNECT_ERROR "Invalid
// namespace", like a namespace that is not admitted.
const MaxNamespaceLen = 256

// MaxAuthBytes bounds a CONNECT's auth payload (socket.io-client's `auth`,
// kept with the socket for its life): a larger one gets CONNECT_ERROR "Auth
// payload too large (at most N bytes)". A JWT of a few KB fits.
const MaxAuthBytes = 16 << 10

// connect handles a CONNECT packet: namespace lookup, authentication, then
// the socket.
func (c *client) connect(p *Packet) {
	c.mu.Lock()
	joined := len(c.sockets)
	_, dup := c.sockets[p.Namespace]
	c.mu.Unlock()
	if dup {
		// A second CONNECT to a joined namespace: invalid state, closed as
		// the reference server does.
		c.sess.CloseWithReason(engineio.ReasonParseError)
		return
	}
	if limit := c.srv.cfg.MaxNamespaces; limit > 0 && joined >= limit {
		// Checked before the lookup: a namespace refused so is not created.
		c.srv.namespacesRefused.Add(1)
		c.connectError(p.Namespace, fmt.Sprintf("Too many namespaces on this connection (at most %d)", limit), nil)
		return
	}
	if len(p.Namespace) > MaxNamespaceLen {
		c.connectError(p.Namespace, "Invalid namespace", nil)
		return
	}
	if len(p.Data) > MaxAuthBytes {
		// Kept with the socket for its life, 64 times over a connection:
		// refused before the namespace is looked up or made.
		c.connectError(p.Namespace, fmt.Sprintf("Auth payload too large (at most %d bytes)", MaxAuthBytes), nil)
		return
	}
	ns := c.srv.acquire(p.Namespace)
	if ns == nil {
		c.connectError(p.Namespace, "Invalid namespace", nil)
		return
	}
	auth := json.RawMessage(p.Data)
	if len(auth) == 0 || string(auth) == "null" {
		auth = json.RawMessage("{}")
	}
	req := c.sess.Request()
	hs := &Handshake{
		Header:    req.Header,
		Query:     req.Query,
		Address:   req.RemoteAddr,
		Secure:    req.Secure,
		Time:      req.Time,
		Host:      req.Host,
		Transport: c.sess.Transport(),
		Auth:      auth,
		EngineID:  c.sess.ID(),
	}
	var grant ConnectResult
	if ns.authenticate != nil {
		g, err := ns.authenticate(hs)
		if err != nil {
			// Released first: a namespace made for this CONNECT is gone
			// before the client can see the refusal.
			c.srv.release(ns)
			var ce *ConnectError
			if errors.As(err, &ce) {
				c.connectError(p.Namespace, ce.Message, ce.Data)
			} else {
				c.connectError(p.Namespace, err.Error(), nil)
			}
			return
		}
		if g != nil {
			grant = *g
		}
	}
	s := newSocket(ns, c, hs, grant)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		c.srv.release(ns)
		return
	}
	if c.sockets == nil {
		c.sockets = make(map[string]*Socket, 1)
	}
	c.sockets[p.Namespace] = s
	c.mu.Unlock()
	c.srv.eio.Scheduler().Cancel(&c.connectTimer)
	ns.add(s, grant.Rooms)
	for _, fn := range ns.onAdmit {
		fn(s)
	}

	payload, _ := json.Marshal(struct {
		SID string `json:"sid"`
	}{s.id})
	ns.tell(s, func() {
		_ = c.send(NewEncoded(&Packet{Type: PacketConnect, Namespace: p.Namespace, Data: payload}), false)
	})
	if fn := connectQueued.Load(); fn != nil {
		(*fn)(s)
	}
	ns.connected(s)
}

func (c *client) connectError(ns, message string, data any) {
	body := struct {
		Message string `json:"message"`
		Data    any    `json:"data,omitempty"`
	}{message, data}
	b, err := json.Marshal(body)
	if err != nil {
		b, _ = json.Marshal(struct {
			Message string `json:"message"`
		}{message})
	}
	_ = c.send(NewEncoded(&Packet{Type: PacketConnectError, Namespace: ns, Data: b}), false)
}

// OnClose implements engineio.SessionHandler: every socket of the
// connection disconnects with the Engine.IO reason.
func (c *client) OnClose(reason string) {
	c.srv.eio.Scheduler().Cancel(&c.connectTimer)
	c.srv.eio.Scheduler().Cancel(&c.partialTimer)
	c.mu.Lock()
	c.closed = true
	socks := make([]*Socket, 0, len(c.sockets))
	for _, s := range c.sockets {
		socks = append(socks, s)
	}
	c.mu.Unlock()
	for _, s := range socks {
		s.onClose(reason, false)
	}
}

func (c *client) remove(s *Socket) {
	c.mu.Lock()
	if c.sockets[s.ns.name] == s {
		delete(c.sockets, s.ns.name)
	}
	c.mu.Unlock()
}
