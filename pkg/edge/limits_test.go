package edge_test

// Slow, idle and countless connections (issue 12): the edge caps the
// connections it holds, overall and per client address, and no connection
// holds a descriptor longer than the protocol needs. Every test runs real
// TCP on loopback with short configured limits.

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/switchboard-rt/switchboard/internal/repotest"
	"github.com/switchboard-rt/switchboard/pkg/edge"
	"github.com/switchboard-rt/switchboard/pkg/engineio"
)

// dialFrom opens a TCP connection to addr from the local IP from (empty:
// any), closed when the test ends.
func dialFrom(t *testing.T, addr, from string) net.Conn {
	t.Helper()
	return repotest.DialFrom(t, addr, from, waitTimeout)
}

// rawRequest writes one HTTP/1.1 request on c and reads its response.
func rawRequest(c net.Conn, br *bufio.Reader, method, target, body string) (*http.Response, string, error) {
	_ = c.SetDeadline(time.Now().Add(waitTimeout))
	defer c.SetDeadline(time.Time{})
	req := fmt.Sprintf("%s %s HTTP/1.1\r\nHost: edge\r\n", method, target)
	if body != "" {
		req += fmt.Sprintf("Content-Type: text/plain\r\nContent-Length: %d\r\n", len(body))
	}
	if _, err := io.WriteString(c, req+"\r\n"+body); err != nil {
		return nil, "", err
	}
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		return nil, "", err
	}
	b, err := io.ReadAll(res.Body)
	res.Body.Close()
	return res, string(b), err
}

// servedConn opens a connection from from and makes one request on it,
// which must be answered: the edge holds the connection from then on.
func servedConn(t *testing.T, te *testEdge, from string) net.Conn {
	t.Helper()
	c := dialFrom(t, te.Addr().String(), from)
	res, _, err := rawRequest(c, bufio.NewReader(c), http.MethodGet, "/idle", "")
	if err != nil {
		t.Fatalf("connection from %q: request: %v", from, err)
	}
	if res.StatusCode != http.StatusNotFound {
		t.Fatalf("GET /idle: %d, want 404", res.StatusCode)
	}
	return c
}

// closedWithin reads c until the edge closes it and returns what arrived;
// it fails the test if the connection is still open after d.
func closedWithin(t *testing.T, c net.Conn, d time.Duration) string {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(d))
	b, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open after %v (read %q)", d, b)
	}
	return string(b) // EOF, or a reset: both are a close
}

// refused checks that the edge closes a new connection from from at once,
// without answering its request.
func refused(t *testing.T, te *testEdge, from string) {
	t.Helper()
	c := dialFrom(t, te.Addr().String(), from)
	_, _ = io.WriteString(c, "GET /idle HTTP/1.1\r\nHost: edge\r\n\r\n") // may meet the close already
	if got := closedWithin(t, c, waitTimeout); got != "" {
		t.Errorf("a refused connection was answered: %q", got)
	}
}

// wsConnect connects to "/" over a WebSocket the way socket.io-client does,
// from the local IP from, and returns the connection once CONNECT is
// answered.
func wsConnect(t *testing.T, te *testEdge, from string) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: waitTimeout}
	if from != "" {
		nd := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
		d.NetDial = nd.Dial
	}
	c, res, err := d.Dial("ws://"+te.Addr().String()+"/socket.io/?EIO=4&transport=websocket", nil)
	if res != nil && res.Body != nil {
		res.Body.Close()
	}
	if err != nil {
		t.Fatalf("WebSocket from %q: %v", from, err)
	}
	t.Cleanup(func() { c.Close() })
	if m := wsRead(t, c); !strings.HasPrefix(m, "0{") {
		t.Fatalf("open packet: %q", m)
	}
	wsWrite(t, c, "40")
	if m := wsRead(t, c); !strings.HasPrefix(m, "40{") {
		t.Fatalf("CONNECT answered %q", m)
	}
	return c
}

