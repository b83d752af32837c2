package socketio_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"github.com/switchboard-rt/switchboard/pkg/engineio"
	"github.com/switchboard-rt/switchboard/pkg/socketio"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// waitTimeout bounds every wait for something the server should do.
const waitTimeout = 2 * time.Second

// Timings of the official test suites' server, short enough for tests.
const (
	pingInterval   = 300 * time.Millisecond
	pingTimeout    = 200 * time.Millisecond
	connectTimeout = 500 * time.Millisecond
)

type testServer struct {
	*socketio.Server
	http *httptest.Server
}

// newServer starts a Socket.IO server on 127.0.0.1 at /socket.io/. setup
// installs hooks before anything is served; zero timings in cfg get the
// short test values. Both servers are shut down when the test ends.
func newServer(t *testing.T, cfg socketio.Config, setup func(*socketio.Server)) *testServer {
	t.Helper()
	if cfg.Engine.PingInterval == 0 {
		cfg.Engine.PingInterval = pingInterval
	}
	if cfg.Engine.PingTimeout == 0 {
		cfg.Engine.PingTimeout = pingTimeout
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = connectTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	srv := socketio.NewServer(cfg)
	if setup != nil {
		setup(srv)
	}
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", srv)
	hs := httptest.NewServer(mux)
	if !strings.HasPrefix(hs.URL, "http://127.0.0.1:") {
		t.Fatalf("test server at %s, want 127.0.0.1", hs.URL)
	}
	t.Cleanup(hs.Close)
	t.Cleanup(func() { // runs first
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return &testServer{srv, hs}
}

// conformance installs the behaviour of the server of the official
// socket.io-protocol test suite (examples/conformance is the same, runnable).
func conformance(srv *socketio.Server) {
	onConnect := func(s *socketio.Socket) {
		_ = s.Emit("auth", s.Handshake().Auth)
		s.On("message", func(s *socketio.Socket, e *socketio.Event) {
			if enc, err := socketio.EncodeRawEvent(s.Namespace().Name(), 0, false, "message-back", e.Args, e.Attachments); err == nil {
				_ = s.Send(enc)
			}
		})
		s.On("message-with-ack", func(_ *socketio.Socket, e *socketio.Event) {
			_ = e.AckRaw(e.Args, e.Attachments)
		})
	}
	srv.Of("/").OnConnect(onConnect)
	srv.Of("/custom").OnConnect(onConnect)
}

// frame is one WebSocket message a raw client received.
type frame struct {
	binary bool
	data   []byte
}

func (f frame) String() string {
	if f.binary {
		return "binary " + string(mustJSON(f.data))
	}
	return string(f.data)
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// wsClient is a raw Engine.IO/Socket.IO client over gorilla/websocket,
// speaking the wire protocol as the official test suite does. A reader
// goroutine queues what arrives and, with autoPong, answers pings so that
// the heartbeat never ends a test by accident.
type wsClient struct {
	t        *testing.T
	conn     *websocket.Conn
	autoPong bool
	open     map[string]any // the Engine.IO handshake

	wmu    sync.Mutex // one writer at a time: the test and the reader's pongs
	frames chan frame // closed when the connection is
	stop   chan struct{}
	done   chan struct{}
}

// dial opens a WebSocket session and reads the Engine.IO handshake.
func (ts *testServer) dial(t *testing.T) *wsClient { return ts.dialWith(t, true, "") }

// dialWith is dial with or without automatic pongs and with extra query
// parameters ("a=b&c=d").
func (ts *testServer) dialWith(t *testing.T, autoPong bool, query string) *wsClient {
	t.Helper()
	u := "ws" + strings.TrimPrefix(ts.http.URL, "http") + "/socket.io/?EIO=4&transport=websocket"
	if query != "" {
		u += "&" + query
	}
	conn, resp, err := websocket.DefaultDialer.Dial(u, nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	resp.Body.Close()
	c := &wsClient{
		t:        t,
		conn:     conn,
		autoPong: autoPong,
		frames:   make(chan frame, 64),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	go c.readLoop()
	t.Cleanup(c.close)
	f := c.next()
	if f.binary || !strings.HasPrefix(string(f.data), "0") {
		t.Fatalf("first message %s, want the Engine.IO open packet", f)
	}
	if err := json.Unmarshal(f.data[1:], &c.open); err != nil {
		t.Fatalf("open packet %s: %v", f, err)
	}
	return c
}

func (c *wsClient) readLoop() {
	defer close(c.done)
	defer close(c.frames)
	for {
		mt, data, err := c.conn.ReadMessage()
		if err != nil {
			return
		}
		if c.autoPong && mt == websocket.TextMessage && string(data) == "2" {
			c.wmu.Lock()
			_ = c.conn.WriteMessage(websocket.TextMessage, []byte("3"))
			c.wmu.Unlock()
			continue
		}
		select {
		case c.frames <- frame{binary: mt == websocket.BinaryMessage, data: data}:
		case <-c.stop:
			return
		}
	}
}

func (c *wsClient) close() {
	select {
	case <-c.stop:
	default:
		close(c.stop)
	}
	_ = c.conn.Close()
	<-c.done
}

// send writes a text frame: an Engine.IO packet, such as "40" or `42["x"]`.
func (c *wsClient) send(text string) {
	c.t.Helper()
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.conn.WriteMessage(websocket.TextMessage, []byte(text)); err != nil {
		c.t.Fatalf("send %q: %v", text, err)
	}
}

// sendBinary writes a binary frame: a Socket.IO attachment.
func (c *wsClient) sendBinary(b []byte) {
	c.t.Helper()
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.conn.WriteMessage(websocket.BinaryMessage, b); err != nil {
		c.t.Fatalf("send binary: %v", err)
	}
}

// next returns the next message; it fails the test when none comes in time
// or the connection closed.
func (c *wsClient) next() frame {
	c.t.Helper()
	select {
	case f, ok := <-c.frames:
		if !ok {
			c.t.Fatal("connection closed, want a message")
		}
		return f
	case <-time.After(waitTimeout):
		c.t.Fatal("no message in time")
	}
	return frame{}
}

// nextText returns the next text message, pings skipped when they are not
// answered automatically.
func (c *wsClient) nextText() string {
	c.t.Helper()
	for {
		f := c.next()
		if f.binary {
			c.t.Fatalf("got %s, want a text message", f)
		}
		if !c.autoPong && string(f.data) == "2" {
			continue
		}
		return string(f.data)
	}
}

func (c *wsClient) expect(want string) {
	c.t.Helper()
	if got := c.nextText(); got != want {
		c.t.Fatalf("got %s, want %s", got, want)
	}
}

func (c *wsClient) expectBinary(want []byte) {
	c.t.Helper()
	f := c.next()
	if !f.binary || string(f.data) != string(want) {
		c.t.Fatalf("got %s, want binary %v", f, want)
	}
}

// expectClose waits for the server to close the connection; pings aside,
// nothing may arrive before. It returns how long it waited.
func (c *wsClient) expectClose() time.Duration {
	c.t.Helper()
	start := time.Now()
	deadline := time.After(waitTimeout)
	for {
		select {
		case f, ok := <-c.frames:
			if !ok {
				return time.Since(start)
			}
			if !c.autoPong && !f.binary && string(f.data) == "2" {
				continue
			}
			c.t.Fatalf("got %s, want the connection closed", f)
		case <-deadline:
			c.t.Fatal("connection still open")
		}
	}
}

// connect joins a namespace ("/" or "/custom") with an optional auth
// payload and returns the socket id from the server's CONNECT.
func (c *wsClient) connect(ns, auth string) string {
	c.t.Helper()
	prefix := "40" + nsPrefix(ns)
	c.send(prefix + auth)
	got := c.nextText()
	if !strings.HasPrefix(got, prefix) {
		c.t.Fatalf("got %s, want %s{\"sid\":...}", got, prefix)
	}
	var hs map[string]any
	if err := json.Unmarshal([]byte(got[len(prefix):]), &hs); err != nil {
		c.t.Fatalf("CONNECT payload %s: %v", got, err)
	}
	sid, ok := hs["sid"].(string)
	if len(hs) != 1 || !ok || sid == "" {
		c.t.Fatalf("CONNECT payload %s, want exactly {\"sid\":<string>}", got[len(prefix):])
	}
	return sid
}

// nsPrefix is how a namespace appears after the packet type.
func nsPrefix(ns string) string {
	if ns == "/" {
		return ""
	}
	return ns + ","
}

// pollClient is a raw Engine.IO long-polling client.
type pollClient struct {
	t   *testing.T
	hc  *http.Client
	url string // with the sid
}

func (ts *testServer) poll(t *testing.T) *pollClient {
	t.Helper()
	base := ts.http.URL + "/socket.io/?EIO=4&transport=polling"
	p := &pollClient{t: t, hc: ts.http.Client(), url: base}
	body := p.get()
	if !strings.HasPrefix(body, "0") {
		t.Fatalf("handshake %q", body)
	}
	var open struct {
		SID string `json:"sid"`
	}
	if err := json.Unmarshal([]byte(body[1:]), &open); err != nil || open.SID == "" {
		t.Fatalf("handshake %q: %v", body, err)
	}
	p.url = base + "&sid=" + open.SID
	return p
}

func (p *pollClient) do(method, body string) (int, string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, p.url, strings.NewReader(body))
	if err != nil {
		p.t.Fatal(err)
	}
	resp, err := p.hc.Do(req)
	if err != nil {
		p.t.Fatalf("%s: %v", method, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		p.t.Fatalf("%s body: %v", method, err)
	}
	return resp.StatusCode, string(b)
}

// get polls once and returns the payload.
func (p *pollClient) get() string {
	p.t.Helper()
	status, body := p.do(http.MethodGet, "")
	if status != http.StatusOK {
		p.t.Fatalf("GET: %d %s", status, body)
	}
	return body
}

// post sends packets, joined with the record separator.
func (p *pollClient) post(packets ...string) {
	p.t.Helper()
	status, body := p.do(http.MethodPost, strings.Join(packets, "\x1e"))
	if status != http.StatusOK || body != "ok" {
		p.t.Fatalf("POST: %d %s", status, body)
	}
}

// hooks records what a namespace's hooks see, for tests to wait on.
type hooks struct {
	connected    chan *socketio.Socket
	disconnected chan disconnect
}

type disconnect struct {
	socket *socketio.Socket
	reason string
}

func record(ns *socketio.Namespace) *hooks {
	h := &hooks{
		connected:    make(chan *socketio.Socket, 16),
		disconnected: make(chan disconnect, 16),
	}
	ns.OnConnect(func(s *socketio.Socket) { h.connected <- s })
	ns.OnDisconnect(func(s *socketio.Socket, reason string) { h.disconnected <- disconnect{s, reason} })
	return h
}

func (h *hooks) nextConnected(t *testing.T) *socketio.Socket {
	t.Helper()
	select {
	case s := <-h.connected:
		return s
	case <-time.After(waitTimeout):
		t.Fatal("no OnConnect")
	}
	return nil
}

func (h *hooks) nextDisconnected(t *testing.T) disconnect {
	t.Helper()
	select {
	case d := <-h.disconnected:
		return d
	case <-time.After(waitTimeout):
		t.Fatal("no OnDisconnect")
	}
	return disconnect{}
}

// reasonOf returns the disconnect reason of s, skipping the disconnections
// of other sockets (of connections that earlier subtests closed).
func (h *hooks) reasonOf(t *testing.T, s *socketio.Socket) string {
	t.Helper()
	for {
		if d := h.nextDisconnected(t); d.socket == s {
			return d.reason
		}
	}
}

// isClosedErr reports whether err says that a session or socket is gone.
func isClosedErr(err error) bool {
	return errors.Is(err, engineio.ErrClosed) || errors.Is(err, socketio.ErrDisconnected)
}
