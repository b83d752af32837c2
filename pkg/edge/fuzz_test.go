package edge_test

// Fuzz targets over an edge's whole input path (issue 12): where the
// decoders' fuzz targets (pkg/engineio, pkg/socketio) see one packet at a
// time, these drive a real edge, started once per target on 127.0.0.1,
// through real loopback connections:
//
//   - FuzzHTTPRequest writes the input as the start of an HTTP/1.1 stream
//     (request lines, headers, bodies, pipelined requests) on a raw TCP
//     connection;
//   - FuzzPollingBody POSTs the input as the body of a polling session that
//     a real client opened and joined "/" on;
//   - FuzzWebSocketFrames decodes the input into a sequence of WebSocket
//     frames (fuzzFrames), written on a WebSocket session opened directly
//     or upgraded from polling.
//
// What each input must leave true: no handler panicked (net/http recovers
// handler panics and logs them: the edge's ErrorLog and slog output are
// captured and searched), the connection is answered or closed within a
// bound, the edge lets go of the connections and sessions the input made
// (Edge.Stats) and of their goroutines, and an honest client still gets its
// handshake and its acks. `make fuzz` runs them; their seeds run with every
// `go test`.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/switchboard-rt/switchboard/pkg/edge"
	"github.com/switchboard-rt/switchboard/pkg/engineio"
	"github.com/switchboard-rt/switchboard/pkg/socketio"
)

// fuzzBound bounds every wait of the fuzz targets: an answer, a close, the
// edge letting go of a connection. Far above what any input needs on a
// busy machine, far below anything a stuck connection would reach by
// itself (the edge's HTTP timeouts are 10 s and more).
const fuzzBound = 5 * time.Second

// fuzzMaxPayload is the fuzzed edge's MaxPayload: small, so that inputs
// reach "payload too large" and the WebSocket read limit.
const fuzzMaxPayload = 8 << 10

// fuzzConfig is the edge the fuzz targets run against: every bound of
// docs/security.md at its default except a heartbeat short enough that
// sessions an input leaves behind (a polling handshake) end within
// seconds, a small MaxPayload and MaxHeaderBytes (reachable by small
// inputs), and an allowed CORS origin (so that Origin headers take the CORS
// path), and no handshake rate (every input handshakes from 127.0.0.1:
// the 429 path would be all a long run explores).
func fuzzConfig(logger *slog.Logger) edge.Config {
	return edge.Config{
		Addr:           "127.0.0.1:0",
		Logger:         logger,
		MaxHeaderBytes: 4 << 10,
		HandshakeRate:  -1,
		// One honest client sends an event with an ack per input, far
		// over a socket's default rate: the limit is tested elsewhere.
		EventRate: -1,
		Engine: engineio.Config{
			PingInterval:   time.Second,
			PingTimeout:    2 * time.Second,
			UpgradeTimeout: 2 * time.Second,
			MaxPayload:     fuzzMaxPayload,
			AllowedOrigins: []string{"http://allowed.example"},
		},
	}
}

// ---- the edge's log ----

// fuzzLog is a slog handler that keeps the edge's recent log lines and
// every line that reports a broken handler: a panic net/http recovered, or
// a misuse of its ResponseWriter.
type fuzzLog struct {
	mu     sync.Mutex
	recent []string // the last fuzzLogKeep lines
	bad    []string
}

const fuzzLogKeep = 30

// fuzzLogBad are the marks of a handler bug in net/http's error log.
var fuzzLogBad = []string{
	"http: panic serving",
	"superfluous response.WriteHeader",
	"on hijacked connection",
	"http: Accept error",
}

type fuzzLogHandler struct {
	log   *fuzzLog
	attrs string
}

func (h fuzzLogHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h fuzzLogHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Level.String())
	b.WriteByte(' ')
	b.WriteString(r.Message)
	b.WriteString(h.attrs)
	r.Attrs(func(a slog.Attr) bool {
		b.WriteByte(' ')
		b.WriteString(a.String())
		return true
	})
	line := b.String()
	h.log.mu.Lock()
	defer h.log.mu.Unlock()
	for _, mark := range fuzzLogBad {
		if strings.Contains(r.Message, mark) {
			h.log.bad = append(h.log.bad, line)
			break
		}
	}
	if len(h.log.recent) == fuzzLogKeep {
		h.log.recent = h.log.recent[1:]
	}
	h.log.recent = append(h.log.recent, line)
	return nil
}

func (h fuzzLogHandler) WithAttrs(as []slog.Attr) slog.Handler {
	for _, a := range as {
		h.attrs += " " + a.String()
	}
	return h
}

func (h fuzzLogHandler) WithGroup(string) slog.Handler { return h }

// check fails t with the bad lines logged since the last check.
func (l *fuzzLog) check(t testing.TB) {
	t.Helper()
	l.mu.Lock()
	bad := l.bad
	l.bad = nil
	l.mu.Unlock()
	if len(bad) > 0 {
		t.Fatalf("the edge logged a broken handler:\n%s", strings.Join(bad, "\n"))
	}
}

