package engineio_test

// Tests of the Engine.IO v4 protocol, after the official test suite
// (github.com/socketio/engine.io-protocol, test-suite/test-suite.js), with a
// real server and raw HTTP and WebSocket clients.

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/switchboard-rt/switchboard/pkg/engineio"
)

func TestHandshakePolling(t *testing.T) {
	e := newEnv(t, heartbeatConfig)
	res := e.do(t, http.MethodGet, "EIO=4&transport=polling", "")
	if res.status != http.StatusOK {
		t.Fatalf("status %d, want 200", res.status)
	}
	if ct := res.header.Get("Content-Type"); ct != "text/plain; charset=UTF-8" {
		t.Errorf("Content-Type %q, want text/plain; charset=UTF-8", ct)
	}
	h := parseOpen(t, res.body)
	want := handshakeJSON{SID: h.SID, Upgrades: []string{"websocket"}, PingInterval: 300, PingTimeout: 200, MaxPayload: 1000000}
	if !equalJSON(h, want) {
		t.Errorf("handshake %+v, want %+v", h, want)
	}
	if e.srv.Session(h.SID) == nil {
		t.Error("the server does not know the new session")
	}
}

func TestHandshakeWebSocket(t *testing.T) {
	e := newEnv(t, heartbeatConfig)
	c, _, err := e.dial(t, "EIO=4&transport=websocket")
	if err != nil {
		t.Fatal(err)
	}
	mt, data := readWS(t, c)
	if mt != websocket.TextMessage {
		t.Fatalf("frame type %d, want text", mt)
	}
	h := parseOpen(t, data)
	want := handshakeJSON{SID: h.SID, Upgrades: []string{}, PingInterval: 300, PingTimeout: 200, MaxPayload: 1000000}
	if !equalJSON(h, want) {
		t.Errorf("handshake %+v, want %+v", h, want)
	}
	if s := e.srv.Session(h.SID); s == nil || s.Transport() != engineio.TransportWebSocket {
		t.Error("the server has no WebSocket session with the new sid")
	}
}

func equalJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

func TestHandshakeErrors(t *testing.T) {
	e := newEnv(t, engineio.Config{
		AllowRequest: func(r *http.Request) error {
			if r.URL.Query().Has("deny") {
				return errors.New("denied")
			}
			return nil
		},
	})
	tests := []struct {
		name    string
		method  string
		query   string
		status  int
		code    int
		message string
	}{
		{"missing transport", "GET", "EIO=4", 400, 0, "Transport unknown"},
		{"unknown transport", "GET", "EIO=4&transport=abc", 400, 0, "Transport unknown"},
		{"unknown sid", "GET", "EIO=4&transport=polling&sid=abc", 400, 1, "Session ID unknown"},
		{"unknown sid on POST", "POST", "EIO=4&transport=polling&sid=abc", 400, 1, "Session ID unknown"},
		{"POST handshake", "POST", "EIO=4&transport=polling", 400, 2, "Bad handshake method"},
		{"PUT handshake", "PUT", "EIO=4&transport=polling", 400, 2, "Bad handshake method"},
		{"missing EIO", "GET", "transport=polling", 400, 5, "Unsupported protocol version"},
		{"EIO abc", "GET", "EIO=abc&transport=polling", 400, 5, "Unsupported protocol version"},
		{"EIO 3", "GET", "EIO=3&transport=polling", 400, 5, "Unsupported protocol version"},
		{"refused by AllowRequest", "GET", "EIO=4&transport=polling&deny=1", 403, 4, "Forbidden"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := e.do(t, tt.method, tt.query, "")
			if res.status != tt.status {
				t.Errorf("status %d, want %d", res.status, tt.status)
			}
			if ct := res.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q, want application/json", ct)
			}
			var body struct {
				Code    *int    `json:"code"`
				Message *string `json:"message"`
			}
			if err := json.Unmarshal([]byte(res.body), &body); err != nil || body.Code == nil || body.Message == nil {
				t.Fatalf("body %q is not {code, message}: %v", res.body, err)
			}
			if *body.Code != tt.code || *body.Message != tt.message {
				t.Errorf("body %s, want code %d message %q", res.body, tt.code, tt.message)
			}
		})
	}
	if n := e.srv.Stats().Opened; n != 0 {
		t.Errorf("%d sessions opened by failed handshakes", n)
	}
}

