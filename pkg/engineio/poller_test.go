package engineio_test

import (
	"fmt"
	"runtime"
	"sync"
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

// TestPollerChurn: sessions open and close concurrently, so descriptors are
// recycled while other sessions are parked and reading. Every session left
// open still reads what its client sends, and stays parked: a stale
// registration of a recycled descriptor would make the new session fall back
// to a reader goroutine (or never read at all).
func TestPollerChurn(t *testing.T) {
	const keep, churn, rounds = 30, 30, 4
	e := newEnv(t, engineio.Config{PingInterval: time.Minute, PingTimeout: time.Minute})
	base := goroutinesSettle()
	open := func(n int) []*websocket.Conn {
		conns := make([]*websocket.Conn, n)
		var wg sync.WaitGroup
		for i := range conns {
			wg.Go(func() {
				c, _, err := e.dial(t, "EIO=4&transport=websocket")
				if err != nil {
					t.Error(err)
					return
				}
				if _, _, err := readWSErr(c); err != nil { // open packet
					t.Error(err)
				}
				conns[i] = c
			})
		}
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
		return conns
	}
	kept := open(keep)
	echo := func(round int) {
		for i, c := range kept {
			writeWS(t, c, fmt.Sprintf("4k%d-%d", round, i))
		}
		for i, c := range kept {
			expectWS(t, c, fmt.Sprintf("4k%d-%d", round, i))
		}
	}
	for round := range rounds {
		gone := open(churn)
		var wg sync.WaitGroup
		for i, c := range gone {
			wg.Go(func() {
				// Half say something first, so that closes race with reads.
				if i%2 == 0 {
					_ = c.WriteMessage(websocket.TextMessage, []byte("4bye"))
				}
				_ = c.Close()
			})
		}
		echo(round)
		wg.Wait()
	}
	fresh := open(churn) // on descriptors the closed sessions had
	kept = append(kept, fresh...)
	echo(rounds)
	waitUntil(t, "the churned sessions to close", func() bool { return e.srv.Stats().WebSocket == len(kept) })
	if grown := goroutinesSettle() - base; grown > len(kept)/4 {
		t.Errorf("%d idle sessions hold %d goroutines, want (almost) none", len(kept), grown)
	}
}