func wsRead(t *testing.T, c *websocket.Conn) string {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(waitTimeout))
	_, b, err := c.ReadMessage()
	if err != nil {
		t.Fatalf("WebSocket read: %v", err)
	}
	return string(b)
}

func wsWrite(t *testing.T, c *websocket.Conn, m string) {
	t.Helper()
	if err := c.WriteMessage(websocket.TextMessage, []byte(m)); err != nil {
		t.Fatalf("WebSocket write %q: %v", m, err)
	}
}

// TestMaxConnections: an edge that holds MaxConnections refuses the next
// ones at once (accepted and closed, counted), goes on serving those it
// holds, and takes new clients again once connections close.
func TestMaxConnections(t *testing.T) {
	const max, extra = 20, 5
	te := startEdge(t, edge.Config{MaxConnections: max, MaxConnectionsPerIP: -1}, func(te *testEdge) { record(te, answerReady(te)) })
	held := make([]net.Conn, max)
	for i := range held {
		held[i] = servedConn(t, te, "")
	}
	for range extra {
		refused(t, te, "")
	}
	st := te.Stats()
	if st.RefusedMaxConnections != extra || st.Connections != max || st.RefusedPerIP != 0 {
		t.Errorf("stats %+v, want %d connections, %d refused over the cap, none per IP", st, max, extra)
	}
	// The connections it holds are served as before.
	if res, _, err := rawRequest(held[0], bufio.NewReader(held[0]), http.MethodGet, "/idle", ""); err != nil || res.StatusCode != http.StatusNotFound {
		t.Fatalf("a held connection's second request: %v", err)
	}
	for _, c := range held {
		c.Close()
	}
	eventually(t, "the edge to let its connections go", func() bool { return te.Stats().Connections == 0 })
	// An honest client, polling then upgrading, connects as usual.
	runNode(t, te, modes[2], "connect.mjs")
	if got := te.Stats().RefusedMaxConnections; got != extra {
		t.Errorf("%d refused after the honest client, want %d", got, extra)
	}
}

// TestMaxConnectionsPerIP: one address holds at most MaxConnectionsPerIP
// connections; the next is refused and counted, while other addresses still
// connect; once one of its connections closes, it connects again.
func TestMaxConnectionsPerIP(t *testing.T) {
	const perIP = 3
	te := startEdge(t, edge.Config{MaxConnectionsPerIP: perIP}, nil)
	held := make([]net.Conn, perIP)
	for i := range held {
		held[i] = servedConn(t, te, "127.0.0.1")
	}
	refused(t, te, "127.0.0.1")
	// Every 127/8 address is loopback on Linux: another client.
	other := wsConnect(t, te, "127.0.0.2")
	st := te.Stats()
	if st.RefusedPerIP != 1 || st.RefusedMaxConnections != 0 || st.Connections != perIP+1 {
		t.Errorf("stats %+v, want %d connections, 1 refused per IP", st, perIP+1)
	}
	held[0].Close()
	eventually(t, "the edge to let a connection go", func() bool { return te.Stats().Connections == perIP })
	wsConnect(t, te, "127.0.0.1")
	other.Close()
	if got := te.Stats().RefusedPerIP; got != 1 {
		t.Errorf("%d refused per IP, want 1", got)
	}
}

// TestConnectionsCountedUntilClosed: a WebSocket counts as a connection
// while it is open, however it ends (the client closes it, the server
// does), and no longer once it is closed.
func TestConnectionsCountedUntilClosed(t *testing.T) {
	var h *hooks
	te := startEdge(t, edge.Config{MaxConnections: 4}, func(te *testEdge) { h = record(te, nil) })
	a := wsConnect(t, te, "")
	recv(t, h.connects, "the first socket")
	wsConnect(t, te, "")
	second := recv(t, h.connects, "the second socket")
	if got := te.Stats().Connections; got != 2 {
		t.Fatalf("%d connections, want 2", got)
	}
	a.Close()
	recv(t, h.disconnects, "the first socket's disconnect")
	second.Disconnect(true)
	eventually(t, "both WebSockets to be let go", func() bool { return te.Stats().Connections == 0 })
}

