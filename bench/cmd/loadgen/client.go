package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// client is one connection. Its goroutine (run) owns the connection's reads
// and writes; requestClose may be called from the command loop at any time.
type client struct {
	lg  *loadgen
	url string

	sid    atomic.Pointer[string] // Socket.IO id once connected
	isOpen atomic.Bool
	done   chan struct{} // closed when the current run returns; set by the command loop

	mu      sync.Mutex         // guards conn, cancel, closing
	conn    *websocket.Conn    // websocket transport
	cancel  context.CancelFunc // polling transport
	closing bool               // close requested by the loadgen, not a drop

	// Written by the client's goroutine only, read and reset by report:
	// the earliest stamp and the latest arrival (µs since the epoch) of
	// the messages since the last report, 0 when none (see loadgen.record).
	minStamp atomic.Int64
	lastAt   atomic.Int64

	eio  atomic.Pointer[string] // Engine.IO session id (polling)
	pctx context.Context        // polling: the run's context, owned by run

	buf [256]byte // one WebSocket message; larger ones are cut (only stamps are read)
}

var (
	pongPacket       = []byte("3")
	closePacket      = []byte("1")
	errServerClose   = errors.New("server closed the session")
	errNamespaceGone = errors.New("server disconnected the socket")
)

func (c *client) start(b *batch) {
	c.mu.Lock()
	c.closing = false
	c.conn, c.cancel = nil, nil
	c.mu.Unlock()
	c.done = make(chan struct{})
	go c.run(b)
}

func (c *client) run(b *batch) {
	defer close(c.done)
	lg := c.lg
	t0 := time.Now()
	var err error
	polling := lg.cfg.mode == "sio" && lg.cfg.transport == "polling"
	if polling {
		err = c.openPolling()
	} else {
		err = c.openWebSocket()
	}
	<-lg.sem
	if err != nil {
		c.teardown()
		b.failed.Add(1)
		if !c.wasClosed() {
			lg.noteErr(err)
		}
		b.wg.Done()
		return
	}
	b.hs.Record(time.Since(t0).Microseconds())
	b.ok.Add(1)
	c.isOpen.Store(true)
	b.wg.Done()

	if polling {
		err = c.pollLoop()
	} else {
		err = c.wsLoop()
	}
	c.isOpen.Store(false)
	c.teardown()
	if !c.wasClosed() {
		lg.dropped.Add(1)
		lg.noteErr(err)
	}
}

func (c *client) wasClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closing
}

// requestClose closes the connection on the loadgen's behalf.
func (c *client) requestClose() {
	c.mu.Lock()
	c.closing = true
	conn, cancel := c.conn, c.cancel
	c.mu.Unlock()
	if conn != nil {
		conn.Close()
	}
	if cancel != nil {
		go func() {
			if sid := c.eioSid(); sid != "" {
				// Tell the server, so that it does not wait for a ping timeout.
				ctx, stop := context.WithTimeout(context.Background(), time.Second)
				c.post(ctx, sid, closePacket)
				stop()
			}
			cancel()
		}()
	}
}

func (c *client) teardown() {
	c.mu.Lock()
	conn, cancel := c.conn, c.cancel
	c.mu.Unlock()
	if conn != nil {
		conn.Close()
	}
	if cancel != nil {
		cancel()
	}
}

const (
	actNone = iota
	actPong
	actAck
	actClose
	actConnectError
)

// handle interprets one Engine.IO packet (Socket.IO inside message packets).
func (c *client) handle(p []byte) int {
	if len(p) == 0 {
		return actNone
	}
	switch p[0] {
	case '2':
		return actPong
	case '1':
		return actClose
	case '4':
		if len(p) < 2 {
			return actNone
		}
		switch p[1] {
		case '2':
			c.lg.record(c, p)
		case '0':
			return actAck
		case '1':
			return actClose
		case '4':
			return actConnectError
		}
	}
	return actNone
}

// sidOf extracts "sid":"..." from a handshake or CONNECT packet.
func sidOf(p []byte) string {
	i := bytes.Index(p, []byte(`"sid":"`))
	if i < 0 {
		return ""
	}
	p = p[i+7:]
	j := bytes.IndexByte(p, '"')
	if j < 0 {
		return ""
	}
	return string(p[:j])
}

// ---- WebSocket ----

