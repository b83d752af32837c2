package soak

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	sbv1 "github.com/switchboard-rt/switchboard/gen/switchboard/v1"
)

// ---- a Socket.IO client over a raw WebSocket ----
//
// test/faults and test/hostile each have a client like this one in their
// _test.go files, which no other package can import; theirs also keep
// every message they receive in a testfeed.Feed, which the tens of
// thousands of connections of a soak cannot afford. This one counts what it
// receives and keeps nothing.

// sioClient is an Engine.IO v4 WebSocket connection joined to namespace "/".
// Its reader goroutine answers pings, acks every event that asks for one
// and counts what it receives in tally.
type sioClient struct {
	sid    string
	ws     *websocket.Conn
	tally  *tally
	wmu    sync.Mutex    // one writer at a time: the worker or the reader
	done   chan struct{} // closed when the reader ended: the connection is gone
	byUs   atomic.Bool   // the worker closed it (or sent a disconnect)
	reason error         // why the reader ended; set before done is closed
}

// dialSIO opens a WebSocket to the edge at addr and joins "/"; it returns
// once the edge gave the socket a sid.
func dialSIO(ctx context.Context, addr string, tl *tally) (*sioClient, error) {
	d := websocket.Dialer{HandshakeTimeout: ioTimeout, NetDialContext: (&net.Dialer{Timeout: ioTimeout}).DialContext}
	ws, res, err := d.DialContext(ctx, "ws://"+addr+"/socket.io/?EIO=4&transport=websocket", nil)
	if res != nil && res.Body != nil {
		res.Body.Close()
	}
	if err != nil {
		return nil, err
	}
	c := &sioClient{ws: ws, tally: tl, done: make(chan struct{})}
	fail := func(err error) (*sioClient, error) {
		ws.Close()
		return nil, err
	}
	_ = ws.SetReadDeadline(time.Now().Add(ioTimeout))
	_, b, err := ws.ReadMessage()
	if err != nil {
		return fail(fmt.Errorf("open packet: %w", err))
	}
	if !strings.HasPrefix(string(b), "0{") {
		return fail(fmt.Errorf("open packet %q", clip(string(b))))
	}
	if err := c.write("40"); err != nil {
		return fail(fmt.Errorf("CONNECT: %w", err))
	}
	for c.sid == "" {
		_, b, err := ws.ReadMessage()
		if err != nil {
			return fail(fmt.Errorf("answer to CONNECT: %w", err))
		}
		m := string(b)
		switch {
		case strings.HasPrefix(m, "40{"):
			var ok struct {
				SID string `json:"sid"`
			}
			if json.Unmarshal(b[2:], &ok) != nil || ok.SID == "" {
				return fail(fmt.Errorf("CONNECT answered %q", clip(m)))
			}
			c.sid = ok.SID
		case m == "2":
			if err := c.write("3"); err != nil {
				return fail(err)
			}
		default:
			return fail(fmt.Errorf("CONNECT answered %q", clip(m)))
		}
	}
	_ = ws.SetReadDeadline(time.Time{})
	go c.read()
	return c, nil
}

// read runs until the connection ends.
func (c *sioClient) read() {
	defer close(c.done)
	for {
		_, b, err := c.ws.ReadMessage()
		if err != nil {
			c.reason = err
			return
		}
		switch m := string(b); {
		case m == "2":
			_ = c.write("3")
		case strings.HasPrefix(m, "42["):
			c.tally.delivered.Add(1)
		case strings.HasPrefix(m, "42"):
			// 42<id>[...]: an event that asks for an ack.
			c.tally.delivered.Add(1)
			c.tally.asks.Add(1)
			i := strings.IndexByte(m, '[')
			if _, err := strconv.Atoi(m[2:max(i, 2)]); i < 0 || err != nil {
				c.tally.bad.Add(1)
				continue
			}
			if c.write("43"+m[2:i]+`["ok"]`) == nil {
				c.tally.acksSent.Add(1)
			}
		case m == "6", m == "3":
			// noop or pong: nothing to count
		default:
			// 41 (the edge disconnected the socket), 44, 1 (close) or
			// anything else: no correct edge sends it to this client.
			if !c.byUs.Load() {
				c.tally.bad.Add(1)
				c.tally.note("unexpected packet " + clip(m))
			}
		}
	}
}

// write sends one text message.
func (c *sioClient) write(m string) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(ioTimeout))
	return c.ws.WriteMessage(websocket.TextMessage, []byte(m))
}

// How a client leaves.
type leaveMode int