// dump is the recent log, for a failure's message.
func (l *fuzzLog) dump() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.recent, "\n")
}

// ---- the edge ----

// fuzzEdge is an edge serving one fuzz target, with an honest client that
// stays connected through every input.
type fuzzEdge struct {
	*edge.Edge
	addr   string
	log    *fuzzLog
	honest *fuzzHonest

	baseConns, baseSessions, baseGoroutines int
}

// startFuzzEdge starts the edge of a fuzz target, before f.Fuzz; it is
// shut down when the target ends. Every namespace acks event "echo" with
// its own arguments and attachments.
func startFuzzEdge(f *testing.F) *fuzzEdge {
	f.Helper()
	log := &fuzzLog{}
	e, err := edge.New(fuzzConfig(slog.New(fuzzLogHandler{log: log})))
	if err != nil {
		f.Fatalf("edge.New: %v", err)
	}
	e.SocketIO().OnNamespace(func(n *socketio.Namespace) {
		n.OnEvent(func(_ *socketio.Socket, ev *socketio.Event) {
			if ev.Name == "echo" {
				_ = ev.AckRaw(ev.Args, ev.Attachments)
			}
		})
	})
	if err := e.Listen(); err != nil {
		f.Fatalf("Listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	f.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				f.Errorf("edge Run: %v", err)
			}
		case <-time.After(15 * time.Second):
			f.Errorf("edge did not shut down")
		}
	})
	fe := &fuzzEdge{Edge: e, addr: e.Addr().String(), log: log}
	fe.honest = dialFuzzHonest(f, fe.addr)
	f.Cleanup(fe.honest.close) // before the edge's shutdown: cleanups run last first
	fe.honest.echo(f)
	st := e.Stats()
	fe.baseConns, fe.baseSessions = st.Connections, st.Engine.Sessions
	fe.baseGoroutines = fuzzGoroutines()
	log.check(f)
	return fe
}

// fuzzGoroutines returns the goroutine count once it stops changing.
func fuzzGoroutines() int {
	n := runtime.NumGoroutine()
	for range 20 {
		time.Sleep(5 * time.Millisecond)
		m := runtime.NumGoroutine()
		if m == n {
			return n
		}
		n = m
	}
	return n
}

// fuzzGoroutineSlack is how many goroutines above its start an edge may
// run after an input: the input's own (the test's goroutine), a writer or
// a handler's OnClose finishing. A goroutine left behind per input passes
// it within a few inputs.
const fuzzGoroutineSlack = 6

// settled checks what every input must leave behind: no broken handler
// logged, the honest client answered, the connections (and, with
// sessions, the Engine.IO sessions) back to what the edge held before the
// input, and no goroutine piling up.
func (fe *fuzzEdge) settled(t *testing.T, sessions bool) {
	t.Helper()
	fe.log.check(t)
	fe.honest.echo(t)
	deadline := time.Now().Add(fuzzBound)
	for {
		st := fe.Stats()
		g := runtime.NumGoroutine()
		ok := st.Connections == fe.baseConns && (!sessions || st.Engine.Sessions == fe.baseSessions) &&
			g <= fe.baseGoroutines+fuzzGoroutineSlack
		if ok {
			break
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("after %v the edge holds %d connections (want %d), %d sessions (want %d), %d goroutines (at most %d)\nlog:\n%s\ngoroutines:\n%s",
				fuzzBound, st.Connections, fe.baseConns, st.Engine.Sessions, fe.baseSessions, g, fe.baseGoroutines+fuzzGoroutineSlack, fe.log.dump(), buf)
		}
		time.Sleep(50 * time.Microsecond)
	}
	fe.log.check(t)
}

func (fe *fuzzEdge) dial(t testing.TB) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", fe.addr, fuzzBound)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	return c
}

// ---- the honest client ----

// fuzzHonest is a WebSocket client joined to "/" for a whole fuzz target:
// a reader goroutine answers the edge's pings and passes acks on.
type fuzzHonest struct {
	conn *websocket.Conn
	wmu  sync.Mutex // one writer: echo or the reader's pongs
	acks chan string
	done chan struct{}
	n    int
}