// trickle sends one byte of body every gap on c until c fails or stop is
// closed; the returned function stops it and waits for it.
func trickle(c net.Conn, gap time.Duration) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(gap)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				if _, err := c.Write([]byte("x")); err != nil {
					return
				}
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// pollingHandshake opens a long-polling session on te and returns its sid.
func pollingHandshake(t *testing.T, te *testEdge) string {
	t.Helper()
	c := dialFrom(t, te.Addr().String(), "")
	defer c.Close()
	res, body, err := rawRequest(c, bufio.NewReader(c), http.MethodGet, "/socket.io/?EIO=4&transport=polling", "")
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("handshake: %v %v %q", res, err, body)
	}
	i, j := strings.Index(body, `"sid":"`), strings.Index(body, `","upgrades"`)
	if i < 0 || j < i {
		t.Fatalf("handshake: %q", body)
	}
	return body[i+len(`"sid":"`) : j]
}

// TestTricklingPostCut: a polling POST that announces a large body and
// sends it a byte at a time is cut once PostTimeout (by default the ping
// timeout) has passed, whether its session is alive or long gone; the
// client is told 408 (or 400 for the unknown session) and the connection
// is closed.
func TestTricklingPostCut(t *testing.T) {
	const pingTimeout = 500 * time.Millisecond
	te := startEdge(t, edge.Config{Engine: engineio.Config{PingInterval: time.Second, PingTimeout: pingTimeout}}, nil)
	for _, tc := range []struct {
		name   string
		sid    string
		status string
	}{
		{"live session", pollingHandshake(t, te), "408"},
		{"unknown session", "gone", "400"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialFrom(t, te.Addr().String(), "")
			head := "POST /socket.io/?EIO=4&transport=polling&sid=" + tc.sid + " HTTP/1.1\r\nHost: edge\r\n" +
				"Content-Type: text/plain\r\nContent-Length: 100000\r\n\r\n4"
			if _, err := io.WriteString(c, head); err != nil {
				t.Fatal(err)
			}
			stop := trickle(c, 100*time.Millisecond)
			defer stop()
			start := time.Now()
			// The bound: the POST timeout, plus generous slack for a busy
			// machine; the trickle alone would last 10,000 s.
			got := closedWithin(t, c, pingTimeout+3*time.Second)
			if !strings.HasPrefix(got, "HTTP/1.1 "+tc.status+" ") {
				t.Errorf("after %v the client read %q, want status %s", time.Since(start), got, tc.status)
			}
		})
	}
	if got := te.Stats().Engine.PostTimeouts; got != 1 {
		t.Errorf("%d POST timeouts counted, want 1", got)
	}
}

// TestIdleConnectionsClosed: a keep-alive connection that made one request
// and then idles is closed after IdleTimeout, on the Socket.IO path as
// elsewhere; one that never finishes its headers, after ReadHeaderTimeout.
func TestIdleConnectionsClosed(t *testing.T) {
	const timeout = 300 * time.Millisecond
	te := startEdge(t, edge.Config{IdleTimeout: timeout, ReadHeaderTimeout: timeout}, nil)
	for _, tc := range []struct {
		name string
		open func(t *testing.T) net.Conn
	}{
		{"after a request", func(t *testing.T) net.Conn { return servedConn(t, te, "") }},
		{"after a polling handshake", func(t *testing.T) net.Conn {
			c := dialFrom(t, te.Addr().String(), "")
			res, _, err := rawRequest(c, bufio.NewReader(c), http.MethodGet, "/socket.io/?EIO=4&transport=polling", "")
			if err != nil || res.StatusCode != http.StatusOK {
				t.Fatalf("handshake: %v %v", res, err)
			}
			return c
		}},
		{"in the headers", func(t *testing.T) net.Conn {
			c := dialFrom(t, te.Addr().String(), "")
			if _, err := io.WriteString(c, "GET /idle HTTP/1.1\r\n"); err != nil {
				t.Fatal(err)
			}
			return c
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := tc.open(t)
			start := time.Now()
			closedWithin(t, c, timeout+3*time.Second)
			if d := time.Since(start); d < timeout/2 {
				t.Errorf("closed after %v, before the timeout of %v", d, timeout)
			}
		})
	}
}

