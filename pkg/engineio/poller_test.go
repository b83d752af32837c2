package engineio_test

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/switchboard-rt/switchboard/pkg/engineio"
)

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

// TestIdleWebSocketsHoldNoGoroutine: with the idle poller, an open but idle
// WebSocket session has no goroutine of its own, and still reads what its
// client sends (both text and binary, many times, interleaved with pings).
// With NoIdlePoller each session has its reader goroutine. Both modes serve
// the same traffic.
func TestIdleWebSocketsHoldNoGoroutine(t *testing.T) {
	const n = 40
	for _, tc := range []struct {
		name   string
		cfg    engineio.Config
		parked bool
	}{
		{"poller", engineio.Config{PingInterval: 150 * time.Millisecond, PingTimeout: 500 * time.Millisecond}, true},
		{"goroutines", engineio.Config{PingInterval: 150 * time.Millisecond, PingTimeout: 500 * time.Millisecond, NoIdlePoller: true}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.cfg)
			base := goroutinesSettle()
			conns := make([]*websocket.Conn, n)
			for i := range conns {
				conns[i], _ = e.openWS(t)
			}
			grown := goroutinesSettle() - base
			if tc.parked && grown > n/4 {
				t.Errorf("%d idle sessions added %d goroutines, want (almost) none", n, grown)
			}
			if !tc.parked && grown < n {
				t.Errorf("%d sessions added %d goroutines, want one reader each", n, grown)
			}
			// Three rounds of traffic on every connection, answering the pings
			// that arrive meanwhile: parked sessions wake, read, park again.
			for round := range 3 {
				for i, c := range conns {
					writeWS(t, c, fmt.Sprintf("4r%d-c%d", round, i))
					if err := c.WriteMessage(websocket.BinaryMessage, []byte{byte(round), byte(i)}); err != nil {
						t.Fatal(err)
					}
				}
				for i, c := range conns {
					want := fmt.Sprintf("4r%d-c%d", round, i)
					gotText, gotBin := false, false
					for !gotText || !gotBin {
						mt, got := readWS(t, c)
						switch {
						case mt == websocket.TextMessage && got == "2":
							writeWS(t, c, "3")
						case mt == websocket.TextMessage && got == want:
							gotText = true
						case mt == websocket.BinaryMessage && got == string([]byte{byte(round), byte(i)}):
							gotBin = true
						default:
							t.Fatalf("conn %d round %d: unexpected frame %d %q", i, round, mt, got)
						}
					}
				}
			}
			if st := e.srv.Stats(); st.WebSocket != n {
				t.Errorf("stats %+v, want %d WebSocket sessions", st, n)
			}
		})
	}
}