func dialFuzzHonest(tb testing.TB, addr string) *fuzzHonest {
	tb.Helper()
	d := websocket.Dialer{HandshakeTimeout: fuzzBound}
	conn, res, err := d.Dial("ws://"+addr+"/socket.io/?EIO=4&transport=websocket", nil)
	if res != nil && res.Body != nil {
		res.Body.Close()
	}
	if err != nil {
		tb.Fatalf("honest client: %v", err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(fuzzBound))
	for _, want := range []string{"0{", "40{"} {
		if want == "40{" {
			if err := conn.WriteMessage(websocket.TextMessage, []byte("40")); err != nil {
				tb.Fatalf("honest client: CONNECT: %v", err)
			}
		}
		_, m, err := conn.ReadMessage()
		if err != nil || !bytes.HasPrefix(m, []byte(want)) {
			conn.Close()
			tb.Fatalf("honest client: got %q, %v; want %s...", m, err, want)
		}
	}
	_ = conn.SetReadDeadline(time.Time{})
	h := &fuzzHonest{conn: conn, acks: make(chan string, 16), done: make(chan struct{})}
	go func() {
		defer close(h.done)
		for {
			_, m, err := conn.ReadMessage()
			if err != nil {
				return
			}
			switch {
			case string(m) == "2":
				h.wmu.Lock()
				_ = conn.WriteMessage(websocket.TextMessage, []byte("3"))
				h.wmu.Unlock()
			case bytes.HasPrefix(m, []byte("43")):
				select {
				case h.acks <- string(m):
				default:
				}
			}
		}
	}()
	return h
}

func (h *fuzzHonest) close() {
	_ = h.conn.Close()
	<-h.done
}

// echo emits "echo" with an ack and checks that the ack carries its
// arguments back.
func (h *fuzzHonest) echo(tb testing.TB) {
	tb.Helper()
	h.n++
	want := fmt.Sprintf(`43%d["honest %d"]`, h.n, h.n)
	h.wmu.Lock()
	err := h.conn.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, `42%d["echo","honest %d"]`, h.n, h.n))
	h.wmu.Unlock()
	if err != nil {
		tb.Fatalf("honest client: emit: %v", err)
	}
	timeout := time.After(fuzzBound)
	for {
		select {
		case got := <-h.acks:
			if got == want {
				return
			}
			tb.Fatalf("honest client: ack %q, want %q", got, want)
		case <-h.done:
			tb.Fatalf("honest client: the edge closed its connection")
		case <-timeout:
			tb.Fatalf("honest client: no ack in %v", fuzzBound)
		}
	}
}

// ---- a polling client ----

// fuzzPoll is a long-polling client on one keep-alive connection (opened
// again when the edge closes it).
type fuzzPoll struct {
	fe  *fuzzEdge
	c   net.Conn
	br  *bufio.Reader
	sid string
}

// do makes one request and returns its status and body.
func (p *fuzzPoll) do(t testing.TB, method, target string, body []byte) (int, string) {
	t.Helper()
	if p.c == nil {
		p.c = p.fe.dial(t)
		p.br = bufio.NewReader(p.c)
	}
	_ = p.c.SetDeadline(time.Now().Add(fuzzBound))
	req := fmt.Appendf(nil, "%s %s HTTP/1.1\r\nHost: edge\r\n", method, target)
	if method == http.MethodPost {
		req = fmt.Appendf(req, "Content-Type: text/plain;charset=UTF-8\r\nContent-Length: %d\r\n", len(body))
	}
	req = append(append(req, "\r\n"...), body...)
	if _, err := p.c.Write(req); err != nil {
		t.Fatalf("%s %s: write: %v", method, target, err)
	}
	res, err := http.ReadResponse(p.br, nil)
	if err != nil {
		t.Fatalf("%s %s: %v\nlog:\n%s", method, target, err, p.fe.log.dump())
	}
	b, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		t.Fatalf("%s %s: body: %v", method, target, err)
	}
	if res.Close {
		p.closeConn()
	}
	return res.StatusCode, string(b)
}

func (p *fuzzPoll) query() string {
	return "/socket.io/?EIO=4&transport=polling&sid=" + p.sid
}

func (p *fuzzPoll) get(t testing.TB) (int, string) { return p.do(t, http.MethodGet, p.query(), nil) }

func (p *fuzzPoll) post(t testing.TB, body []byte) (int, string) {
	return p.do(t, http.MethodPost, p.query(), body)
}

func (p *fuzzPoll) closeConn() {
	if p.c != nil {
		p.c.Close()
		p.c, p.br = nil, nil
	}
}

// handshake opens a session, as a client's first request does.
func (p *fuzzPoll) handshake(t testing.TB) {
	t.Helper()
	status, body := p.do(t, http.MethodGet, "/socket.io/?EIO=4&transport=polling", nil)
	var open struct{ SID string }
	if status != http.StatusOK || !strings.HasPrefix(body, "0{") || json.Unmarshal([]byte(body[1:]), &open) != nil || open.SID == "" {
		t.Fatalf("handshake: %d %q", status, body)
	}
	p.sid = open.SID
}

// end closes the session if it is still open (a close packet: it ends at
// once) and the connection.
func (p *fuzzPoll) end(t testing.TB) {
	t.Helper()
	p.post(t, []byte("1")) // 400 once the session is gone or upgraded
	p.closeConn()
}

// openPolling opens a polling session joined to "/", the way
// socket.io-client does: handshake, CONNECT, the GET that receives its
// answer.
func (fe *fuzzEdge) openPolling(t testing.TB) *fuzzPoll {
	t.Helper()
	p := &fuzzPoll{fe: fe}
	p.handshake(t)
	if status, body := p.post(t, []byte("40")); status != http.StatusOK || body != "ok" {
		t.Fatalf("CONNECT: %d %q", status, body)
	}
	if status, body := p.get(t); status != http.StatusOK || !strings.HasPrefix(body, "40{") {
		t.Fatalf("CONNECT answered %d %q", status, body)
	}
	return p
}