// shortTimeouts has every HTTP timeout far below the ping interval: none of
// them may cut a long-polling GET or a WebSocket.
var shortTimeouts = edge.Config{
	ReadHeaderTimeout: 200 * time.Millisecond,
	IdleTimeout:       200 * time.Millisecond,
	Engine: engineio.Config{
		PingInterval: 1500 * time.Millisecond,
		PingTimeout:  time.Second,
		PostTimeout:  200 * time.Millisecond,
		WriteTimeout: 200 * time.Millisecond,
	},
}

// TestLongPollWaitsPingInterval: with every HTTP timeout shorter than the
// ping interval, a long-polling GET still waits for the ping and is
// answered with it, round after round.
func TestLongPollWaitsPingInterval(t *testing.T) {
	te := startEdge(t, shortTimeouts, nil)
	sid := pollingHandshake(t, te)
	q := "/socket.io/?EIO=4&transport=polling&sid=" + sid
	c := dialFrom(t, te.Addr().String(), "")
	br := bufio.NewReader(c)
	for round := range 2 {
		start := time.Now()
		res, body, err := rawRequest(c, br, http.MethodGet, q, "")
		if err != nil || res.StatusCode != http.StatusOK || body != "2" {
			t.Fatalf("round %d: GET after %v: %v %v %q, want 200 and a ping", round, time.Since(start), res, err, body)
		}
		// The GET waited for the ping, far longer than any HTTP timeout.
		if d := time.Since(start); d < time.Second {
			t.Errorf("round %d: the ping came after %v, want about the ping interval", round, d)
		}
		if res, body, err := rawRequest(c, br, http.MethodPost, q, "3"); err != nil || res.StatusCode != http.StatusOK || body != "ok" {
			t.Fatalf("round %d: pong: %v %v %q", round, res, err, body)
		}
	}
}

// TestWebSocketOutlivesHTTPTimeouts: a WebSocket, opened directly or
// upgraded from polling, lives on through many multiples of every HTTP
// timeout while it answers pings, and still carries events.
func TestWebSocketOutlivesHTTPTimeouts(t *testing.T) {
	cfg := shortTimeouts
	// Many pings, but a pong may be late on a busy machine: a missed one
	// would end the session and fail the test for nothing.
	cfg.Engine.PingInterval, cfg.Engine.PingTimeout = 300*time.Millisecond, 2*time.Second
	te := startEdge(t, cfg, func(te *testEdge) { record(te, ackID) })
	for _, tc := range []struct {
		name string
		open func(t *testing.T) *websocket.Conn
	}{
		{"direct", func(t *testing.T) *websocket.Conn { return wsConnect(t, te, "") }},
		{"upgraded", func(t *testing.T) *websocket.Conn {
			sid := pollingHandshake(t, te)
			q := "/socket.io/?EIO=4&transport=polling&sid=" + sid
			p := dialFrom(t, te.Addr().String(), "")
			if res, _, err := rawRequest(p, bufio.NewReader(p), http.MethodPost, q, "40"); err != nil || res.StatusCode != http.StatusOK {
				t.Fatalf("CONNECT: %v %v", res, err)
			}
			c, res, err := websocket.DefaultDialer.Dial("ws://"+te.Addr().String()+"/socket.io/?EIO=4&transport=websocket&sid="+sid, nil)
			if res != nil && res.Body != nil {
				res.Body.Close()
			}
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			wsWrite(t, c, "2probe")
			if m := wsRead(t, c); m != "3probe" {
				t.Fatalf("probe answered %q", m)
			}
			wsWrite(t, c, "5")
			return c
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := tc.open(t)
			// 3 s: 15 read-header and idle timeouts, 15 POST and write
			// timeouts, ten pings.
			end := time.Now().Add(3 * time.Second)
			pings := 0
			for time.Now().Before(end) {
				switch m := wsRead(t, c); {
				case m == "2":
					pings++
					wsWrite(t, c, "3")
				case strings.HasPrefix(m, "40{"): // the upgraded socket's CONNECT answer
				default:
					t.Fatalf("unexpected %q", m)
				}
			}
			if pings < 3 {
				t.Errorf("%d pings in 3 s with a ping interval of 300 ms", pings)
			}
			wsWrite(t, c, `421["still there"]`)
			for {
				m := wsRead(t, c)
				if m == "2" {
					wsWrite(t, c, "3")
					continue
				}
				if !strings.HasPrefix(m, "431[") {
					t.Fatalf("ack: %q", m)
				}
				break
			}
		})
	}
}