func TestHandshakeErrorsWebSocket(t *testing.T) {
	e := newEnv(t, engineio.Config{
		AllowRequest: func(r *http.Request) error {
			if r.URL.Query().Has("deny") {
				return errors.New("denied")
			}
			return nil
		},
	})
	tests := []struct {
		name   string
		query  string
		status int
	}{
		{"missing EIO", "transport=websocket", 400},
		{"EIO abc", "EIO=abc&transport=websocket", 400},
		{"EIO 3", "EIO=3&transport=websocket", 400},
		{"missing transport", "EIO=4", 400},
		{"unknown transport", "EIO=4&transport=abc", 400},
		{"unknown sid", "EIO=4&transport=websocket&sid=abc", 400},
		{"refused by AllowRequest", "EIO=4&transport=websocket&deny=1", 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, res, err := e.dial(t, tt.query)
			if !errors.Is(err, websocket.ErrBadHandshake) {
				t.Fatalf("dial error %v, want %v", err, websocket.ErrBadHandshake)
			}
			if res.StatusCode != tt.status {
				t.Errorf("status %d, want %d", res.StatusCode, tt.status)
			}
		})
	}
	if n := e.srv.Stats().Opened; n != 0 {
		t.Errorf("%d sessions opened by failed handshakes", n)
	}
}

func TestPollingMessages(t *testing.T) {
	tests := []struct {
		name string
		post string
		want string // the GET after the POST, everything echoed
	}{
		{"one text packet", "4hello", "4hello"},
		{"several text packets", "4test1\x1e4test2\x1e4test3", "4test1\x1e4test2\x1e4test3"},
		{"text and binary packets", "4hello\x1ebAQIDBA==", "4hello\x1ebAQIDBA=="},
		{"empty text and binary", "4\x1eb", "4\x1eb"},
		{"utf-8", "4h€llo ☃", "4h€llo ☃"},
		{"noop and pong are not echoed", "6\x1e4a\x1e3", "4a"},
	}
	e := newEnv(t, engineio.Config{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sid := e.handshake(t)
			res := e.post(t, sid, tt.post)
			if res.status != http.StatusOK || res.body != "ok" {
				t.Fatalf("POST: %d %q, want 200 \"ok\"", res.status, res.body)
			}
			res = e.get(t, sid)
			if res.status != http.StatusOK || res.body != tt.want {
				t.Errorf("GET: %d %q, want 200 %q", res.status, res.body, tt.want)
			}
			if ct := res.header.Get("Content-Type"); ct != "text/plain; charset=UTF-8" {
				t.Errorf("GET Content-Type %q", ct)
			}
		})
	}
}

// A POST the server cannot accept ends the session: the next GET finds none.
func TestPollingBadPost(t *testing.T) {
	big := strings.Repeat("x", 1000)
	tests := []struct {
		name    string
		body    string
		chunked bool // no Content-Length: the server finds the size by reading
		status  int
		reason  string
	}{
		{name: "invalid packet", body: "abc", status: 400, reason: engineio.ReasonParseError},
		{name: "invalid packet after a valid one", body: "4a\x1eabc", status: 400, reason: engineio.ReasonParseError},
		{name: "bad base64", body: "b!!!", status: 400, reason: engineio.ReasonParseError},
		{name: "empty body", body: "", status: 400, reason: engineio.ReasonParseError},
		{name: "too large", body: "4" + big, status: 413, reason: engineio.ReasonTransportError},
		{name: "too large, chunked", body: "4" + big, chunked: true, status: 413, reason: engineio.ReasonTransportError},
	}
	e := newEnv(t, engineio.Config{MaxPayload: 1000})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sid := e.handshake(t)
			var body io.Reader = strings.NewReader(tt.body)
			if tt.chunked {
				body = io.MultiReader(body) // hides the length from net/http
			}
			res := e.request(context.Background(), http.MethodPost, sidQuery(sid), body, nil)
			if res.err != nil {
				t.Fatal(res.err)
			}
			if res.status != tt.status {
				t.Errorf("POST: %d %q, want %d", res.status, res.body, tt.status)
			}
			if r := e.closeReason(t, sid); r != tt.reason {
				t.Errorf("close reason %q, want %q", r, tt.reason)
			}
			if res := e.get(t, sid); res.status != http.StatusBadRequest {
				t.Errorf("GET after the bad POST: %d %q, want 400", res.status, res.body)
			}
		})
	}
	t.Run("largest accepted", func(t *testing.T) {
		sid := e.handshake(t)
		body := "4" + big[1:]
		if res := e.post(t, sid, body); res.status != http.StatusOK {
			t.Fatalf("POST of MaxPayload bytes: %d %q", res.status, res.body)
		}
		if res := e.get(t, sid); res.body != body {
			t.Errorf("GET: %d %d bytes, want the echo", res.status, len(res.body))
		}
	})
}