// checkPayload checks that a polling response is a payload of Engine.IO
// packets and returns their types.
func checkPayload(t *testing.T, body string) string {
	t.Helper()
	var types []byte
	for _, p := range strings.Split(body, "\x1e") {
		if p == "" || !strings.ContainsRune("0123456b", rune(p[0])) {
			t.Fatalf("the edge answered a GET with %q: not a payload", body)
		}
		types = append(types, p[0])
	}
	return string(types)
}

// ---- FuzzHTTPRequest ----

// fuzzSIDMark in a FuzzHTTPRequest input stands for the sid of a polling
// session opened (and joined to "/") for that input: the fuzzer cannot
// guess sids.
const fuzzSIDMark = "{sid}"

// FuzzHTTPRequest writes the input on a raw TCP connection as the start of
// an HTTP/1.1 stream, then half-closes it. The edge must answer with
// HTTP/1.x or nothing and close the connection within fuzzBound (half
// closed, every request ends: a body is cut short, a WebSocket reads EOF),
// without a handler panicking; then an honest handshake on a new
// connection succeeds and the honest client's acks still come.
func FuzzHTTPRequest(f *testing.F) {
	fe := startFuzzEdge(f)
	for _, s := range httpSeeds() {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var p *fuzzPoll
		if bytes.Contains(in, []byte(fuzzSIDMark)) {
			p = fe.openPolling(t)
			in = bytes.ReplaceAll(in, []byte(fuzzSIDMark), []byte(p.sid))
		}
		c := fe.dial(t)
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(fuzzBound))
		_, _ = c.Write(in) // the edge may have closed already
		_ = c.(*net.TCPConn).CloseWrite()
		got, err := io.ReadAll(c)
		if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("the connection is still open after %v; read %.300q\nlog:\n%s", fuzzBound, got, fe.log.dump())
		}
		if len(got) > 0 && !bytes.HasPrefix(got, []byte("HTTP/1.1 ")) && !bytes.HasPrefix(got, []byte("HTTP/1.0 ")) {
			t.Fatalf("the edge answered %.300q", got)
		}
		c.Close()
		if p != nil {
			p.end(t)
		}
		// An honest handshake, then its close packet: the session ends at
		// once rather than at its ping timeout.
		h := &fuzzPoll{fe: fe}
		h.handshake(t)
		h.end(t)
		fe.settled(t, false) // an input's polling handshakes live on until their ping timeout
	})
}

func httpReq(method, target string, headers []string, body string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: edge\r\n", method, target)
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	if body != "" {
		fmt.Fprintf(&b, "Content-Type: text/plain;charset=UTF-8\r\nContent-Length: %d\r\n", len(body))
	}
	b.WriteString("\r\n" + body)
	return b.String()
}

var wsHeaders = []string{"Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13"}

