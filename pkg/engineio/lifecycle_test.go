package engineio_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/switchboard-rt/switchboard/pkg/engineio"
)

// pollUntilClose GETs until a close packet comes and returns every packet.
func (e *env) pollUntilClose(t *testing.T, sid string, first <-chan response) []string {
	t.Helper()
	var got []string
	for range 10 {
		var res response
		if first != nil {
			res, first = await(t, first), nil
		} else {
			res = e.get(t, sid)
		}
		if res.status != http.StatusOK {
			t.Fatalf("GET: %d %q, after %q", res.status, res.body, got)
		}
		got = append(got, strings.Split(res.body, "\x1e")...)
		if got[len(got)-1] == "1" {
			return got
		}
	}
	t.Fatalf("no close packet, got %q", got)
	return nil
}

// Session.Close flushes what is queued, then tells the client.
func TestSessionClose(t *testing.T) {
	want := []string{"4a", "4b", "4c"}
	send := func(t *testing.T, s *engineio.Session) {
		t.Helper()
		if err := s.Send(engineio.NewTextMessage([]byte("a")), engineio.NewTextMessage([]byte("b"))); err != nil {
			t.Fatal(err)
		}
		if err := s.Send(engineio.NewTextMessage([]byte("c"))); err != nil {
			t.Fatal(err)
		}
		s.Close()
		if err := s.Send(engineio.NewTextMessage([]byte("late"))); !errors.Is(err, engineio.ErrClosed) {
			t.Errorf("Send after Close: %v, want ErrClosed", err)
		}
	}
	tests := []struct {
		name string
		run  func(t *testing.T, e *env) string // returns the sid
	}{
		{"polling, GET pending", func(t *testing.T, e *env) string {
			sid := e.handshake(t)
			pending := e.getAsync(context.Background(), sid)
			e.waitGetWaiting(t, sid)
			send(t, e.srv.Session(sid))
			if got := e.pollUntilClose(t, sid, pending); !equalStrings(got, append(want, "1")) {
				t.Errorf("packets %q, want %q", got, append(want, "1"))
			}
			return sid
		}},
		{"polling, no GET pending", func(t *testing.T, e *env) string {
			sid := e.handshake(t)
			send(t, e.srv.Session(sid))
			if res := e.get(t, sid); res.body != strings.Join(append(want, "1"), "\x1e") {
				t.Errorf("GET: %d %q", res.status, res.body)
			}
			return sid
		}},
		{"websocket", func(t *testing.T, e *env) string {
			c, sid := e.openWS(t)
			send(t, e.srv.Session(sid))
			err := expectWSClosed(t, c, want...)
			if !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
				t.Errorf("connection ended with %v, want a close frame 1000", err)
			}
			return sid
		}},
		{"upgraded websocket", func(t *testing.T, e *env) string {
			sid := e.handshake(t)
			c := e.upgradeWS(t, sid)
			writeWS(t, c, "4x")
			expectWS(t, c, "4x") // the upgrade is complete
			send(t, e.srv.Session(sid))
			err := expectWSClosed(t, c, want...)
			if !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
				t.Errorf("connection ended with %v, want a close frame 1000", err)
			}
			return sid
		}},
	}
	e := newEnv(t, engineio.Config{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sid := tt.run(t, e)
			if r := e.closeReason(t, sid); r != engineio.ReasonForcedClose {
				t.Errorf("close reason %q, want %q", r, engineio.ReasonForcedClose)
			}
			e.waitGone(t, sid)
			if res := e.get(t, sid); res.status != http.StatusBadRequest {
				t.Errorf("GET after close: %d %q, want 400", res.status, res.body)
			}
		})
	}
	if st := e.srv.Stats(); st.Sessions != 0 || st.WebSocket != 0 {
		t.Errorf("stats after every session closed: %+v", st)
	}
}