func TestPollingDuplicateGet(t *testing.T) {
	e := newEnv(t, engineio.Config{})
	sid := e.handshake(t)
	first := e.getAsync(context.Background(), sid)
	e.waitGetWaiting(t, sid)
	second := e.getAsync(context.Background(), sid)
	if res := await(t, first); res.status != http.StatusOK || res.body != "1" {
		t.Errorf("first GET: %d %q, want 200 \"1\"", res.status, res.body)
	}
	if res := await(t, second); res.status != http.StatusBadRequest {
		t.Errorf("second GET: %d %q, want 400", res.status, res.body)
	}
	if res := e.get(t, sid); res.status != http.StatusBadRequest {
		t.Errorf("later GET: %d %q, want 400", res.status, res.body)
	}
	if r := e.closeReason(t, sid); r != engineio.ReasonTransportError {
		t.Errorf("close reason %q", r)
	}
}

func TestPollingCancelledGet(t *testing.T) {
	e := newEnv(t, engineio.Config{})
	sid := e.handshake(t)
	ctx, cancel := context.WithCancel(context.Background())
	pending := e.getAsync(ctx, sid)
	e.waitGetWaiting(t, sid)
	cancel()
	select {
	case res := <-pending:
		if !errors.Is(res.err, context.Canceled) {
			t.Fatalf("cancelled GET: %v", res.err)
		}
	case <-time.After(wait):
		t.Fatal("cancelled GET did not return")
	}
	if r := e.closeReason(t, sid); r != engineio.ReasonTransportClose {
		t.Errorf("close reason %q, want %q", r, engineio.ReasonTransportClose)
	}
	e.waitGone(t, sid)
	if res := e.get(t, sid); res.status != http.StatusBadRequest {
		t.Errorf("GET after the cancelled one: %d %q, want 400", res.status, res.body)
	}
}

func TestPollingConcurrentPost(t *testing.T) {
	e := newEnv(t, engineio.Config{})
	sid := e.handshake(t)
	pr, pw := io.Pipe()
	firstDone := make(chan response, 1)
	go func() { firstDone <- e.request(context.Background(), http.MethodPost, sidQuery(sid), pr, nil) }()
	waitUntil(t, "the first POST is being read", func() bool {
		_, post := engineio.PollState(e.srv, sid)
		return post
	})
	if res := e.post(t, sid, "4second"); res.status != http.StatusBadRequest {
		t.Errorf("overlapping POST: %d %q, want 400", res.status, res.body)
	}
	if _, err := io.WriteString(pw, "4first"); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	if res := await(t, firstDone); res.status != http.StatusOK {
		t.Errorf("first POST: %d %q, want 200", res.status, res.body)
	}
	if r := e.closeReason(t, sid); r != engineio.ReasonTransportError {
		t.Errorf("close reason %q, want %q", r, engineio.ReasonTransportError)
	}
	// The session is over: the client is told so, then forgotten.
	if res := e.get(t, sid); res.status != http.StatusBadRequest && !(res.status == http.StatusOK && strings.HasSuffix(res.body, "1")) {
		t.Errorf("GET: %d %q, want 400 or a close packet", res.status, res.body)
	}
	// And the server goes on.
	e.handshake(t)
}