func httpSeeds() []string {
	const (
		hs  = "/socket.io/?EIO=4&transport=polling"
		sid = hs + "&sid=" + fuzzSIDMark
		ws  = "/socket.io/?EIO=4&transport=websocket"
	)
	event := `42["echo","hi"]`
	return []string{
		// valid
		httpReq("GET", hs, nil, ""),
		httpReq("GET", hs, nil, "") + httpReq("GET", hs, nil, ""), // pipelined
		httpReq("GET", hs+"&t=Pabc123&x=1", []string{"Origin: http://allowed.example", "Cookie: a=b"}, ""),
		httpReq("OPTIONS", hs, []string{"Origin: http://allowed.example", "Access-Control-Request-Headers: content-type"}, ""),
		httpReq("OPTIONS", hs, []string{"Origin: http://other.example"}, ""),
		httpReq("GET", sid, nil, ""), // the CONNECT answer
		httpReq("GET", sid, nil, "") + httpReq("POST", sid, nil, "421"+event[2:]) + httpReq("POST", sid, nil, "1"),
		httpReq("POST", sid, nil, "2\x1e3\x1e"+event),
		httpReq("POST", sid, nil, "451-[\"echo\",{\"_placeholder\":true,\"num\":0}]\x1ebAQID"),
		httpReq("POST", sid, []string{"Transfer-Encoding: chunked"}, "") + "5\r\n42[\"a\r\n3\r\n\"]\x1e\r\n1\r\n6\r\n0\r\n\r\n",
		httpReq("GET", ws, wsHeaders, ""),
		httpReq("GET", ws, wsHeaders, "") + string(maskedFrame(0x1, []byte("40"))) + string(maskedFrame(0x1, []byte(event))),
		httpReq("GET", ws+"&sid="+fuzzSIDMark, wsHeaders, ""),
		httpReq("GET", ws+"&sid="+fuzzSIDMark, wsHeaders, "") + string(maskedFrame(0x1, []byte("2probe"))) + string(maskedFrame(0x1, []byte("5"))),
		httpReq("GET", ws, append([]string{"Origin: http://evil.example"}, wsHeaders...), ""),
		httpReq("GET", "/idle", []string{"Connection: close"}, ""),
		"GET " + hs + " HTTP/1.0\r\n\r\n",
		"GET " + hs + " HTTP/1.1\r\nHost: edge\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
		// malformed or hostile
		"",
		"\r\n\r\n",
		"GET",
		"GET " + hs,
		"GET " + hs + " HTTP/1.1\r\nHost: edge\r\n",
		"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
		"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03", // a TLS ClientHello
		httpReq("POST", hs, nil, "40"),                 // a handshake must be a GET
		httpReq("GET", "/socket.io/?EIO=3&transport=polling", nil, ""),
		httpReq("GET", "/socket.io/?EIO=4&transport=carrier-pigeon", nil, ""),
		httpReq("GET", "/socket.io/?EIO=4", nil, ""),
		httpReq("GET", hs+"&sid=unknown", nil, ""),
		httpReq("GET", sid+"&sid=other", nil, ""),
		httpReq("PUT", sid, nil, "4x"),
		httpReq("GET", ws, nil, ""),           // websocket without the upgrade
		httpReq("GET", hs, wsHeaders, ""),     // polling with an upgrade
		httpReq("GET", ws, wsHeaders[:3], ""), // no version
		httpReq("GET", "/socket.io/../socket.io/?EIO=4&transport=polling", nil, ""),
		httpReq("GET", "http://edge/socket.io/?EIO=4&transport=polling", nil, ""),
		httpReq("GET", "//socket.io/?EIO=4&transport=polling", nil, ""),
		"GET /socket.io/?EIO=4&transport=polling&x=%ff\xff\x00 HTTP/1.1\r\nHost: edge\r\nX-B\xffd: \xfe\xff\r\n\r\n",
		"POST " + sid + " HTTP/1.1\r\nHost: edge\r\nContent-Length: 100\r\n\r\n42[\"trunc", // cut short
		"POST " + sid + " HTTP/1.1\r\nHost: edge\r\nContent-Length: 99999999999999999999\r\n\r\n4",
		"POST " + sid + " HTTP/1.1\r\nHost: edge\r\nContent-Length: 9000\r\n\r\n" + strings.Repeat("4", 9000),
		"POST " + sid + " HTTP/1.1\r\nHost: edge\r\nContent-Length: -1\r\n\r\n4",
		"POST " + sid + " HTTP/1.1\r\nHost: edge\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n40",
		"POST " + sid + " HTTP/1.1\r\nHost: edge\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n40\r\n0\r\n\r\n",
		"POST " + sid + " HTTP/1.1\r\nHost: edge\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n4",
		"GET " + hs + " HTTP/1.1\r\nHost: edge\r\nCookie: " + strings.Repeat("x", 5000) + "\r\n\r\n", // over MaxHeaderBytes
		"GET " + hs + " HTTP/1.1\r\nHost: edge\r\n folded: header\r\n\r\n",
		"GET /socket.io/?EIO=4&transport=polling HTTP/9.9\r\nHost: edge\r\n\r\n",
	}
}

// maskedFrame is a client's WebSocket frame: FIN, opcode op, masked.
func maskedFrame(op byte, payload []byte) []byte {
	return appendFrame(nil, 0x80|op, payload, true, false)
}

// fuzzMask is the masking key of the frames the fuzz targets write.
var fuzzMask = [4]byte{0x37, 0xfa, 0x21, 0x3d}

// appendFrame appends a frame with first byte b0 (FIN, RSV bits, opcode);
// long64 encodes the length in 64 bits, however short.
func appendFrame(b []byte, b0 byte, payload []byte, masked, long64 bool) []byte {
	var b1 byte
	if masked {
		b1 = 0x80
	}
	n := len(payload)
	switch {
	case long64 || n > 0xffff:
		b = append(b, b0, b1|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	case n > 125:
		b = append(b, b0, b1|126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, b0, b1|byte(n))
	}
	if !masked {
		return append(b, payload...)
	}
	b = append(b, fuzzMask[:]...)
	for i, c := range payload {
		b = append(b, c^fuzzMask[i%4])
	}
	return b
}

// ---- FuzzPollingBody ----

// FuzzPollingBody opens a polling session joined to "/" as a real client
// does, then POSTs the input as a body. The POST gets 200 ("ok") or a 4xx;
// then the client pings ("2") and GETs: the edge has either kept the
// session (the GET gets packets, among them the pong) or ended it (a close
// packet, or 400 for the unknown session). The session is then closed;
// the edge must hold no more sessions or connections than before, and the
// honest client's acks still come.
func FuzzPollingBody(f *testing.F) {
	fe := startFuzzEdge(f)
	for _, s := range pollingSeeds() {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		p := fe.openPolling(t)
		defer p.closeConn()
		status, answer := p.post(t, body)
		switch {
		case status == http.StatusOK && answer != "ok":
			t.Fatalf("POST %q: 200 %q", body, answer)
		case status != http.StatusOK && (status < 400 || status > 499):
			t.Fatalf("POST %q: %d %q", body, status, answer)
		}
		pingStatus, _ := p.post(t, []byte("2"))
		status, payload := p.get(t)
		open := false
		switch status {
		case http.StatusOK:
			types := checkPayload(t, payload)
			if !strings.Contains(types, "1") && !strings.Contains(types, "3") {
				t.Fatalf("POST %q, then ping (%d): the GET got %q, neither the pong nor a close", body, pingStatus, payload)
			}
			open = !strings.Contains(types, "1")
		case http.StatusBadRequest:
			if pingStatus == http.StatusOK {
				// The ping was taken by a session that was closing; its
				// GET would have had the close packet.
				t.Fatalf("POST %q: the ping was taken (200), then the GET got 400 %q", body, payload)
			}
		default:
			t.Fatalf("POST %q: the GET got %d %q", body, status, payload)
		}
		if open {
			p.end(t)
		}
		p.closeConn()
		fe.settled(t, true)
	})
}