// A handler may close its session from OnOpen: OnClose is then called on the
// handler OnOpen returned, and the client is told.
func TestCloseInOnOpen(t *testing.T) {
	cfg := heartbeatConfig
	e := newEnvWith(t, cfg, false, func(s *engineio.Session) {
		_ = s.Send(engineio.NewTextMessage([]byte("go away")))
		s.Close()
	})
	t.Run("polling, next GET", func(t *testing.T) {
		sid := e.handshake(t)
		if res := e.get(t, sid); res.body != "4go away\x1e1" {
			t.Errorf("GET: %d %q, want the message and the close packet", res.status, res.body)
		}
		if r := e.closeReason(t, sid); r != engineio.ReasonForcedClose {
			t.Errorf("close reason %q, want %q", r, engineio.ReasonForcedClose)
		}
	})
	t.Run("polling, no GET", func(t *testing.T) {
		start := time.Now()
		sid := e.handshake(t)
		if r := e.closeReason(t, sid); r != engineio.ReasonForcedClose {
			t.Errorf("close reason %q, want %q", r, engineio.ReasonForcedClose)
		}
		// Without a GET the server waits PingTimeout for one, then forgets
		// the session.
		e.waitGone(t, sid)
		if d := time.Since(start); d < cfg.PingTimeout {
			t.Errorf("session gone after %v, before PingTimeout", d)
		}
	})
	// A client that never polls does not see the close packet: its POSTs
	// are refused while the session waits for a GET, rather than read
	// (and dropped) until PingTimeout. The GET still gets what was queued.
	t.Run("polling, POST while closing", func(t *testing.T) {
		sid := e.handshake(t)
		if r := e.closeReason(t, sid); r != engineio.ReasonForcedClose {
			t.Errorf("close reason %q, want %q", r, engineio.ReasonForcedClose)
		}
		if res := e.post(t, sid, "4"+strings.Repeat("x", 1000)); res.status != http.StatusBadRequest {
			t.Errorf("POST to a closing session: %d %q, want 400", res.status, res.body)
		}
		if res := e.get(t, sid); res.body != "4go away\x1e1" {
			t.Errorf("GET: %d %q, want the message and the close packet", res.status, res.body)
		}
	})
	t.Run("websocket", func(t *testing.T) {
		c, sid := e.openWS(t)
		if err := expectWSClosed(t, c, "4go away"); !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
			t.Errorf("connection ended with %v, want a close frame", err)
		}
		if r := e.closeReason(t, sid); r != engineio.ReasonForcedClose {
			t.Errorf("close reason %q, want %q", r, engineio.ReasonForcedClose)
		}
	})
}

func equalStrings(a, b []string) bool {
	return strings.Join(a, "\x00") == strings.Join(b, "\x00")
}