const (
	leaveGraceful leaveMode = iota // a DISCONNECT packet, then a WebSocket close frame
	leaveFIN                       // a FIN (TCP half-close), nothing said before
	leaveRST                       // the TCP connection reset (SO_LINGER 0)
	leaveLost                      // the edge closed it first
)

var leaveNames = [...]string{"graceful", "TCP close", "TCP reset", "closed by the edge"}

func (m leaveMode) String() string { return leaveNames[m] }

// leave ends the connection as mode says and waits for the reader to end.
func (c *sioClient) leave(mode leaveMode) {
	c.byUs.Store(true)
	switch mode {
	case leaveGraceful:
		_ = c.write("41")
		c.wmu.Lock()
		_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(ioTimeout))
		c.wmu.Unlock()
		// The edge answers the close frame and closes; the reader ends.
		select {
		case <-c.done:
		case <-time.After(ioTimeout):
			c.tally.note("the edge did not answer a close frame within " + ioTimeout.String())
			c.tally.bad.Add(1)
		}
	case leaveFIN:
		// Half-close first: a plain close with unread data in this side's
		// receive buffer (fan-out keeps arriving) would send a reset, not
		// a FIN. The edge reads what was sent, then the end of stream,
		// and closes its side.
		if tc, ok := c.ws.NetConn().(*net.TCPConn); ok {
			_ = tc.CloseWrite()
			select {
			case <-c.done:
			case <-time.After(ioTimeout):
				c.tally.note("the edge did not close a connection within " + ioTimeout.String() + " of its FIN")
				c.tally.bad.Add(1)
			}
		}
	case leaveRST:
		if tc, ok := c.ws.NetConn().(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
	}
	_ = c.ws.NetConn().Close()
	<-c.done
}

// lost reports whether the connection ended before the worker left.
func (c *sioClient) lost() bool {
	select {
	case <-c.done:
		return !c.byUs.Load()
	default:
		return false
	}
}

// ---- the churn ----

// churn is the pool of workers: each connects a client to one of the
// edges, has it join rooms (or not), emit, stay a while and leave, again
// and again until ctx ends; then its client leaves gracefully.
type churn struct {
	edges []string // Socket.IO addresses
	api   sbv1.ControlClient
	tally *tally
}

// Rooms a client may be put in: fanRoom gets most fan-out emits, ackRoom
// the EmitWithAck calls; every client that joins also joins one of
// groupRooms shared rooms and a room of its own, which lives as long as the
// socket (the edge subscribes and unsubscribes its subject).
const (
	fanRoom    = "fan"
	ackRoom    = "ack"
	groupRooms = 32
)

func (ch *churn) worker(ctx context.Context, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, seed^0x5eed))
	for ctx.Err() == nil {
		ch.once(ctx, rng)
	}
}

func (ch *churn) once(ctx context.Context, rng *rand.Rand) {
	tl := ch.tally
	edge := rng.IntN(len(ch.edges))
	c, err := dialSIO(ctx, ch.edges[edge], tl)
	if err != nil {
		if ctx.Err() == nil {
			tl.connectErrors.Add(1)
			tl.note(fmt.Sprintf("connect to edge %d: %v", edge, err))
			sleep(ctx, time.Second)
		}
		return
	}
	tl.connects.Add(1)
	tl.open.Add(1)
	defer tl.open.Add(-1)
	rec := connRecord{sid: c.sid}
	defer func() {
		rec.leftAt = time.Now()
		tl.record(rec)
	}()

	// Half the clients join rooms through the API; half of those also
	// answer EmitWithAck (every client acks what asks for it, but only
	// those in ackRoom are asked).
	if r := rng.Float64(); r < 0.5 {
		rooms := []string{fanRoom, fmt.Sprintf("g-%d", rng.IntN(groupRooms)), "p-" + c.sid}
		if r < 0.25 {
			rooms = append(rooms, ackRoom)
		}
		ch.join(ctx, c, rooms)
	}

	// Stay 0.5 to 10 s, emitting a client event about every second.
	stay := time.NewTimer(500*time.Millisecond + time.Duration(rng.Int64N(int64(9500*time.Millisecond))))
	defer stay.Stop()
	n := 0
	for {
		next := time.NewTimer(700*time.Millisecond + time.Duration(rng.Int64N(int64(600*time.Millisecond))))
		select {
		case <-ctx.Done():
			next.Stop()
			rec.mode = leaveGraceful
			c.leave(leaveGraceful)
			tl.leftGraceful.Add(1)
			return
		case <-c.done:
			next.Stop()
			rec.mode = leaveLost
			tl.lost.Add(1)
			tl.note(fmt.Sprintf("edge %d closed socket %s: %v", edge, c.sid, c.reason))
			c.leave(leaveFIN)
			return
		case <-stay.C:
			next.Stop()
			switch r := rng.Float64(); {
			case r < 0.5:
				rec.mode = leaveGraceful
				tl.leftGraceful.Add(1)
			case r < 0.75:
				rec.mode = leaveFIN
				tl.leftFIN.Add(1)
			default:
				rec.mode = leaveRST
				tl.leftRST.Add(1)
			}
			c.leave(rec.mode)
			return
		case <-next.C:
			n++
			if c.write(fmt.Sprintf(`42["%s",{"n":%d,"sid":"%s"}]`, clientEvent, n, c.sid)) == nil {
				tl.eventsSent.Add(1)
				rec.sent++
				rec.lastSent = time.Now()
			}
		}
	}
}