func pollingSeeds() []string {
	ph := func(n int) string { return fmt.Sprintf(`{"_placeholder":true,"num":%d}`, n) }
	return []string{
		// valid
		"2", "3", "6", "5", "4", "1", "2probe", "4hello",
		`42["echo","hi"]`,
		`421["echo","hi",{"a":[1,2,null,true]}]`,
		"42[\"echo\",\"a\"]\x1e423[\"echo\",\"b\"]\x1e2\x1e6",
		"40", "41", "40/admin,", `40/admin,{"token":"abc"}`, "40/admin,\x1e42/admin,7[\"echo\",\"x\"]",
		"451-[\"echo\"," + ph(0) + "]\x1ebAQID",
		"4527-[\"echo\"," + ph(0) + "," + ph(1) + "]\x1ebAQID\x1eb",
		"461-9[" + ph(0) + "]\x1ebAA==", // a binary ack nothing waits for
		`439["x"]`,
		`2["message"]`,
		// truncated, huge, malformed
		"",
		"\x1e", "\x1e\x1e", "42\x1e",
		"451-[\"echo\"," + ph(0) + "]",                                // its attachment never comes
		"452-[\"echo\"," + ph(0) + "," + ph(1) + "]\x1ebAQID\x1e42[]", // a text packet instead of the second
		"451-[\"echo\"," + ph(3) + "]\x1ebAQID",
		"4599999999999999999999-[\"echo\"]",
		"4299999999999999999999[\"echo\"]",
		"b", "b====", "b%%%", "bAQ\r\nID",
		"4x", "7", "x", "40x", `44{"message":"from the client"}`, "42", "42[", `42["echo"`, `42{}`, `42[1]`, `42[""]`,
		`42["connect"]`, `42["disconnect"]`,
		"4" + strings.Repeat("[", 4000) + strings.Repeat("]", 4000),
		"42[\"\xff\xfe\"]", "4\xff\x00", "40/\xff,", "40/" + strings.Repeat("n", 300) + ",",
		`40{"token":"` + strings.Repeat("a", 7000) + `"}`,
		"42[\"echo\",\"" + strings.Repeat("x", fuzzMaxPayload) + "\"]", // over MaxPayload
		"\x00\x00\x00\x00",
	}
}

// ---- FuzzWebSocketFrames ----

// Frame kinds of fuzzFrames (the low three bits of a chunk's control byte).
const (
	fzText = iota
	fzBinary
	fzContinuation
	fzPing
	fzPong
	fzClose
	fzRaw      // the chunk's bytes as they are: a frame of the fuzzer's own
	fzReserved // a reserved opcode
)

// Flags of a chunk's control byte.
const (
	fzNotFinal = 0x08 // FIN clear
	fzRSV      = 0x30 // RSV2 and RSV3, as they are
	fzUnmasked = 0x40
	fzLong     = 0x80 // the length in 64 bits
)

// fuzzFrames decodes a FuzzWebSocketFrames input into the bytes of a frame
// sequence. The input is a series of chunks: a control byte (a kind and
// flags, above), a length byte (0xff: the rest of the input) and that many
// payload bytes. Every input decodes.
func fuzzFrames(in []byte) []byte {
	var out []byte
	for len(in) > 0 {
		c := in[0]
		in = in[1:]
		n := 0
		if len(in) > 0 {
			n = int(in[0])
			in = in[1:]
			if n == 0xff {
				n = len(in)
			}
		}
		n = min(n, len(in))
		payload := in[:n]
		in = in[n:]
		kind := c & 0x07
		if kind == fzRaw {
			out = append(out, payload...)
			continue
		}
		op := [...]byte{fzText: 0x1, fzBinary: 0x2, fzContinuation: 0x0, fzPing: 0x9, fzPong: 0xa, fzClose: 0x8, fzReserved: 0x3}[kind]
		b0 := op | c&fzRSV
		if c&fzNotFinal == 0 {
			b0 |= 0x80
		}
		out = appendFrame(out, b0, payload, c&fzUnmasked == 0, c&fzLong != 0)
	}
	return out
}