func TestWebSocketMessages(t *testing.T) {
	tests := []struct {
		name     string
		typ      int
		send     string
		wantType int
		want     string
	}{
		{"text", websocket.TextMessage, "4hello", websocket.TextMessage, "4hello"},
		{"empty text", websocket.TextMessage, "4", websocket.TextMessage, "4"},
		{"utf-8", websocket.TextMessage, "4h€llo", websocket.TextMessage, "4h€llo"},
		{"binary", websocket.BinaryMessage, "\x01\x02\x03\x04", websocket.BinaryMessage, "\x01\x02\x03\x04"},
		{"large binary", websocket.BinaryMessage, strings.Repeat("\xfe", 70000), websocket.BinaryMessage, strings.Repeat("\xfe", 70000)},
	}
	// Over TLS the writer cannot hand its frames to writev: it copies them
	// into a pooled buffer, one the polling transport uses too.
	for _, useTLS := range []bool{false, true} {
		t.Run(map[bool]string{false: "tcp", true: "tls"}[useTLS], func(t *testing.T) {
			e := newEnvWith(t, engineio.Config{}, useTLS, nil)
			sid := e.handshake(t)
			if res := e.post(t, sid, "4"+strings.Repeat("p", 3000)); res.status != http.StatusOK {
				t.Fatalf("POST: %d %q", res.status, res.body)
			}
			c, wsSID := e.openWS(t)
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					if err := c.WriteMessage(tt.typ, []byte(tt.send)); err != nil {
						t.Fatal(err)
					}
					mt, got := readWS(t, c)
					if mt != tt.wantType || got != tt.want {
						t.Errorf("echo: type %d, %d bytes %.20q; want type %d, %d bytes %.20q", mt, len(got), got, tt.wantType, len(tt.want), tt.want)
					}
				})
			}
			t.Run("many at once", func(t *testing.T) {
				msgs := make([]*engineio.Message, 100)
				for i := range msgs {
					msgs[i] = engineio.NewTextMessage([]byte(strconv.Itoa(i)))
				}
				if err := e.srv.Session(wsSID).Send(msgs...); err != nil {
					t.Fatal(err)
				}
				for i := range msgs {
					expectWS(t, c, "4"+strconv.Itoa(i))
				}
			})
		})
	}
}

func TestWebSocketBadPacket(t *testing.T) {
	tests := []struct {
		name   string
		send   string
		reason string
	}{
		{"invalid packet", "abc", engineio.ReasonParseError},
		{"empty frame", "", engineio.ReasonParseError},
		{"base64 on WebSocket", "bAQIDBA==", engineio.ReasonParseError},
	}
	e := newEnv(t, engineio.Config{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, sid := e.openWS(t)
			writeWS(t, c, tt.send)
			expectWSClosed(t, c)
			if r := e.closeReason(t, sid); r != tt.reason {
				t.Errorf("close reason %q, want %q", r, tt.reason)
			}
		})
	}
}

func TestHeartbeatPolling(t *testing.T) {
	e := newEnv(t, heartbeatConfig)
	sid := e.handshake(t)
	for i := range 3 {
		start := time.Now()
		if res := e.get(t, sid); res.status != http.StatusOK || res.body != "2" {
			t.Fatalf("GET %d: %d %q, want the ping \"2\"", i, res.status, res.body)
		}
		if i > 0 {
			// The next ping is PingInterval after the pong.
			if d := time.Since(start); d < heartbeatConfig.PingInterval-20*time.Millisecond {
				t.Errorf("ping %d after %v, want about %v", i, d, heartbeatConfig.PingInterval)
			}
		}
		if res := e.post(t, sid, "3"); res.status != http.StatusOK {
			t.Fatalf("POST pong %d: %d %q", i, res.status, res.body)
		}
	}
}

func TestHeartbeatPollingTimeout(t *testing.T) {
	e := newEnv(t, heartbeatConfig)
	start := time.Now()
	sid := e.handshake(t)
	// No GET, no pong: the session ends PingInterval+PingTimeout after the
	// handshake. The official suite sleeps that long plus 10ms; waiting for
	// the end instead keeps the test exact on a loaded machine, and the
	// delay is checked with some slack.
	e.waitGone(t, sid)
	deadline := heartbeatConfig.PingInterval + heartbeatConfig.PingTimeout
	if d := time.Since(start); d < deadline || d > deadline+150*time.Millisecond {
		t.Errorf("session closed %v after the handshake, want %v", d, deadline)
	}
	if res := e.get(t, sid); res.status != http.StatusBadRequest {
		t.Errorf("GET after the ping timeout: %d %q, want 400", res.status, res.body)
	}
	if r := e.closeReason(t, sid); r != engineio.ReasonPingTimeout {
		t.Errorf("close reason %q, want %q", r, engineio.ReasonPingTimeout)
	}
}