func TestSlowConsumer(t *testing.T) {
	e := newEnv(t, engineio.Config{WriteQueueSize: 4})
	_, sid := e.openWS(t) // and never read again
	sess := e.srv.Session(sid)
	big := engineio.NewBinaryMessage(bytes.Repeat([]byte{0xaa}, 256<<10)) // framed once, sent many times
	deadline := time.Now().Add(wait)
	var err error
	for sent := 0; err == nil; sent++ {
		if time.Now().After(deadline) {
			t.Fatalf("%d messages of 256 KiB queued for a client that does not read", sent)
		}
		err = sess.Send(big)
	}
	if !errors.Is(err, engineio.ErrQueueFull) {
		t.Fatalf("Send: %v, want ErrQueueFull", err)
	}
	if r := e.closeReason(t, sid); r != engineio.ReasonSlowConsumer {
		t.Errorf("close reason %q, want %q", r, engineio.ReasonSlowConsumer)
	}
	e.waitGone(t, sid)
	if st := e.srv.Stats(); st.SlowConsumers != 1 || st.Sessions != 0 || st.WebSocket != 0 {
		t.Errorf("stats %+v, want 1 slow consumer and no session", st)
	}
	// The writer, blocked on the full socket, and the reader are gone:
	// Shutdown has nothing to wait for.
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if err := e.srv.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

func TestSlowConsumerPolling(t *testing.T) {
	e := newEnv(t, engineio.Config{WriteQueueSize: 4})
	sid := e.handshake(t)
	sess := e.srv.Session(sid)
	m := engineio.NewTextMessage([]byte("x"))
	for i := range 4 {
		if err := sess.Send(m); err != nil {
			t.Fatalf("Send %d: %v", i, err)
		}
	}
	if err := sess.Send(m); !errors.Is(err, engineio.ErrQueueFull) {
		t.Fatalf("fifth Send: %v, want ErrQueueFull", err)
	}
	if r := e.closeReason(t, sid); r != engineio.ReasonSlowConsumer {
		t.Errorf("close reason %q", r)
	}
	if res := e.get(t, sid); res.status != http.StatusBadRequest {
		t.Errorf("GET: %d %q, want 400", res.status, res.body)
	}
	if st := e.srv.Stats(); st.SlowConsumers != 1 {
		t.Errorf("stats %+v, want 1 slow consumer", st)
	}
}

// TestSlowConsumerBytes: the queue is bounded in bytes, not only in
// packets: 1,024 packets of 1 MB once let one client that does not read pin
// a gigabyte. With the default 4 MB, a WebSocket that does not read is
// dropped after a few megabytes (one batch held by its blocked writer,
// what the socket buffers took, and a full queue); a polling session with
// no GET, after the queue's 4 MB.
func TestSlowConsumerBytes(t *testing.T) {
	big := engineio.NewBinaryMessage(make([]byte, 1_000_000))
	sendUntilFull := func(t *testing.T, sess *engineio.Session) int {
		t.Helper()
		for sent := 0; sent < 64; sent++ {
			if err := sess.Send(big); err != nil {
				if !errors.Is(err, engineio.ErrQueueFull) {
					t.Fatalf("Send: %v, want ErrQueueFull", err)
				}
				return sent
			}
		}
		t.Fatalf("64 MB queued for a client that does not read")
		return 0
	}
	t.Run("websocket", func(t *testing.T) {
		e := newEnv(t, engineio.Config{})
		_, sid := e.openWS(t) // and never read again
		sess := e.srv.Session(sid)
		if n := sendUntilFull(t, sess); n < 3 || n > 24 {
			t.Errorf("%d MB accepted, want 3 to 24", n)
		}
		if r := e.closeReason(t, sid); r != engineio.ReasonSlowConsumer {
			t.Errorf("close reason %q, want %q", r, engineio.ReasonSlowConsumer)
		}
	})
	t.Run("polling", func(t *testing.T) {
		e := newEnv(t, engineio.Config{WriteQueueBytes: 2_500_000})
		sid := e.handshake(t)
		sess := e.srv.Session(sid)
		if n := sendUntilFull(t, sess); n != 2 {
			t.Errorf("%d MB accepted under a 2.5 MB bound, want 2", n)
		}
		if r := e.closeReason(t, sid); r != engineio.ReasonSlowConsumer {
			t.Errorf("close reason %q, want %q", r, engineio.ReasonSlowConsumer)
		}
		if st := e.srv.Stats(); st.SlowConsumers != 1 {
			t.Errorf("stats %+v, want 1 slow consumer", st)
		}
	})
	t.Run("drained queue makes room", func(t *testing.T) {
		e := newEnv(t, engineio.Config{WriteQueueBytes: 2_500_000})
		sid := e.handshake(t)
		sess := e.srv.Session(sid)
		for i := range 6 {
			if err := sess.Send(big, big); err != nil {
				t.Fatalf("round %d: Send: %v", i, err)
			}
			if res := e.get(t, sid); res.status != http.StatusOK || len(res.body) < 2_000_000 {
				t.Fatalf("round %d: GET %d, %d bytes", i, res.status, len(res.body))
			}
		}
	})
}

func TestShutdown(t *testing.T) {
	e := newEnv(t, engineio.Config{})
	bye := engineio.NewTextMessage([]byte("bye"))

	ws, wsSID := e.openWS(t)
	_ = e.srv.Session(wsSID).Send(bye)

	pollSID := e.handshake(t)
	pending := e.getAsync(context.Background(), pollSID)
	e.waitGetWaiting(t, pollSID)

	upSID := e.handshake(t)
	up := e.upgradeWS(t, upSID)
	writeWS(t, up, "4x")
	expectWS(t, up, "4x")

	idleSID := e.handshake(t)
	_ = e.srv.Session(idleSID).Send(bye)

	probeSID := e.handshake(t)
	probe, _, err := e.dial(t, "EIO=4&transport=websocket&sid="+probeSID)
	if err != nil {
		t.Fatal(err)
	}
	writeWS(t, probe, "2probe")
	expectWS(t, probe, "3probe")

	if st := e.srv.Stats(); st.Sessions != 5 || st.WebSocket != 2 || st.Opened != 5 {
		t.Errorf("stats before Shutdown: %+v", st)
	}

	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := e.srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	for _, sid := range []string{wsSID, pollSID, upSID, idleSID, probeSID} {
		if r := e.closeReason(t, sid); r != engineio.ReasonServerShutdown {
			t.Errorf("session %s: close reason %q, want %q", sid, r, engineio.ReasonServerShutdown)
		}
	}
	if err := expectWSClosed(t, ws, "4bye"); !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
		t.Errorf("WebSocket ended with %v, want a close frame", err)
	}
	if err := expectWSClosed(t, up); !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
		t.Errorf("upgraded WebSocket ended with %v, want a close frame", err)
	}
	expectWSClosed(t, probe)
	if res := await(t, pending); res.status != http.StatusOK || res.body != "1" {
		t.Errorf("pending GET: %d %q, want the close packet", res.status, res.body)
	}
	// A polling session without a GET at Shutdown is forgotten when
	// Shutdown returns (nothing is left to drop it later): its next GET is
	// told the session is unknown, and its client reconnects.
	for _, sid := range []string{idleSID, probeSID} {
		if res := e.get(t, sid); res.status != http.StatusBadRequest || !strings.Contains(res.body, "Session ID unknown") {
			t.Errorf("GET of session %s after Shutdown: %d %q, want 400 unknown session", sid, res.status, res.body)
		}
	}
	if st := e.srv.Stats(); st.Sessions != 0 {
		t.Errorf("stats after Shutdown: %+v, want no session", st)
	}

	// No new session.
	if res := e.do(t, http.MethodGet, "EIO=4&transport=polling", ""); res.status == http.StatusOK {
		t.Errorf("handshake after Shutdown: %d %q", res.status, res.body)
	}
	if c, _, err := e.dial(t, "EIO=4&transport=websocket"); err == nil {
		if _, data, err := readWSErr(c); err == nil {
			t.Errorf("WebSocket handshake after Shutdown got %q", data)
		}
	}
	if st := e.srv.Stats(); st.Sessions != 0 || st.WebSocket != 0 {
		t.Errorf("stats after Shutdown: %+v", st)
	}
}