// goroutinesSettle returns the goroutine count once it stops changing.
func goroutinesSettle() int {
	n := runtime.NumGoroutine()
	for range 50 {
		time.Sleep(10 * time.Millisecond)
		m := runtime.NumGoroutine()
		if m == n {
			return n
		}
		n = m
	}
	return n
}

// TestIdleWebSocketsStayParked: the connections the edge counts still park
// on the idle poller once they carry an idle WebSocket, with no goroutine
// of their own, and their writes still reach the client.
func TestIdleWebSocketsStayParked(t *testing.T) {
	const n = 30
	var h *hooks
	te := startEdge(t, edge.Config{}, func(te *testEdge) { h = record(te, nil) })
	base := goroutinesSettle()
	conns := make([]*websocket.Conn, n)
	for i := range conns {
		conns[i] = wsConnect(t, te, "")
		recv(t, h.connects, "a socket")
	}
	if grown := goroutinesSettle() - base; grown > n/4 {
		t.Errorf("%d idle WebSockets added %d goroutines, want (almost) none: not parked", n, grown)
	}
	if got := te.Stats().Connections; got != n {
		t.Errorf("%d connections counted, want %d", got, n)
	}
	for _, c := range conns {
		wsWrite(t, c, `42["hi"]`)
	}
	for range conns {
		recv(t, h.events, "an event")
	}
}

// TestMaxHeaderBytes: headers over MaxHeaderBytes get 431 and the
// connection is closed.
func TestMaxHeaderBytes(t *testing.T) {
	te := startEdge(t, edge.Config{MaxHeaderBytes: 8 << 10}, nil)
	c := dialFrom(t, te.Addr().String(), "")
	if _, err := fmt.Fprintf(c, "GET /idle HTTP/1.1\r\nHost: edge\r\nCookie: %s\r\n\r\n", strings.Repeat("x", 20<<10)); err != nil {
		t.Fatal(err)
	}
	if got := closedWithin(t, c, waitTimeout); !strings.HasPrefix(got, "HTTP/1.1 431 ") {
		t.Errorf("got %.40q, want 431", got)
	}
	// Under the bound, the same request is served.
	c = dialFrom(t, te.Addr().String(), "")
	if _, err := fmt.Fprintf(c, "GET /idle HTTP/1.1\r\nHost: edge\r\nCookie: %s\r\nConnection: close\r\n\r\n", strings.Repeat("x", 4<<10)); err != nil {
		t.Fatal(err)
	}
	if got := closedWithin(t, c, waitTimeout); !strings.HasPrefix(got, "HTTP/1.1 404 ") {
		t.Errorf("got %.40q, want 404", got)
	}
}
