package engineio_test

// Per-request deadlines: each long-polling request carries its own read and
// write deadlines, fitted to the protocol, whatever the HTTP server's own
// timeouts are: a GET may wait a ping interval, a POST body may not
// trickle, a client that does not read its GET's response does not hold
// the handler.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/pkg/engineio"
)

// rawConn opens a TCP connection to the server of base (an http:// URL).
func rawConn(t *testing.T, base string) net.Conn {
	t.Helper()
	host := strings.TrimPrefix(base, "http://")
	host = host[:strings.IndexByte(host, '/')]
	c, err := net.DialTimeout("tcp", host, wait)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// readClosed reads c until the server closes it; it fails the test if c is
// still open after d.
func readClosed(t *testing.T, c net.Conn, d time.Duration) string {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(d))
	b, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open after %v (read %q)", d, b)
	}
	return string(b)
}

// TestLongPollOutlivesServerTimeouts: behind an HTTP server whose read and
// write timeouts are far shorter than the ping interval, a long-polling GET
// still waits for the ping and gets it.
func TestLongPollOutlivesServerTimeouts(t *testing.T) {
	h := &echoHandler{closed: make(map[string]chan string)}
	srv := engineio.NewServer(engineio.Config{
		PingInterval: 1500 * time.Millisecond,
		PingTimeout:  time.Second,
		Logger:       slog.New(slog.DiscardHandler),
	}, h)
	mux := http.NewServeMux()
	mux.Handle(enginePath, srv)
	ts := httptest.NewUnstartedServer(mux)
	ts.Config.ReadTimeout = 150 * time.Millisecond
	ts.Config.WriteTimeout = 150 * time.Millisecond
	ts.Start()
	tr := &http.Transport{}
	e := &env{srv: srv, base: ts.URL + enginePath, client: &http.Client{Transport: tr, Timeout: 2 * wait}, h: h}
	t.Cleanup(tr.CloseIdleConnections)
	t.Cleanup(ts.Close)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})

	sid := e.handshake(t)
	for round := range 2 {
		start := time.Now()
		res := e.get(t, sid)
		if res.status != http.StatusOK || res.body != "2" {
			t.Fatalf("round %d: GET after %v: %d %q, want 200 and a ping", round, time.Since(start), res.status, res.body)
		}
		// The ping is due a ping interval after the handshake or the pong:
		// well after every HTTP timeout, even if the POST before was slow.
		if d := time.Since(start); d < time.Second {
			t.Errorf("round %d: ping after %v, want about the ping interval", round, d)
		}
		if res := e.post(t, sid, "3"); res.status != http.StatusOK {
			t.Fatalf("round %d: pong: %d %q", round, res.status, res.body)
		}
	}
}