func TestHeartbeatWebSocket(t *testing.T) {
	e := newEnv(t, heartbeatConfig)
	c, _ := e.openWS(t)
	for range 3 {
		expectWS(t, c, "2")
		writeWS(t, c, "3")
	}
}

func TestHeartbeatWebSocketTimeout(t *testing.T) {
	e := newEnv(t, heartbeatConfig)
	start := time.Now()
	c, sid := e.openWS(t)
	expectWSClosed(t, c, "2")
	if d, min := time.Since(start), heartbeatConfig.PingInterval+heartbeatConfig.PingTimeout; d < min {
		t.Errorf("closed after %v, before PingInterval+PingTimeout %v", d, min)
	}
	if r := e.closeReason(t, sid); r != engineio.ReasonPingTimeout {
		t.Errorf("close reason %q, want %q", r, engineio.ReasonPingTimeout)
	}
}

// A pong that comes back before the server has armed its pong deadline must
// not stop the heartbeat: with pings every millisecond, some pongs do.
func TestHeartbeatFastPongs(t *testing.T) {
	const pings = 300
	cfg := engineio.Config{PingInterval: time.Millisecond, PingTimeout: time.Second}
	t.Run("websocket", func(t *testing.T) {
		e := newEnv(t, cfg)
		c, _ := e.openWS(t)
		for i := range pings {
			if _, data := readWS(t, c); data != "2" {
				t.Fatalf("frame %d: %q, want a ping", i, data)
			}
			writeWS(t, c, "3")
		}
	})
	t.Run("polling", func(t *testing.T) {
		e := newEnv(t, cfg)
		sid := e.handshake(t)
		for i := range pings / 3 {
			if res := e.get(t, sid); res.status != http.StatusOK || res.body != "2" {
				t.Fatalf("GET %d: %d %q, want a ping", i, res.status, res.body)
			}
			if res := e.post(t, sid, "3"); res.status != http.StatusOK {
				t.Fatalf("POST %d: %d %q", i, res.status, res.body)
			}
		}
	})
}

func TestClosePolling(t *testing.T) {
	e := newEnv(t, engineio.Config{})
	sid := e.handshake(t)
	pending := e.getAsync(context.Background(), sid)
	e.waitGetWaiting(t, sid)
	if res := e.post(t, sid, "1"); res.status != http.StatusOK {
		t.Errorf("POST close: %d %q", res.status, res.body)
	}
	if res := await(t, pending); res.status != http.StatusOK || res.body != "6" {
		t.Errorf("pending GET: %d %q, want 200 \"6\"", res.status, res.body)
	}
	if res := e.get(t, sid); res.status != http.StatusBadRequest {
		t.Errorf("GET after close: %d %q, want 400", res.status, res.body)
	}
	if r := e.closeReason(t, sid); r != engineio.ReasonTransportClose {
		t.Errorf("close reason %q, want %q", r, engineio.ReasonTransportClose)
	}
}

func TestCloseWebSocket(t *testing.T) {
	e := newEnv(t, engineio.Config{})
	c, sid := e.openWS(t)
	writeWS(t, c, "1")
	expectWSClosed(t, c)
	if r := e.closeReason(t, sid); r != engineio.ReasonTransportClose {
		t.Errorf("close reason %q, want %q", r, engineio.ReasonTransportClose)
	}
	e.waitGone(t, sid)
	if st := e.srv.Stats(); st.Sessions != 0 || st.WebSocket != 0 {
		t.Errorf("stats after close: %+v", st)
	}
}