func TestCORS(t *testing.T) {
	e := newEnv(t, engineio.Config{AllowedOrigins: []string{"http://a.example"}})
	tests := []struct {
		name        string
		method      string
		origin      string
		status      int
		allowOrigin string // "" means no CORS headers
	}{
		{"allowed origin", http.MethodGet, "http://a.example", 200, "http://a.example"},
		{"allowed origin, preflight", http.MethodOptions, "http://a.example", 204, "http://a.example"},
		{"other origin", http.MethodGet, "http://b.example", 200, ""},
		{"other origin, preflight", http.MethodOptions, "http://b.example", 403, ""},
		{"no origin", http.MethodGet, "", 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.origin != "" {
				h.Set("Origin", tt.origin)
			}
			if tt.method == http.MethodOptions {
				h.Set("Access-Control-Request-Method", "POST")
				h.Set("Access-Control-Request-Headers", "content-type")
			}
			res := e.request(context.Background(), tt.method, "EIO=4&transport=polling", nil, h)
			if res.err != nil {
				t.Fatal(res.err)
			}
			if res.status != tt.status {
				t.Errorf("status %d, want %d", res.status, tt.status)
			}
			if got := res.header.Get("Access-Control-Allow-Origin"); got != tt.allowOrigin {
				t.Errorf("Access-Control-Allow-Origin %q, want %q", got, tt.allowOrigin)
			}
			wantCred := ""
			if tt.allowOrigin != "" {
				wantCred = "true"
			}
			if got := res.header.Get("Access-Control-Allow-Credentials"); got != wantCred {
				t.Errorf("Access-Control-Allow-Credentials %q, want %q", got, wantCred)
			}
			if tt.status == http.StatusNoContent {
				if got := res.header.Get("Access-Control-Allow-Methods"); !strings.Contains(got, "POST") {
					t.Errorf("Access-Control-Allow-Methods %q", got)
				}
				if got := res.header.Get("Access-Control-Allow-Headers"); got != "content-type" {
					t.Errorf("Access-Control-Allow-Headers %q", got)
				}
			}
		})
	}
	t.Run("websocket", func(t *testing.T) {
		same := newEnv(t, engineio.Config{}) // no AllowedOrigins: same origin only
		sameOrigin := strings.TrimSuffix(same.base, enginePath)
		tests := []struct {
			env    *env
			origin string
			ok     bool
		}{
			{e, "http://a.example", true},
			{e, "http://b.example", false},
			{same, sameOrigin, true},
			{same, "http://a.example", false},
			{same, "", true}, // not a browser
		}
		for _, tt := range tests {
			h := http.Header{}
			if tt.origin != "" {
				h.Set("Origin", tt.origin)
			}
			c, res, err := tt.env.dialer.Dial(tt.env.wsURL("EIO=4&transport=websocket"), h)
			if err == nil {
				c.Close()
			} else if res != nil {
				res.Body.Close()
			}
			if (err == nil) != tt.ok {
				t.Errorf("origin %q: dial error %v, want ok=%v", tt.origin, err, tt.ok)
			}
		}
	})
}

