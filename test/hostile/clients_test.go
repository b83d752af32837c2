package hostile

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/switchboard-rt/switchboard/internal/rawgrpc"
	"github.com/switchboard-rt/switchboard/internal/repotest"
	"github.com/switchboard-rt/switchboard/internal/testfeed"
)

// ---- a Socket.IO client over a raw WebSocket ----

// keepBytes is how much of a message wsClient keeps: enough for any reply
// a test reads in full, and the start of a large event.
const keepBytes = 16 << 10

// wsClient is an Engine.IO v4 WebSocket connection that sends whatever the
// test writes. Its reader goroutine answers pings and feeds every other
// text message (its first keepBytes) to msgs until the connection ends.
type wsClient struct {
	ws     *websocket.Conn
	wmu    sync.Mutex // one writer at a time: the test or the reader's pongs
	msgs   *testfeed.Feed[string]
	closed chan struct{} // the reader ended: the connection is gone
}

// dialWS opens a WebSocket to the edge at addr, with query added to the
// Engine.IO URL and header to the handshake (both may be empty), and
// returns it once the open packet arrived. It is closed when the test
// ends.
func dialWS(t *testing.T, addr, query string, header http.Header) *wsClient {
	t.Helper()
	return dialWSWith(t, websocket.Dialer{HandshakeTimeout: waitTimeout}, addr, query, header)
}

func dialWSWith(t *testing.T, d websocket.Dialer, addr, query string, header http.Header) *wsClient {
	t.Helper()
	ws, res, err := d.Dial("ws://"+addr+"/socket.io/?EIO=4&transport=websocket"+query, header)
	if res != nil && res.Body != nil {
		res.Body.Close()
	}
	if err != nil {
		t.Fatalf("WebSocket to %s: %v", addr, err)
	}
	c := &wsClient{ws: ws, msgs: testfeed.New[string](waitTimeout), closed: make(chan struct{})}
	go c.read()
	t.Cleanup(c.close)
	if m := c.msgs.Wait(t, "the open packet", func(string) bool { return true }); !strings.HasPrefix(m, "0{") {
		t.Fatalf("open packet %q", clip(m))
	}
	return c
}

func (c *wsClient) read() {
	defer close(c.closed)
	for {
		typ, b, err := c.ws.ReadMessage()
		if err != nil {
			c.msgs.End(fmt.Errorf("connection closed: %w", err))
			return
		}
		if typ != websocket.TextMessage {
			continue
		}
		if string(b) == "2" {
			_ = c.write(websocket.TextMessage, []byte("3"))
			continue
		}
		if len(b) > keepBytes {
			b = b[:keepBytes]
		}
		c.msgs.Add(string(b))
	}
}

func (c *wsClient) write(typ int, b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(waitTimeout))
	return c.ws.WriteMessage(typ, b)
}

// writeFrame writes one unfragmented WebSocket frame of payload, masked
// with the all-zero key (a valid key that leaves the payload as it is), on
// the connection under gorilla's: sending hundreds of MB costs a copy into
// the kernel, not a masking pass over every byte in a race-instrumented
// test binary.
func (c *wsClient) writeFrame(opcode byte, payload []byte) error {
	hdr := make([]byte, 0, 14)
	hdr = append(hdr, 0x80|opcode) // FIN
	switch n := len(payload); {
	case n < 126:
		hdr = append(hdr, 0x80|byte(n))
	case n <= 0xffff:
		hdr = append(hdr, 0x80|126, byte(n>>8), byte(n))
	default:
		hdr = append(hdr, 0x80|127)
		hdr = binary.BigEndian.AppendUint64(hdr, uint64(n))
	}
	hdr = append(hdr, 0, 0, 0, 0) // the masking key
	c.wmu.Lock()
	defer c.wmu.Unlock()
	nc := c.ws.NetConn()
	_ = nc.SetWriteDeadline(time.Now().Add(waitTimeout))
	bufs := net.Buffers{hdr, payload}
	_, err := bufs.WriteTo(nc)
	return err
}

// send writes a text message and fails the test if it cannot.
func (c *wsClient) send(t *testing.T, m string) {
	t.Helper()
	if err := c.write(websocket.TextMessage, []byte(m)); err != nil {
		t.Fatalf("send %q: %v", clip(m), err)
	}
}

// connect joins namespace ns ("/" or "/name") and returns the socket's sid.
func (c *wsClient) connect(t *testing.T, ns string) string {
	t.Helper()
	prefix := "40"
	if ns != "/" {
		prefix += ns + ","
	}
	c.send(t, prefix)
	nsPart := strings.TrimPrefix(prefix, "40")
	m := c.msgs.Wait(t, "the answer to CONNECT "+ns, func(m string) bool {
		return strings.HasPrefix(m, "40"+nsPart+"{") || strings.HasPrefix(m, "44"+nsPart+"{")
	})
	const sidKey = `{"sid":"`
	if !strings.HasPrefix(m, prefix+sidKey) {
		t.Fatalf("CONNECT %s answered %q", ns, clip(m))
	}
	sid, _, _ := strings.Cut(strings.TrimPrefix(m, prefix+sidKey), `"`)
	return sid
}