// fzChunk encodes one chunk of a FuzzWebSocketFrames input (for seeds).
func fzChunk(c byte, payload string) []byte {
	if len(payload) >= 0xff {
		return append([]byte{c, 0xff}, payload...) // the rest: a last chunk only
	}
	return append([]byte{c, byte(len(payload))}, payload...)
}

func fzChunks(chunks ...[]byte) []byte { return bytes.Join(chunks, nil) }

// wholeFrames reports whether b ends at a frame's end, as a server reading
// frames sees it: otherwise the edge waits for the rest of a frame, as it
// should, and a ping sent after b would be read as part of it.
func wholeFrames(b []byte) bool {
	for len(b) > 0 {
		if len(b) < 2 {
			return false
		}
		n, h := uint64(b[1]&0x7f), 2
		switch n {
		case 126:
			if len(b) < 4 {
				return false
			}
			n, h = uint64(binary.BigEndian.Uint16(b[2:])), 4
		case 127:
			if len(b) < 10 {
				return false
			}
			n, h = binary.BigEndian.Uint64(b[2:]), 10
		}
		if b[1]&0x80 != 0 {
			h += 4
		}
		if len(b) < h || uint64(len(b)-h) < n {
			return false
		}
		b = b[h+int(n):]
	}
	return true
}

// WebSocket session modes of FuzzWebSocketFrames.
const (
	wsDirect   = iota // transport=websocket; the client sends CONNECT first
	wsUpgraded        // polling, CONNECT, then upgraded by the client (2probe, 5) with a GET pending
	wsProbe           // polling, CONNECT, then a WebSocket whose probe is the input's
	wsModes
)

// FuzzWebSocketFrames opens a WebSocket session (mode: directly, upgraded
// from polling, or a probe left to the input), writes the frames the input
// decodes to (fuzzFrames), then, unless they end inside a frame, an
// Engine.IO ping: the edge must answer it (the pong) or close the
// connection, within fuzzBound. The client then closes; the edge must let
// go of the connection, the session and their goroutines, and the honest
// client's acks still come.
func FuzzWebSocketFrames(f *testing.F) {
	fe := startFuzzEdge(f)
	for _, s := range wsSeeds() {
		f.Add(s.mode, s.frames)
	}
	f.Fuzz(func(t *testing.T, mode byte, in []byte) {
		mode %= wsModes
		var p *fuzzPoll
		target := "ws://" + fe.addr + "/socket.io/?EIO=4&transport=websocket"
		if mode != wsDirect {
			p = fe.openPolling(t)
			defer p.closeConn()
			target += "&sid=" + p.sid
		}
		d := websocket.Dialer{HandshakeTimeout: fuzzBound}
		conn, res, err := d.Dial(target, nil)
		if res != nil && res.Body != nil {
			res.Body.Close()
		}
		if err != nil {
			t.Fatalf("WebSocket: %v", err)
		}
		defer conn.Close()
		_ = conn.NetConn().SetDeadline(time.Now().Add(fuzzBound))
		read := func(what string) string {
			t.Helper()
			_, m, err := conn.ReadMessage()
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			return string(m)
		}
		write := func(m string) {
			t.Helper()
			if err := conn.WriteMessage(websocket.TextMessage, []byte(m)); err != nil {
				t.Fatalf("write %q: %v", m, err)
			}
		}
		switch mode {
		case wsDirect:
			if m := read("open packet"); !strings.HasPrefix(m, "0{") {
				t.Fatalf("open packet %q", m)
			}
			write("40")
			if m := read("CONNECT answer"); !strings.HasPrefix(m, "40{") {
				t.Fatalf("CONNECT answered %q", m)
			}
		case wsUpgraded:
			// The GET socket.io-client keeps pending meanwhile, on the
			// polling connection: the probe releases it with a noop. The
			// edge cannot be asked whether the GET is waiting yet: given a
			// millisecond to get there, it nearly always is; one that comes
			// after the upgrade gets 400, which is what a client that sent
			// it that late should get.
			_ = p.c.SetDeadline(time.Now().Add(fuzzBound))
			if _, err := fmt.Fprintf(p.c, "GET %s HTTP/1.1\r\nHost: edge\r\n\r\n", p.query()); err != nil {
				t.Fatalf("pending GET: %v", err)
			}
			type result struct {
				status int
				body   string
				err    error
			}
			pending := make(chan result, 1)
			br := p.br
			go func() {
				res, err := http.ReadResponse(br, nil)
				if err != nil {
					pending <- result{err: err}
					return
				}
				b, err := io.ReadAll(res.Body)
				res.Body.Close()
				pending <- result{res.StatusCode, string(b), err}
			}()
			time.Sleep(time.Millisecond)
			write("2probe")
			if m := read("probe answer"); m != "3probe" {
				t.Fatalf("probe answered %q", m)
			}
			write("5")
			switch r := <-pending; {
			case r.err != nil:
				t.Fatalf("the GET pending during the upgrade: %v", r.err)
			case r.status == http.StatusOK:
				checkPayload(t, r.body)
			case r.status != http.StatusBadRequest:
				t.Fatalf("the GET pending during the upgrade got %d %q", r.status, r.body)
			}
		}
		frames := fuzzFrames(in)
		_, _ = conn.NetConn().Write(frames) // the edge may have closed already
		if wholeFrames(frames) {
			_, _ = conn.NetConn().Write(maskedFrame(0x1, []byte("2")))
			for {
				_, m, err := conn.ReadMessage()
				if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
					t.Fatalf("the edge neither answered a ping nor closed the connection in %v\nlog:\n%s", fuzzBound, fe.log.dump())
				}
				if err != nil || string(m) == "3" {
					break // closed, or alive
				}
			}
		}
		conn.Close()
		if p != nil {
			p.end(t)
		}
		fe.settled(t, true)
	})
}