// A client that reads nothing cannot hold Shutdown past its context: its
// connection is cut.
func TestShutdownDeadline(t *testing.T) {
	e := newEnv(t, engineio.Config{WriteQueueBytes: 128 << 20})
	_, sid := e.openWS(t) // and never read again
	big := engineio.NewBinaryMessage(bytes.Repeat([]byte{0xaa}, 1<<20))
	// Enough to fill the socket buffers: the writer blocks.
	for range 64 {
		if err := e.srv.Session(sid).Send(big); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := e.srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown: %v, want %v", err, context.DeadlineExceeded)
	}
	if d := time.Since(start); d > wait {
		t.Errorf("Shutdown took %v", d)
	}
	if r := e.closeReason(t, sid); r != engineio.ReasonServerShutdown {
		t.Errorf("close reason %q", r)
	}
	if st := e.srv.Stats(); st.Sessions != 0 || st.WebSocket != 0 {
		t.Errorf("stats after Shutdown: %+v", st)
	}
}

func TestSendVolatile(t *testing.T) {
	m := engineio.NewTextMessage([]byte("v"))
	e := newEnv(t, engineio.Config{})
	t.Run("polling", func(t *testing.T) {
		sid := e.handshake(t)
		s := e.srv.Session(sid)
		if s.SendVolatile(m) {
			t.Error("SendVolatile without a GET to write it reported true")
		}
		pending := e.getAsync(context.Background(), sid)
		e.waitGetWaiting(t, sid)
		if !s.SendVolatile(m) {
			t.Error("SendVolatile with a GET waiting reported false")
		}
		if res := await(t, pending); res.body != "4v" {
			t.Errorf("GET: %d %q, want \"4v\"", res.status, res.body)
		}
		s.Close()
		if s.SendVolatile(m) {
			t.Error("SendVolatile after Close reported true")
		}
	})
	t.Run("websocket", func(t *testing.T) {
		c, sid := e.openWS(t)
		s := e.srv.Session(sid)
		if !s.SendVolatile(m) {
			t.Error("SendVolatile on an idle WebSocket reported false")
		}
		expectWS(t, c, "4v")
	})
}

func TestSessionRequest(t *testing.T) {
	e := newEnv(t, engineio.Config{})
	h := http.Header{"X-Test": {"yes"}}
	res := e.request(context.Background(), http.MethodGet, "EIO=4&transport=polling&t=abc&token=xyz", nil, h)
	if res.err != nil || res.status != http.StatusOK {
		t.Fatalf("handshake: %v %d", res.err, res.status)
	}
	s := e.srv.Session(parseOpen(t, res.body).SID)
	r := s.Request()
	if got := r.Query.Encode(); got != "token=xyz" {
		t.Errorf("Query %q, want the application's parameters only", got)
	}
	if r.Header.Get("X-Test") != "yes" {
		t.Errorf("Header %v lacks X-Test", r.Header)
	}
	if !strings.HasPrefix(r.RemoteAddr, "127.0.0.1:") || r.Secure || r.Time.IsZero() {
		t.Errorf("RequestInfo %+v", r)
	}
	if s.Transport() != engineio.TransportPolling {
		t.Errorf("Transport %q", s.Transport())
	}
}

func TestConfigDefaults(t *testing.T) {
	srv := engineio.NewServer(engineio.Config{}, &echoHandler{})
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	got := srv.Config()
	if got.PingInterval != 25*time.Second || got.PingTimeout != 20*time.Second ||
		got.UpgradeTimeout != 10*time.Second || got.MaxPayload != 1_000_000 ||
		got.WriteQueueSize != 1024 || got.WriteQueueBytes != 4_000_000 || got.WriteTimeout != 10*time.Second ||
		!equalStrings(got.Transports, []string{"polling", "websocket"}) ||
		got.NewID == nil || got.Logger == nil {
		t.Errorf("defaults %+v", got)
	}
	if srv.Scheduler() == nil {
		t.Error("no Scheduler")
	}
	if id := engineio.RandomID(); len(id) != 20 || id == engineio.RandomID() {
		t.Errorf("RandomID %q", id)
	}
}