// join puts the client's socket in rooms through JoinRoom.
func (ch *churn) join(ctx context.Context, c *sioClient, rooms []string) {
	tl := ch.tally
	cctx, cancel := context.WithTimeout(ctx, ioTimeout)
	defer cancel()
	res, err := ch.api.JoinRoom(cctx, &sbv1.JoinRoomRequest{Target: &sbv1.Target{Sids: []string{c.sid}}, Rooms: rooms})
	switch {
	case ctx.Err() != nil:
	case err != nil:
		tl.apiErrors.Add(1)
		tl.note(fmt.Sprintf("JoinRoom: %v", err))
	case len(res.MissingEdges) > 0:
		tl.missingEdges.Add(1)
		tl.note(fmt.Sprintf("JoinRoom: missing edges %v %v", res.MissingEdges, res.EdgeErrors))
	case res.GetSockets() != 1 && !c.lost():
		tl.joinMisses.Add(1)
		tl.note(fmt.Sprintf("JoinRoom of live socket %s reached %d sockets", c.sid, res.GetSockets()))
	default:
		tl.joins.Add(1)
	}
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// ---- what the traffic counted ----

// tally is what every part of the traffic counts, read by the sampler.
type tally struct {
	// churn
	connects, connectErrors             atomic.Int64
	open                                atomic.Int64 // clients connected now
	joins, joinMisses                   atomic.Int64
	leftGraceful, leftFIN, leftRST      atomic.Int64
	lost                                atomic.Int64 // connections the edge ended before the client left
	bad                                 atomic.Int64 // packets or behaviour no correct edge shows
	eventsSent                          atomic.Int64 // client events written
	delivered, asks, acksSent           atomic.Int64 // packets received by clients
	apiErrors, missingEdges             atomic.Int64 // failed API calls, calls that listed a missing edge
	emits, emitsWithAck, acks, timedOut atomic.Int64 // fan-out calls and their outcome
	// Subscribe
	subEvents               [fastStreams]atomic.Int64 // client events each fast stream received
	fastEnds                atomic.Int64              // fast streams ended by control
	slowEvents              atomic.Int64
	slowEnds, slowOtherEnds atomic.Int64 // the slow stream ended RESOURCE_EXHAUSTED, or otherwise

	mu    sync.Mutex
	notes map[string]int // guarded by mu; what went wrong, by text, with how often
	conns []connRecord   // guarded by mu; every connection that ended
}

// connRecord is what one connection sent and how it ended.
type connRecord struct {
	sid              string
	sent             int // client events written
	lastSent, leftAt time.Time
	mode             leaveMode
}

func (tl *tally) record(r connRecord) {
	tl.mu.Lock()
	tl.conns = append(tl.conns, r)
	tl.mu.Unlock()
}

func (tl *tally) records() []connRecord {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return slices.Clone(tl.conns)
}

// note records what went wrong, once per distinct text (with a count).
func (tl *tally) note(s string) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	if tl.notes == nil {
		tl.notes = map[string]int{}
	}
	if len(tl.notes) < 200 || tl.notes[s] > 0 {
		tl.notes[s]++
	}
}

func (tl *tally) allNotes() map[string]int {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	out := make(map[string]int, len(tl.notes))
	for k, v := range tl.notes {
		out[k] = v
	}
	return out
}

// stopping reports whether err is the soak's own stop, not a failure.
func stopping(ctx context.Context, err error) bool {
	return ctx.Err() != nil || errors.Is(err, context.Canceled)
}
