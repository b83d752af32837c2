package engineio_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	enginePath = "/engine.io/"
	// wait bounds every wait of a test: a broken server fails the test
	// quickly instead of hanging it.
	wait = 2 * time.Second
)

// heartbeatConfig has the heartbeat of the Engine.IO protocol test suite.
var heartbeatConfig = engineio.Config{PingInterval: 300 * time.Millisecond, PingTimeout: 200 * time.Millisecond}

// env is an Engine.IO server on 127.0.0.1 whose sessions echo every message,
// and its clients. Everything is closed by t.Cleanup.
type env struct {
	srv    *engineio.Server
	base   string // http://127.0.0.1:port/engine.io/
	client *http.Client
	dialer *websocket.Dialer
	h      *echoHandler
}

func newEnv(t *testing.T, cfg engineio.Config) *env {
	t.Helper()
	return newEnvWith(t, cfg, false, nil)
}

// newEnvWith is newEnv over TLS or not, with a hook run at the end of every
// OnOpen.
func newEnvWith(t *testing.T, cfg engineio.Config, useTLS bool, onOpen func(*engineio.Session)) *env {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	h := &echoHandler{closed: make(map[string]chan string), onOpen: onOpen}
	srv := engineio.NewServer(cfg, h)
	mux := http.NewServeMux()
	mux.Handle(enginePath, srv)
	ts := httptest.NewUnstartedServer(mux)
	tr := &http.Transport{}
	dialer := &websocket.Dialer{HandshakeTimeout: wait}
	if useTLS {
		ts.StartTLS()
		tr.TLSClientConfig = ts.Client().Transport.(*http.Transport).TLSClientConfig
		dialer.TLSClientConfig = tr.TLSClientConfig
	} else {
		ts.Start()
	}
	e := &env{
		srv:    srv,
		base:   ts.URL + enginePath,
		client: &http.Client{Transport: tr, Timeout: 2 * wait},
		dialer: dialer,
		h:      h,
	}
	// Run last to first: the engine releases its pending GETs and closes its
	// WebSockets, then the HTTP server can stop, then the client's idle
	// connections go.
	t.Cleanup(tr.CloseIdleConnections)
	t.Cleanup(ts.Close)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return e
}

// echoHandler sends every message back to its session, and records why each
// session closed.
type echoHandler struct {
	onOpen func(*engineio.Session) // optional
	mu     sync.Mutex
	closed map[string]chan string // by sid; receives the OnClose reason
}

func (h *echoHandler) OnOpen(s *engineio.Session) engineio.SessionHandler {
	ch := make(chan string, 1)
	h.mu.Lock()
	h.closed[s.ID()] = ch
	h.mu.Unlock()
	if h.onOpen != nil {
		h.onOpen(s)
	}
	return &echoSession{s: s, closed: ch}
}

type echoSession struct {
	s      *engineio.Session
	closed chan string
}

func (e *echoSession) OnMessage(data []byte, binary bool) {
	m := engineio.NewTextMessage(data)
	if binary {
		m = engineio.NewBinaryMessage(data)
	}
	_ = e.s.Send(m)
}

func (e *echoSession) OnClose(reason string) {
	select {
	case e.closed <- reason:
	default:
		panic("OnClose called twice")
	}
}

// closeReason waits for the session to be closed and returns the reason
// given to OnClose.
func (e *env) closeReason(t *testing.T, sid string) string {
	t.Helper()
	e.h.mu.Lock()
	ch := e.h.closed[sid]
	e.h.mu.Unlock()
	if ch == nil {
		t.Fatalf("no session %q was opened", sid)
	}
	select {
	case r := <-ch:
		return r
	case <-time.After(wait):
		t.Fatalf("session %q: OnClose not called", sid)
		return ""
	}
}

// waitUntil polls cond, for server state a client cannot observe.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func (e *env) waitGetWaiting(t *testing.T, sid string) {
	t.Helper()
	waitUntil(t, "the GET waits on the server", func() bool {
		get, _ := engineio.PollState(e.srv, sid)
		return get
	})
}

// waitGone waits until the server has forgotten session sid.
func (e *env) waitGone(t *testing.T, sid string) {
	t.Helper()
	waitUntil(t, "the session is gone", func() bool { return e.srv.Session(sid) == nil })
}

// ---- HTTP ----

type response struct {
	status int
	header http.Header
	body   string
	err    error
}

// request runs one HTTP request; it does not fail the test, so that it can
// run on other goroutines.
func (e *env) request(ctx context.Context, method, query string, body io.Reader, header http.Header) response {
	req, err := http.NewRequestWithContext(ctx, method, e.base+"?"+query, body)
	if err != nil {
		return response{err: err}
	}
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := e.client.Do(req)
	if err != nil {
		return response{err: err}
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return response{status: res.StatusCode, header: res.Header, body: string(b), err: err}
}

func (e *env) do(t *testing.T, method, query, body string) response {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	res := e.request(context.Background(), method, query, r, nil)
	if res.err != nil {
		t.Fatalf("%s ?%s: %v", method, query, res.err)
	}
	return res
}

func sidQuery(sid string) string { return "EIO=4&transport=polling&sid=" + sid }

func (e *env) get(t *testing.T, sid string) response {
	t.Helper()
	return e.do(t, http.MethodGet, sidQuery(sid), "")
}

func (e *env) post(t *testing.T, sid, body string) response {
	t.Helper()
	return e.do(t, http.MethodPost, sidQuery(sid), body)
}

// getAsync starts a GET and returns its response later.
func (e *env) getAsync(ctx context.Context, sid string) <-chan response {
	ch := make(chan response, 1)
	go func() { ch <- e.request(ctx, http.MethodGet, sidQuery(sid), nil, nil) }()
	return ch
}

func await(t *testing.T, ch <-chan response) response {
	t.Helper()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("request: %v", r.err)
		}
		return r
	case <-time.After(wait):
		t.Fatal("timed out waiting for a response")
		return response{}
	}
}