// TestServerCloseReleasesGETWithClose: when the server ends a session for a
// reason of its own (here a malformed POST), the waiting GET carries the
// close packet; only a client's own close ("1") is answered with a noop.
func TestServerCloseReleasesGETWithClose(t *testing.T) {
	e := newEnv(t, engineio.Config{})
	sid := e.handshake(t)
	pending := e.getAsync(context.Background(), sid)
	e.waitGetWaiting(t, sid)
	if res := e.post(t, sid, "abc"); res.status != http.StatusBadRequest {
		t.Fatalf("malformed POST: %d %q, want 400", res.status, res.body)
	}
	if res := await(t, pending); res.status != http.StatusOK || res.body != "1" {
		t.Errorf("waiting GET: %d %q, want the close packet", res.status, res.body)
	}
}

// TestClientWebSocketPing: a WebSocket ping from the client (Python's
// websockets, OkHttp and many proxies send them) is answered with a pong
// through the session's own writer, and the session goes on. gorilla's
// default handler wrote the pong from the reader with a 1 s deadline of its
// own, which the writer did not know of: its next write after that second
// failed and the session closed as a transport error.
func TestClientWebSocketPing(t *testing.T) {
	for _, via := range []string{"direct", "upgrade"} {
		t.Run(via, func(t *testing.T) {
			e := newEnv(t, engineio.Config{})
			var c *websocket.Conn
			if via == "direct" {
				c, _ = e.openWS(t)
			} else {
				sid := e.handshake(t)
				c = e.upgradeWS(t, sid)
			}
			pongs := make(chan string, 4)
			c.SetPongHandler(func(data string) error { pongs <- data; return nil })
			if err := c.WriteControl(websocket.PingMessage, []byte("hello"), time.Now().Add(wait)); err != nil {
				t.Fatal(err)
			}
			writeWS(t, c, "4first")
			expectWS(t, c, "4first") // the pong is handled on the way
			select {
			case got := <-pongs:
				if got != "hello" {
					t.Errorf("pong %q, want the ping's %q", got, "hello")
				}
			default:
				t.Fatal("no pong before the echo")
			}
			// Past the 1 s that gorilla's own pong write set as the deadline.
			time.Sleep(1500 * time.Millisecond)
			writeWS(t, c, "4second")
			expectWS(t, c, "4second")
		})
	}
}

// TestClientWebSocketClose: the client's close frame is answered with a
// close frame by the session's writer, and the session ends.
func TestClientWebSocketClose(t *testing.T) {
	e := newEnv(t, engineio.Config{})
	c, sid := e.openWS(t)
	if err := c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye"), time.Now().Add(wait)); err != nil {
		t.Fatal(err)
	}
	err := expectWSClosed(t, c)
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseNormalClosure {
		t.Errorf("connection ended with %v, want the server's close frame (1000)", err)
	}
	e.waitGone(t, sid)
}

// TestNextGetRightAfterResponse: a client may send its next GET as soon as
// it has read a response, on another connection, before the server's
// handler for the previous GET has returned. That GET is served, not
// refused as a second GET at once (400, which ended the session: seen as
// "xhr poll error" by socket.io-client under load).
func TestNextGetRightAfterResponse(t *testing.T) {
	e := newEnv(t, engineio.Config{})
	sid := e.handshake(t)
	// Two clients, so that consecutive GETs go on different connections, as
	// a browser's or Node's may.
	clients := []*http.Client{{Transport: &http.Transport{}}, {Transport: &http.Transport{}}}
	for _, c := range clients {
		defer c.CloseIdleConnections()
	}
	get := func(c *http.Client) <-chan response {
		ch := make(chan response, 1)
		go func() {
			req, _ := http.NewRequest(http.MethodGet, e.base+"?"+sidQuery(sid), nil)
			res, err := c.Do(req)
			if err != nil {
				ch <- response{err: err}
				return
			}
			defer res.Body.Close()
			b, err := io.ReadAll(res.Body)
			ch <- response{status: res.StatusCode, body: string(b), err: err}
		}()
		return ch
	}
	pending := get(clients[0])
	e.waitGetWaiting(t, sid)
	for i := range 300 {
		msg := fmt.Sprintf("4m%d", i)
		if res := e.post(t, sid, msg); res.status != http.StatusOK {
			t.Fatalf("POST %d: %d %s", i, res.status, res.body)
		}
		res := await(t, pending)
		pending = get(clients[(i+1)%2]) // at once, on the other connection
		if res.status != http.StatusOK || res.body != msg {
			t.Fatalf("GET %d: %d %q, want 200 %q", i, res.status, res.body, msg)
		}
		e.waitGetWaiting(t, sid)
	}
}