func TestUpgrade(t *testing.T) {
	e := newEnv(t, engineio.Config{})
	sid := e.handshake(t)
	c, _, err := e.dial(t, "EIO=4&transport=websocket&sid="+sid)
	if err != nil {
		t.Fatalf("dial with sid: %v", err)
	}
	writeWS(t, c, "2probe")
	expectWS(t, c, "3probe")
	// The pending or next GET is released with a noop.
	if res := e.get(t, sid); res.status != http.StatusOK || res.body != "6" {
		t.Errorf("GET during the upgrade: %d %q, want 200 \"6\"", res.status, res.body)
	}
	writeWS(t, c, "5")
	writeWS(t, c, "4hello")
	expectWS(t, c, "4hello")

	if got := e.srv.Session(sid).Transport(); got != engineio.TransportWebSocket {
		t.Errorf("transport %q after upgrade", got)
	}
	if st := e.srv.Stats(); st.Sessions != 1 || st.WebSocket != 1 {
		t.Errorf("stats after upgrade: %+v", st)
	}

	// The old transport and a second upgrade are refused; the session goes on.
	if res := e.get(t, sid); res.status != http.StatusBadRequest {
		t.Errorf("GET after upgrade: %d %q, want 400", res.status, res.body)
	}
	if res := e.post(t, sid, "4x"); res.status != http.StatusBadRequest {
		t.Errorf("POST after upgrade: %d %q, want 400", res.status, res.body)
	}
	// As with the reference server, a second WebSocket opens, then closes.
	second, _, err := e.dial(t, "EIO=4&transport=websocket&sid="+sid)
	if err != nil {
		t.Fatalf("second WebSocket with the sid: %v, want 101 then a close", err)
	}
	expectWSClosed(t, second)
	writeWS(t, c, "4still here")
	expectWS(t, c, "4still here")
}

// The pending GET is released when the probe succeeds.
func TestUpgradeReleasesPendingGet(t *testing.T) {
	e := newEnv(t, engineio.Config{})
	sid := e.handshake(t)
	pending := e.getAsync(context.Background(), sid)
	e.waitGetWaiting(t, sid)
	c, _, err := e.dial(t, "EIO=4&transport=websocket&sid="+sid)
	if err != nil {
		t.Fatal(err)
	}
	writeWS(t, c, "2probe")
	expectWS(t, c, "3probe")
	if res := await(t, pending); res.status != http.StatusOK || res.body != "6" {
		t.Errorf("pending GET: %d %q, want 200 \"6\"", res.status, res.body)
	}
	writeWS(t, c, "5")
	writeWS(t, c, "4hello")
	expectWS(t, c, "4hello")
}

// A failed probe leaves the session on long-polling.
func TestUpgradeAbortedProbe(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, c *websocket.Conn)
	}{
		{"closed before the probe", func(t *testing.T, c *websocket.Conn) {}},
		{"closed after the probe", func(t *testing.T, c *websocket.Conn) {
			writeWS(t, c, "2probe")
			expectWS(t, c, "3probe")
		}},
		{"garbage instead of the probe", func(t *testing.T, c *websocket.Conn) {
			writeWS(t, c, "4hello")
			expectWSClosed(t, c)
		}},
	}
	e := newEnv(t, engineio.Config{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sid := e.handshake(t)
			c, _, err := e.dial(t, "EIO=4&transport=websocket&sid="+sid)
			if err != nil {
				t.Fatal(err)
			}
			tt.run(t, c)
			c.Close()
			// Once the server has dropped the probe, polling goes on.
			waitUntil(t, "a new probe is answered", func() bool {
				c2, _, err := e.dialer.Dial(e.wsURL("EIO=4&transport=websocket&sid="+sid), nil)
				if err != nil {
					return false
				}
				defer c2.Close()
				if c2.WriteMessage(websocket.TextMessage, []byte("2probe")) != nil {
					return false
				}
				_, data, err := readWSErr(c2)
				return err == nil && data == "3probe"
			})
			if res := e.post(t, sid, "4still polling"); res.status != http.StatusOK {
				t.Fatalf("POST: %d %q", res.status, res.body)
			}
			if res := e.get(t, sid); res.body != "4still polling" && res.body != "6" {
				t.Errorf("GET: %d %q", res.status, res.body)
			}
		})
	}
}

func TestUpgradeTimeout(t *testing.T) {
	e := newEnv(t, engineio.Config{UpgradeTimeout: 100 * time.Millisecond})
	sid := e.handshake(t)
	c, _, err := e.dial(t, "EIO=4&transport=websocket&sid="+sid)
	if err != nil {
		t.Fatal(err)
	}
	writeWS(t, c, "2probe")
	expectWS(t, c, "3probe")
	// No "5": the server drops the probe.
	expectWSClosed(t, c)
	if res := e.post(t, sid, "4hello"); res.status != http.StatusOK {
		t.Fatalf("POST after the upgrade timeout: %d %q", res.status, res.body)
	}
	if res := e.get(t, sid); res.status != http.StatusOK || res.body != "4hello" {
		t.Errorf("GET: %d %q, want the echo", res.status, res.body)
	}
}