// isClosed reports whether the connection ended.
func (c *wsClient) isClosed() bool {
	select {
	case <-c.closed:
		return true
	default:
		return false
	}
}

// waitClosed waits until the edge closes the connection.
func (c *wsClient) waitClosed(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case <-c.closed:
	case <-time.After(d):
		t.Fatalf("the edge did not close the connection within %v", d)
	}
}

func (c *wsClient) close() {
	_ = c.ws.Close()
	<-c.closed
}

// ---- raw TCP ----

// dialFrom opens a TCP connection to addr from the local IP from (empty:
// any), closed when the test ends.
func dialFrom(t *testing.T, addr, from string) net.Conn {
	t.Helper()
	return repotest.DialFrom(t, addr, from, waitTimeout)
}

// closedBy reports whether the peer closed c (EOF or reset) before
// deadline, and what it sent before that.
func closedBy(c net.Conn, deadline time.Time) (bool, string) {
	_ = c.SetReadDeadline(deadline)
	b, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false, string(b)
	}
	return true, string(b)
}

// ---- long-polling ----

// polling is an Engine.IO v4 long-polling session driven by hand.
type polling struct {
	base   string // the session's URL
	client *http.Client
	tr     *http.Transport
}

// close closes the session's idle keep-alive connections (the edge holds
// each until its idle timeout).
func (p *polling) close() { p.tr.CloseIdleConnections() }

// openPolling makes the polling handshake and returns the session.
func openPolling(t *testing.T, addr string) *polling {
	t.Helper()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	p := &polling{client: &http.Client{Transport: tr, Timeout: waitTimeout}, tr: tr}
	code, body := p.do(t, http.MethodGet, "http://"+addr+"/socket.io/?EIO=4&transport=polling", "")
	const sidKey = `0{"sid":"`
	if code != http.StatusOK || !strings.HasPrefix(body, sidKey) {
		t.Fatalf("polling handshake: %d %q", code, clip(body))
	}
	sid, _, _ := strings.Cut(strings.TrimPrefix(body, sidKey), `"`)
	p.base = "http://" + addr + "/socket.io/?EIO=4&transport=polling&sid=" + sid
	return p
}

// do makes one request and returns its status and body; a request the
// edge cuts off is status 0 with the error as body.
func (p *polling) do(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	res, err := p.client.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return 0, err.Error()
	}
	return res.StatusCode, string(b)
}

func (p *polling) post(t *testing.T, body string) (int, string) {
	t.Helper()
	return p.do(t, http.MethodPost, p.base, body)
}

func (p *polling) get(t *testing.T) (int, string) {
	t.Helper()
	return p.do(t, http.MethodGet, p.base, "")
}

// rawRequest writes one HTTP/1.1 request on c and reads its response.
func rawRequest(c net.Conn, method, target string) (*http.Response, string, error) {
	_ = c.SetDeadline(time.Now().Add(waitTimeout))
	defer c.SetDeadline(time.Time{})
	if _, err := fmt.Fprintf(c, "%s %s HTTP/1.1\r\nHost: edge\r\n\r\n", method, target); err != nil {
		return nil, "", err
	}
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return nil, "", err
	}
	b, err := io.ReadAll(res.Body)
	res.Body.Close()
	return res, string(b), err
}

// ---- gRPC with hand-made requests ----

// field appends a length-delimited protobuf field.
func field(b []byte, num protowire.Number, v []byte) []byte { return rawgrpc.Field(b, num, v) }

// deepValue is a google.protobuf.Value of depth nested lists.
func deepValue(depth int) []byte { return rawgrpc.DeepValue(depth) }

// rawUnary calls method with req as its request's bytes.
func rawUnary(conn *grpc.ClientConn, method string, req []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	return rawgrpc.Unary(ctx, conn, method, req)
}

// rawStream opens server-streaming method with req as its request's bytes
// and returns the error of its first message.
func rawStream(conn *grpc.ClientConn, method string, req []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	return rawgrpc.Stream(ctx, conn, method, req)
}

// wantInvalid fails the test unless err is InvalidArgument with a message
// holding every one of parts.
func wantInvalid(t *testing.T, what string, err error, parts ...string) {
	t.Helper()
	st := status.Convert(err)
	if err == nil || st.Code() != codes.InvalidArgument {
		t.Errorf("%s: %v (%v), want InvalidArgument", what, st.Code(), clip(st.Message()))
		return
	}
	for _, p := range parts {
		if !strings.Contains(st.Message(), p) {
			t.Errorf("%s: InvalidArgument %q, want it to say %q", what, clip(st.Message()), p)
		}
	}
	t.Logf("%s: InvalidArgument %q", what, clip(st.Message()))
}