// handshakeJSON is the open packet's payload, with every key it must have.
type handshakeJSON struct {
	SID          string   `json:"sid"`
	Upgrades     []string `json:"upgrades"`
	PingInterval int      `json:"pingInterval"`
	PingTimeout  int      `json:"pingTimeout"`
	MaxPayload   int      `json:"maxPayload"`
}

// parseOpen checks an open packet has exactly the handshake keys.
func parseOpen(t *testing.T, packet string) handshakeJSON {
	t.Helper()
	data, ok := strings.CutPrefix(packet, "0")
	if !ok {
		t.Fatalf("open packet %q does not start with 0", packet)
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal([]byte(data), &keys); err != nil {
		t.Fatalf("open packet %q: %v", packet, err)
	}
	want := []string{"sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"}
	if len(keys) != len(want) {
		t.Errorf("open packet keys: %s, want exactly %v", data, want)
	}
	for _, k := range want {
		if _, ok := keys[k]; !ok {
			t.Errorf("open packet %s lacks %q", data, k)
		}
	}
	var h handshakeJSON
	dec := json.NewDecoder(strings.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&h); err != nil {
		t.Fatalf("open packet %q: %v", packet, err)
	}
	if h.SID == "" {
		t.Errorf("open packet %q: empty sid", packet)
	}
	return h
}

// handshake opens a long-polling session and returns its sid.
func (e *env) handshake(t *testing.T) string {
	t.Helper()
	res := e.do(t, http.MethodGet, "EIO=4&transport=polling", "")
	if res.status != http.StatusOK {
		t.Fatalf("handshake: %d %s", res.status, res.body)
	}
	return parseOpen(t, res.body).SID
}

// ---- WebSocket ----

func (e *env) wsURL(query string) string {
	return "ws" + strings.TrimPrefix(e.base, "http") + "?" + query
}

func (e *env) dial(t *testing.T, query string) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	c, res, err := e.dialer.Dial(e.wsURL(query), nil)
	if res != nil && res.Body != nil {
		res.Body.Close()
	}
	if err == nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, res, err
}

// openWS opens a WebSocket session and returns it with its sid.
func (e *env) openWS(t *testing.T) (*websocket.Conn, string) {
	t.Helper()
	c, _, err := e.dial(t, "EIO=4&transport=websocket")
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	mt, data := readWS(t, c)
	if mt != websocket.TextMessage {
		t.Fatalf("first frame has type %d, want text", mt)
	}
	return c, parseOpen(t, data).SID
}

// upgradeWS upgrades a polling session to a WebSocket: probe, then upgrade.
func (e *env) upgradeWS(t *testing.T, sid string) *websocket.Conn {
	t.Helper()
	c, _, err := e.dial(t, "EIO=4&transport=websocket&sid="+sid)
	if err != nil {
		t.Fatalf("dial with sid: %v", err)
	}
	writeWS(t, c, "2probe")
	expectWS(t, c, "3probe")
	writeWS(t, c, "5")
	return c
}

func readWS(t *testing.T, c *websocket.Conn) (int, string) {
	t.Helper()
	mt, data, err := readWSErr(c)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return mt, data
}

func readWSErr(c *websocket.Conn) (int, string, error) {
	_ = c.SetReadDeadline(time.Now().Add(wait))
	mt, data, err := c.ReadMessage()
	return mt, string(data), err
}

func expectWS(t *testing.T, c *websocket.Conn, want string) {
	t.Helper()
	if mt, got := readWS(t, c); mt != websocket.TextMessage || got != want {
		t.Fatalf("read frame type %d %q, want text %q", mt, got, want)
	}
}

func writeWS(t *testing.T, c *websocket.Conn, data string) {
	t.Helper()
	if err := c.WriteMessage(websocket.TextMessage, []byte(data)); err != nil {
		t.Fatalf("write %q: %v", data, err)
	}
}

// expectWSClosed reads until the connection ends; it must end within wait,
// with nothing but the frames in want before.
func expectWSClosed(t *testing.T, c *websocket.Conn, want ...string) error {
	t.Helper()
	var got []string
	for {
		mt, data, err := readWSErr(c)
		if err != nil {
			var ne interface{ Timeout() bool }
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("connection still open after %v", wait)
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("frames before close %q, want %q", got, want)
			}
			return err
		}
		if mt == websocket.BinaryMessage {
			data = fmt.Sprintf("binary %x", data)
		}
		got = append(got, data)
	}
}
