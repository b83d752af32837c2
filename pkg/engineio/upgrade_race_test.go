package engineio_test

// Races around an upgrade and a close (issue 14, "Upgrade races"): what a
// second WebSocket with a session's sid, or a GET racing a close, gets must
// not depend on goroutine scheduling.

import (
	"context"
	"net/http"
	"sync"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/switchboard-rt/switchboard/pkg/engineio"
)

// TestSecondWebSocketOpensThenCloses: a WebSocket opened with the sid of a
// session that is upgrading or upgraded completes its handshake (101) and
// is then closed by the server, as the reference server does, so that a
// client without an error handler does not crash; the session goes on.
func TestSecondWebSocketOpensThenCloses(t *testing.T) {
	e := newEnv(t, engineio.Config{})
	sid := e.handshake(t)
	first, _, err := e.dial(t, "EIO=4&transport=websocket&sid="+sid)
	if err != nil {
		t.Fatal(err)
	}
	writeWS(t, first, "2probe")
	expectWS(t, first, "3probe")

	second, res, err := e.dial(t, "EIO=4&transport=websocket&sid="+sid)
	if err != nil {
		t.Fatalf("a second WebSocket while upgrading: %v (HTTP %v), want 101 then a close", err, res)
	}
	expectWSClosed(t, second)

	writeWS(t, first, "5")
	writeWS(t, first, "4hello")
	expectWS(t, first, "4hello")

	third, res, err := e.dial(t, "EIO=4&transport=websocket&sid="+sid)
	if err != nil {
		t.Fatalf("a WebSocket after the upgrade: %v (HTTP %v), want 101 then a close", err, res)
	}
	expectWSClosed(t, third)
	writeWS(t, first, "4still here")
	expectWS(t, first, "4still here")
}

// TestConcurrentProbesOneWins: of WebSockets opened at once with one sid,
// every one completes its handshake, exactly one is probed (3probe to its
// 2probe) and may complete the upgrade; the others are closed without an
// answer. The check "is the probe slot free?" and taking it are one step:
// once a duplicate won the slot and the real probe never got 3probe.
func TestConcurrentProbesOneWins(t *testing.T) {
	e := newEnv(t, engineio.Config{})
	for round := range 10 {
		sid := e.handshake(t)
		const n = 8
		conns := make([]*websocket.Conn, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				conns[i], _, errs[i] = e.dialer.Dial(e.wsURL("EIO=4&transport=websocket&sid="+sid), nil)
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d: WebSocket %d: %v, want 101", round, i, err)
			}
			defer conns[i].Close()
		}
		answered := make([]bool, n)
		for i, c := range conns {
			wg.Go(func() {
				if c.WriteMessage(websocket.TextMessage, []byte("2probe")) != nil {
					return
				}
				_, data, err := readWSErr(c)
				answered[i] = err == nil && data == "3probe"
			})
		}
		wg.Wait()
		winner := -1
		for i, ok := range answered {
			if ok {
				if winner >= 0 {
					t.Fatalf("round %d: WebSockets %d and %d were both probed", round, winner, i)
				}
				winner = i
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: no WebSocket was probed", round)
		}
		writeWS(t, conns[winner], "5")
		writeWS(t, conns[winner], "4hi")
		expectWS(t, conns[winner], "4hi")
	}
}

// TestGetRacingClientClose: a GET that races the client's own close ("1"
// in a POST) gets a noop or, once the session is gone, 400; never a close
// packet, which is the server's way to say it closed the session.
func TestGetRacingClientClose(t *testing.T) {
	e := newEnv(t, engineio.Config{})
	for round := range 1000 {
		sid := e.handshake(t)
		get := e.getAsync(context.Background(), sid)
		if res := e.post(t, sid, "1"); res.status != http.StatusOK && res.status != http.StatusBadRequest {
			t.Fatalf("round %d: POST 1: %d %q", round, res.status, res.body)
		}
		res := await(t, get)
		if !(res.status == http.StatusOK && res.body == "6") && res.status != http.StatusBadRequest {
			t.Fatalf("round %d: the GET racing the close got %d %q, want 200 \"6\" or 400", round, res.status, res.body)
		}
	}
}

// TestGetAfterProbeAndUpgrade: a client that sends "2probe" and "5"
// together (one write), then a polling GET, has upgraded before that GET:
// it gets 400, as on a session that has left polling. A GET served between
// the two frames found the session still upgrading and got a noop; frames
// that have arrived are now handled before a later request is answered.
// (Frames sent apart may arrive after the GET, on another connection: such
// a GET finds the session upgrading and gets a noop, as it should.)
func TestGetAfterProbeAndUpgrade(t *testing.T) {
	e := newEnv(t, engineio.Config{})
	for round := range 300 {
		sid := e.handshake(t)
		c, _, err := e.dial(t, "EIO=4&transport=websocket&sid="+sid)
		if err != nil {
			t.Fatalf("round %d: dial with sid: %v", round, err)
		}
		if _, err := c.NetConn().Write(append(maskedText("2probe"), maskedText("5")...)); err != nil {
			t.Fatal(err)
		}
		if res := e.get(t, sid); res.status != http.StatusBadRequest {
			t.Fatalf("round %d: GET after 2probe and 5: %d %q, want 400", round, res.status, res.body)
		}
		expectWS(t, c, "3probe")
		writeWS(t, c, "4hi")
		expectWS(t, c, "4hi")
		c.Close()
	}
}

// maskedText is a client's text frame carrying payload, masked with the
// key 0 (which leaves the payload as it is).
func maskedText(payload string) []byte {
	return append([]byte{0x81, 0x80 | byte(len(payload)), 0, 0, 0, 0}, payload...)
}