func (c *client) openWebSocket() error {
	lg := c.lg
	u := c.url
	if lg.cfg.mode == "sio" {
		u += "?EIO=4&transport=websocket"
	}
	conn, resp, err := lg.dialer.DialContext(lg.ctx, u, nil)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		return fmt.Errorf("dial %s: %w", c.url, err)
	}
	c.mu.Lock()
	c.conn = conn
	closing := c.closing
	c.mu.Unlock()
	if closing {
		return errors.New("closed while connecting")
	}
	if lg.cfg.mode == "raw" {
		return nil
	}
	conn.SetReadDeadline(time.Now().Add(lg.cfg.hsTimeout))
	p, err := c.readWS()
	if err != nil {
		return fmt.Errorf("read open packet: %w", err)
	}
	if len(p) == 0 || p[0] != '0' {
		return fmt.Errorf("want an open packet, got %q", p)
	}
	if err := conn.WriteMessage(websocket.TextMessage, lg.connectPk); err != nil {
		return fmt.Errorf("write CONNECT: %w", err)
	}
	for {
		p, err := c.readWS()
		if err != nil {
			return fmt.Errorf("await CONNECT ack: %w", err)
		}
		switch c.handle(p) {
		case actPong:
			if err := conn.WriteMessage(websocket.TextMessage, pongPacket); err != nil {
				return err
			}
		case actAck:
			sid := sidOf(p)
			c.sid.Store(&sid)
			conn.SetReadDeadline(time.Time{})
			return nil
		case actConnectError:
			return fmt.Errorf("CONNECT_ERROR %s", p)
		case actClose:
			return errServerClose
		}
	}
}

// readWS reads one message into c.buf without allocating.
func (c *client) readWS() ([]byte, error) {
	_, r, err := c.conn.NextReader()
	if err != nil {
		return nil, err
	}
	n := 0
	for {
		m, err := r.Read(c.buf[n:])
		n += m
		if err == io.EOF {
			return c.buf[:n], nil
		}
		if err != nil {
			return nil, err
		}
		if n == len(c.buf) {
			if _, err := io.Copy(io.Discard, r); err != nil {
				return nil, err
			}
			return c.buf[:n], nil
		}
	}
}

func (c *client) wsLoop() error {
	raw := c.lg.cfg.mode == "raw"
	for {
		p, err := c.readWS()
		if err != nil {
			return err
		}
		if raw {
			c.lg.record(c, p)
			continue
		}
		switch c.handle(p) {
		case actPong:
			if err := c.conn.WriteMessage(websocket.TextMessage, pongPacket); err != nil {
				return err
			}
		case actClose:
			return errServerClose
		}
	}
}

// ---- HTTP long-polling ----

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func (c *client) eioSid() string {
	if p := c.eio.Load(); p != nil {
		return *p
	}
	return ""
}

func (c *client) openPolling() error {
	lg := c.lg
	ctx, cancel := context.WithCancel(lg.ctx)
	c.mu.Lock()
	c.cancel = cancel
	closing := c.closing
	c.mu.Unlock()
	if closing {
		return errors.New("closed while connecting")
	}
	c.pctx = ctx
	c.eio.Store(nil)
	hctx, stop := context.WithTimeout(ctx, lg.cfg.hsTimeout)
	defer stop()
	var sid string
	err := c.get(hctx, "", func(p []byte) int {
		if len(p) > 0 && p[0] == '0' {
			sid = sidOf(p)
		}
		return actNone
	})
	if err != nil {
		return fmt.Errorf("handshake: %w", err)
	}
	if sid == "" {
		return errors.New("handshake: no sid in the open packet")
	}
	c.eio.Store(&sid)
	if err := c.post(hctx, sid, lg.connectPk); err != nil {
		return fmt.Errorf("post CONNECT: %w", err)
	}
	for {
		acked, failed := false, false
		var ackSid string
		err := c.get(hctx, sid, func(p []byte) int {
			a := c.handle(p)
			switch a {
			case actAck:
				acked, ackSid = true, sidOf(p)
			case actConnectError, actClose:
				failed = true
			}
			return a
		})
		if err != nil {
			return fmt.Errorf("await CONNECT ack: %w", err)
		}
		if failed {
			return errors.New("CONNECT refused or session closed")
		}
		if acked {
			c.sid.Store(&ackSid)
			return nil
		}
	}
}

func (c *client) pollLoop() error {
	sid := c.eioSid()
	for {
		closed := false
		err := c.get(c.pctx, sid, func(p []byte) int {
			a := c.handle(p)
			if a == actClose {
				closed = true
			}
			return a
		})
		if err != nil {
			return err
		}
		if closed {
			return errServerClose
		}
	}
}

// get does one polling GET (a handshake when sid is empty), hands each packet
// to fn and answers pings.
func (c *client) get(ctx context.Context, sid string, fn func([]byte) int) error {
	u := c.url + "?EIO=4&transport=polling"
	if sid != "" {
		u += "&sid=" + sid
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := c.lg.httpc.Do(req)
	if err != nil {
		return err
	}
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer bufPool.Put(buf)
	_, err = buf.ReadFrom(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET: %s: %q", resp.Status, buf.Bytes())
	}
	pongs := 0
	for _, p := range bytes.Split(buf.Bytes(), []byte{0x1e}) {
		if fn(p) == actPong {
			pongs++
		}
	}
	for ; pongs > 0; pongs-- {
		if err := c.post(ctx, sid, pongPacket); err != nil {
			return err
		}
	}
	return nil
}

func (c *client) post(ctx context.Context, sid string, body []byte) error {
	u := c.url + "?EIO=4&transport=polling&sid=" + sid
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	resp, err := c.lg.httpc.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST: %s", resp.Status)
	}
	return nil
}