// TestTricklingPostCut: a POST body that arrives a byte at a time is cut
// after PostTimeout: the client gets 408, its connection is closed, the
// session ends with a transport error and the cut is counted.
func TestTricklingPostCut(t *testing.T) {
	const postTimeout = 300 * time.Millisecond
	e := newEnv(t, engineio.Config{PingInterval: 5 * time.Second, PingTimeout: 5 * time.Second, PostTimeout: postTimeout})
	sid := e.handshake(t)
	c := rawConn(t, e.base)
	_, err := fmt.Fprintf(c, "POST %s?%s HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 100000\r\n\r\n4", enginePath, sidQuery(sid))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	defer close(done)
	go func() {
		tick := time.NewTicker(50 * time.Millisecond)
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
	start := time.Now()
	got := readClosed(t, c, postTimeout+wait)
	if !strings.HasPrefix(got, "HTTP/1.1 408 ") {
		t.Errorf("after %v the client read %q, want 408", time.Since(start), got)
	}
	if d := time.Since(start); d < postTimeout/2 {
		t.Errorf("cut after %v, before PostTimeout (%v)", d, postTimeout)
	}
	if r := e.closeReason(t, sid); r != engineio.ReasonTransportError {
		t.Errorf("session closed with %q, want %q", r, engineio.ReasonTransportError)
	}
	if n := e.srv.Stats().PostTimeouts; n != 1 {
		t.Errorf("%d POST timeouts counted, want 1", n)
	}
}

// TestUnreadPollResponseCut: a client that does not read a long-polling
// response does not hold the GET's handler: the write is cut after
// WriteTimeout and the session ends with a transport error (its packets
// are lost), long before any heartbeat would notice.
func TestUnreadPollResponseCut(t *testing.T) {
	const writeTimeout = 300 * time.Millisecond
	big := engineio.NewTextMessage([]byte(strings.Repeat("x", 1<<20)))
	var sess *engineio.Session
	opened := make(chan struct{})
	e := newEnvWith(t, engineio.Config{
		PingInterval:   10 * time.Second,
		PingTimeout:    10 * time.Second,
		WriteTimeout:   writeTimeout,
		WriteQueueSize: 64,
		// Above the 24 MB queued: a write timeout, not a slow consumer.
		WriteQueueBytes: 32 << 20,
	}, false, func(s *engineio.Session) { sess = s; close(opened) })
	sid := e.handshake(t)
	<-opened
	c := rawConn(t, e.base)
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(4096) // the kernel buffers little on the client's side
	}
	// 24 MB: far more than loopback's socket buffers hold.
	for range 24 {
		if err := sess.Send(big); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := fmt.Fprintf(c, "GET %s?%s HTTP/1.1\r\nHost: x\r\n\r\n", enginePath, sidQuery(sid)); err != nil {
		t.Fatal(err)
	}
	// Read the status line only, then stop reading.
	_ = c.SetReadDeadline(time.Now().Add(wait))
	if line, err := bufio.NewReaderSize(c, 16).ReadString('\n'); err != nil || !strings.HasPrefix(line, "HTTP/1.1 200") {
		t.Fatalf("status line %q, %v", line, err)
	}
	// closeReason waits 2 s: many times WriteTimeout, a fifth of the
	// heartbeat.
	if r := e.closeReason(t, sid); r != engineio.ReasonTransportError {
		t.Errorf("session closed with %q, want %q", r, engineio.ReasonTransportError)
	}
	if n := e.srv.Stats().WriteTimeouts; n != 1 {
		t.Errorf("Stats().WriteTimeouts = %d, want 1", n)
	}
}

// TestUnreadWebSocketCut: a WebSocket client that stops reading, with less
// queued than the slow-consumer bound, loses its session once a write
// takes over WriteTimeout; the close is counted as a write timeout, not as
// a slow consumer.
func TestUnreadWebSocketCut(t *testing.T) {
	e, _, sid := unreadWebSocket(t)
	if r := e.closeReason(t, sid); r != engineio.ReasonTransportError {
		t.Errorf("session closed with %q, want %q", r, engineio.ReasonTransportError)
	}
	if st := e.srv.Stats(); st.WriteTimeouts != 1 || st.SlowConsumers != 0 {
		t.Errorf("Stats() = %+v, want 1 write timeout, no slow consumer", st)
	}
}

// A session closed with its queue still to write, to a client that does
// not read, ends when the write times out: the writer that was to send the
// close frame and tear it down stops on the error, and the session must
// not stay "closing" with nobody to end it (it did, holding its
// connection, until the process stopped).
func TestUnreadWebSocketCutWhileClosing(t *testing.T) {
	e, sess, sid := unreadWebSocket(t)
	sess.Close()
	if r := e.closeReason(t, sid); r != engineio.ReasonForcedClose {
		t.Errorf("session closed with %q, want %q", r, engineio.ReasonForcedClose)
	}
	e.waitGone(t, sid)
	if st := e.srv.Stats(); st.Sessions != 0 || st.WriteTimeouts != 1 {
		t.Errorf("Stats() = %+v, want no session and 1 write timeout", st)
	}
}

// unreadWebSocket opens a WebSocket session whose client never reads, with
// a 300 ms write timeout, and queues 24 MB for it in 24 sends (under the
// queue's 64 packets and 32 MB: a write timeout, not a slow consumer): the
// socket buffers fill and a write blocks.
func unreadWebSocket(t *testing.T) (*env, *engineio.Session, string) {
	t.Helper()
	e := newEnvWith(t, engineio.Config{
		PingInterval:    10 * time.Second,
		PingTimeout:     10 * time.Second,
		WriteTimeout:    300 * time.Millisecond,
		WriteQueueSize:  64,
		WriteQueueBytes: 32 << 20,
	}, false, nil)
	_, sid := e.openWS(t) // and never read again
	sess := e.srv.Session(sid)
	big := engineio.NewBinaryMessage(make([]byte, 1<<20))
	for range 24 {
		if err := sess.Send(big); err != nil {
			t.Fatal(err)
		}
	}
	return e, sess, sid
}