type wsSeed struct {
	mode   byte
	frames []byte
}

func wsSeeds() []wsSeed {
	ph0 := `{"_placeholder":true,"num":0}`
	echo := fzChunk(fzText, `421["echo","hi"]`)
	binEvent := fzChunks(fzChunk(fzText, `451-["echo",`+ph0+`]`), fzChunk(fzBinary, "\x01\x02\x03"))
	probe := fzChunks(fzChunk(fzText, "2probe"), fzChunk(fzText, "5"))
	closeFrame := fzChunk(fzClose, "\x03\xe8bye")
	var seeds []wsSeed
	add := func(modes []byte, frames ...[]byte) {
		for _, m := range modes {
			seeds = append(seeds, wsSeed{m, fzChunks(frames...)})
		}
	}
	all := []byte{wsDirect, wsUpgraded, wsProbe}
	direct := []byte{wsDirect}
	// valid
	add(all)
	add(all, echo)
	add(all, binEvent, echo)
	add(all, fzChunk(fzText, "2"), fzChunk(fzText, "3"), fzChunk(fzText, "6"), fzChunk(fzText, `42["echo"]`))
	add(all, fzChunk(fzPing, "ping"), fzChunk(fzPong, ""), echo)
	add(all, fzChunk(fzText|fzNotFinal, `421["ec`), fzChunk(fzPing, ""), fzChunk(fzContinuation, `ho","split"]`))
	add(all, fzChunk(fzText, "40/admin,"), fzChunk(fzText, `42/admin,5["echo",1]`), fzChunk(fzText, "41/admin,"))
	add(all, closeFrame)
	add(all, fzChunk(fzText, "1"))
	add(all, fzChunk(fzText, "41"), echo)
	add(all, fzChunk(fzText|fzLong, `421["echo","long"]`))
	add([]byte{wsProbe}, probe, echo)
	add([]byte{wsProbe}, fzChunk(fzText, "2probe"), binEvent)
	add([]byte{wsProbe}, fzChunk(fzText, "5"))
	add(direct, probe)
	// truncated, huge, malformed
	add(all, fzChunk(fzText, `451-["echo",`+ph0+`]`)) // its attachment never comes
	add(all, fzChunk(fzBinary, "\x01\x02"))           // an attachment nothing announced
	add(all, fzChunk(fzText, `4599999999999999999999-["echo",`+ph0+`]`))
	add(all, fzChunk(fzText, "4x"), echo)
	add(all, fzChunk(fzText, "42[\"\xff\xfe\"]")) // not UTF-8
	add(all, fzChunk(fzText, "\x00"))
	add(all, fzChunk(fzText, ""))
	add(all, fzChunk(fzText|fzUnmasked, "2"))
	add(all, fzChunk(fzText|0x10, "2")) // RSV3
	add(all, fzChunk(fzReserved, "2"))
	add(all, fzChunk(fzContinuation, "2"))                               // nothing to continue
	add(all, fzChunk(fzText|fzNotFinal, "4"), fzChunk(fzText, "2"))      // a new message inside one
	add(all, fzChunk(fzPing|fzNotFinal, "p"))                            // a fragmented control frame
	add(all, fzChunk(fzPing, strings.Repeat("p", 126)))                  // a control frame over 125 bytes
	add(all, fzChunk(fzClose, "\x03"))                                   // a close frame of one byte
	add(all, fzChunk(fzClose, "\x03\xe8\xff"))                           // a close reason not UTF-8
	add(all, fzChunk(fzRaw, "\x81\xff\xff\xff\xff\xff\xff\xff\xff\xff")) // a length of 2^64-1
	add(all, fzChunk(fzRaw, "\x81\xfe\x7f"))                             // cut inside the length
	add(all, fzChunk(fzRaw, "\x81\x85\x00\x00"))                         // cut inside the mask
	add(all, fzChunk(fzRaw, "\x81\x85\x00\x00\x00\x00\x34\x32"))         // cut inside the payload
	add(all, fzChunk(fzText, strings.Repeat("4", 300)))
	add(all, fzChunk(fzText|fzNotFinal, "42[\"echo\",\""), fzChunk(fzContinuation|fzNotFinal, strings.Repeat("x", 200)), fzChunk(fzContinuation, strings.Repeat("x", fuzzMaxPayload))) // over MaxPayload in fragments
	return seeds
}
