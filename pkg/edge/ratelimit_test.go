package edge_test

// The edge's rate limits and the WebSocket Origin check (issue 18,
// docs/security.md): handshakes per client address, events per socket, the
// length of an event name, and a WebSocket from an origin not allowed.
// Real TCP on loopback, the official client for the events.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard-rt/switchboard/pkg/edge"
	"github.com/switchboard-rt/switchboard/pkg/engineio"
	"github.com/switchboard-rt/switchboard/pkg/socketio"
)

// handshakes makes n polling handshakes, one after another on one
// keep-alive connection from the address from, and returns their statuses
// and the body of the last refused one.
func handshakes(t *testing.T, te *testEdge, from string, n int) (statuses []int, refusedBody string, retryAfter string) {
	t.Helper()
	c := dialFrom(t, te.Addr().String(), from)
	br := bufio.NewReader(c)
	for range n {
		res, body, err := rawRequest(c, br, http.MethodGet, "/socket.io/?EIO=4&transport=polling", "")
		if err != nil {
			t.Fatalf("handshake from %s: %v", from, err)
		}
		statuses = append(statuses, res.StatusCode)
		if res.StatusCode == http.StatusTooManyRequests {
			refusedBody, retryAfter = body, res.Header.Get("Retry-After")
		} else if res.StatusCode == http.StatusOK && !strings.HasPrefix(body, "0{") {
			t.Fatalf("handshake answered 200 %q, want an open packet", body)
		}
	}
	return statuses, refusedBody, retryAfter
}

func count(statuses []int, code int) int {
	n := 0
	for _, s := range statuses {
		if s == code {
			n++
		}
	}
	return n
}

// TestHandshakeRate: one address gets its burst of handshakes, then 429
// with the Engine.IO error body, counted in Stats and the metric; another
// address is not affected; the bucket refills at the rate.
func TestHandshakeRate(t *testing.T) {
	const burst = 5
	te := startEdge(t, edge.Config{HandshakeRate: 2, HandshakeBurst: burst}, nil)

	st, body, retry := handshakes(t, te, "127.0.0.1", 3*burst)
	if ok := count(st, http.StatusOK); ok < burst || ok > burst+1 { // +1: a token refilled meanwhile
		t.Errorf("statuses %v: %d handshakes admitted, want the burst of %d", st, ok, burst)
	}
	refused := count(st, http.StatusTooManyRequests)
	if refused+count(st, http.StatusOK) != len(st) || refused < 2*burst-1 {
		t.Errorf("statuses %v: want the rest 429", st)
	}
	var e struct {
		Code    *int   `json:"code"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.Code == nil || *e.Code != 4 || e.Message != "Too many requests" {
		t.Errorf("429 body %q, want {\"code\":4,\"message\":\"Too many requests\"}", body)
	}
	if retry != "1" {
		t.Errorf("Retry-After %q, want 1", retry)
	}
	if got := te.Stats().RefusedHandshakeRate; got != uint64(refused) {
		t.Errorf("Stats.RefusedHandshakeRate %d, want %d", got, refused)
	}
	if got := metricValue(t, te, "switchboard_edge_handshakes_refused_total", "rate"); got != float64(refused) {
		t.Errorf("switchboard_edge_handshakes_refused_total{reason=\"rate\"} %v, want %d", got, refused)
	}

	// Another address has a bucket of its own: a WebSocket handshake and
	// CONNECT from 127.0.0.2 go through, and so do its polling ones.
	wsConnect(t, te, "127.0.0.2")
	if st2, _, _ := handshakes(t, te, "127.0.0.2", burst-1); count(st2, http.StatusOK) != burst-1 {
		t.Errorf("127.0.0.2: statuses %v, want all 200", st2)
	}
	if got := te.Stats().RefusedHandshakeRate; got != uint64(refused) {
		t.Errorf("Stats.RefusedHandshakeRate %d after 127.0.0.2's handshakes, want still %d", got, refused)
	}

	// 2 a second: within a second, 127.0.0.1 may handshake again.
	time.Sleep(time.Second)
	if st3, _, _ := handshakes(t, te, "127.0.0.1", 1); st3[0] != http.StatusOK {
		t.Errorf("127.0.0.1 after a second: %d, want 200 (the bucket refills)", st3[0])
	}
}

// TestHandshakeRateOff: -1 turns the limit off.
func TestHandshakeRateOff(t *testing.T) {
	te := startEdge(t, edge.Config{HandshakeRate: -1}, nil)
	if st, _, _ := handshakes(t, te, "127.0.0.1", 100); count(st, http.StatusOK) != 100 {
		t.Errorf("statuses %v, want 100 × 200 with no handshake rate", st)
	}
	if got := te.Stats().RefusedHandshakeRate; got != 0 {
		t.Errorf("RefusedHandshakeRate %d, want 0", got)
	}
}

// metricValue gathers the edge's collector and returns the value of
// name{reason=reason}; the test fails if there is none.
func metricValue(t *testing.T, te *testEdge, name, reason string) float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(te.Collector())
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" && l.GetValue() == reason {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no metric %s{reason=%q}", name, reason)
	return 0
}

// TestWebSocketOrigin: a WebSocket handshake, and an upgrade of a polling
// session, from an origin not allowed get 403 with the Engine.IO error
// body and are counted; an allowed origin and an origin-less client
// connect.
func TestWebSocketOrigin(t *testing.T) {
	te := startEdge(t, edge.Config{Engine: engineio.Config{AllowedOrigins: []string{"http://a.example"}}}, nil)
	base := "ws://" + te.Addr().String() + "/socket.io/?EIO=4&transport=websocket"
	dial := func(url, origin string) (int, string) {
		h := http.Header{}
		if origin != "" {
			h.Set("Origin", origin)
		}
		d := websocket.Dialer{HandshakeTimeout: waitTimeout}
		c, res, err := d.Dial(url, h)
		if err == nil {
			c.Close()
			return http.StatusSwitchingProtocols, ""
		}
		if res == nil {
			t.Fatalf("dial with Origin %q: %v", origin, err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		return res.StatusCode, string(b)
	}
	const forbidden = `{"code":4,"message":"Forbidden"}`
	if code, body := dial(base, "http://evil.example"); code != http.StatusForbidden || body != forbidden {
		t.Errorf("handshake from http://evil.example: %d %q, want 403 %s", code, body, forbidden)
	}
	// An upgrade of a polling session, from the wrong origin.
	c := dialFrom(t, te.Addr().String(), "127.0.0.1")
	_, open, err := rawRequest(c, bufio.NewReader(c), http.MethodGet, "/socket.io/?EIO=4&transport=polling", "")
	if err != nil || !strings.HasPrefix(open, "0{") {
		t.Fatalf("polling handshake: %q, %v", open, err)
	}
	var hs struct{ SID string }
	_ = json.Unmarshal([]byte(open[1:]), &hs)
	if code, body := dial(base+"&sid="+hs.SID, "http://evil.example"); code != http.StatusForbidden || body != forbidden {
		t.Errorf("upgrade from http://evil.example: %d %q, want 403 %s", code, body, forbidden)
	}
	if got := te.Stats().Engine.OriginsRefused; got != 2 {
		t.Errorf("Engine.OriginsRefused %d, want 2", got)
	}
	if got := metricValue(t, te, "switchboard_edge_handshakes_refused_total", "origin"); got != 2 {
		t.Errorf("switchboard_edge_handshakes_refused_total{reason=\"origin\"} %v, want 2", got)
	}
	for _, origin := range []string{"http://a.example", ""} {
		if code, body := dial(base, origin); code != http.StatusSwitchingProtocols {
			t.Errorf("handshake with Origin %q: %d %q, want 101", origin, code, body)
		}
	}
	if got := te.Stats().Engine.OriginsRefused; got != 2 {
		t.Errorf("Engine.OriginsRefused %d after allowed handshakes, want still 2", got)
	}
}

// TestEventLimits: with the official client, a socket that emits past its
// burst has the excess dropped (no handler sees it, counted) and goes on
// connected, its later events handled once the bucket refilled; a socket
// on the same edge that stays under the rate loses nothing, but its event
// with a name over the limit is dropped (its ack timeout fires) and
// counted.
func TestEventLimits(t *testing.T) {
	const rate, burst, flood, calm, maxName = 10, 20, 100, 15, 64
	eachMode(t, func(t *testing.T, m mode) {
		var mu sync.Mutex
		got := map[string]map[string]int{} // sid → event name → count
		te := startEdge(t, edge.Config{EventRate: rate, EventBurst: burst, MaxEventNameLen: maxName}, func(te *testEdge) {
			te.SocketIO().OnNamespace(func(n *socketio.Namespace) {
				n.OnEvent(func(s *socketio.Socket, e *socketio.Event) {
					mu.Lock()
					if got[s.ID()] == nil {
						got[s.ID()] = map[string]int{}
					}
					got[s.ID()][e.Name]++
					mu.Unlock()
					_ = e.Ack(s.ID())
				})
			})
		})
		lines := runNode(t, te, m, "eventlimits.mjs", fmt.Sprint("SB_FLOOD=", flood), fmt.Sprint("SB_CALM=", calm),
			fmt.Sprint("SB_LONG=", maxName+1), "SB_REFILL_MS=300")
		var ids struct{ Flooder, Calm string }
		lines.get(t, "connect", &ids)
		var long struct{ TimedOut bool }
		lines.get(t, "long", &long)
		if !long.TimedOut {
			t.Error("the event with a name over the limit was answered; want it dropped (the ack timeout fires)")
		}
		var state struct{ Flooder, Calm bool }
		lines.get(t, "state", &state)
		if !state.Flooder || !state.Calm {
			t.Errorf("connected at the end: %+v, want both (the limits drop events, they do not disconnect)", state)
		}
		mu.Lock()
		defer mu.Unlock()
		fl, ca := got[ids.Flooder], got[ids.Calm]
		// The burst, and what refilled while the client emitted (a few ms).
		if n := fl["flood"]; n < burst || n > burst+3 {
			t.Errorf("the server handled %d of the flooder's %d events, want its burst of %d", n, flood, burst)
		}
		if fl["after"] != 1 {
			t.Errorf("the flooder's event after the refill handled %d times, want 1", fl["after"])
		}
		if ca["calm"] != calm || ca["calm-after"] != 1 || len(ca) != 2 {
			t.Errorf("the calm socket's events handled %v, want %d calm and 1 calm-after, nothing else", ca, calm)
		}
		st := te.Stats().SocketIO
		if want := uint64(flood - fl["flood"]); st.EventsOverRate != want || st.EventNamesTooLong != 1 {
			t.Errorf("EventsOverRate %d, EventNamesTooLong %d; want %d and 1", st.EventsOverRate, st.EventNamesTooLong, want)
		}
		if v := metricValue(t, te, "switchboard_edge_client_events_dropped_total", "event_name_too_long"); v != 1 {
			t.Errorf("switchboard_edge_client_events_dropped_total{reason=\"event_name_too_long\"} %v, want 1", v)
		}
		if v := metricValue(t, te, "switchboard_edge_client_events_dropped_total", "rate"); v != float64(st.EventsOverRate) {
			t.Errorf("switchboard_edge_client_events_dropped_total{reason=\"rate\"} %v, want %d", v, st.EventsOverRate)
		}
	})
}

// TestHandshakeRateDefault: with the defaults, one address gets bursts of
// 1,000 handshakes, then 429 but for the 100 a second that refill.
func TestHandshakeRateDefault(t *testing.T) {
	te := startEdge(t, edge.Config{}, nil)
	start := time.Now()
	st, _, _ := handshakes(t, te, "127.0.0.1", 1500)
	refill := int(time.Since(start).Seconds()*100) + 2
	if ok := count(st, http.StatusOK); ok < 1000 || ok > 1000+refill {
		t.Errorf("%d of 1,500 handshakes at once admitted, want the default burst of 1,000 and at most %d refilled", ok, refill)
	}
	if count(st[:1000], http.StatusOK) != 1000 || count(st, http.StatusTooManyRequests) == 0 {
		t.Errorf("want 1,000 × 200 first, then 429s; got %d × 200 in the first 1,000 and %d × 429", count(st[:1000], http.StatusOK), count(st, http.StatusTooManyRequests))
	}
}
