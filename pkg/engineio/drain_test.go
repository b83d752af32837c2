package engineio_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/pkg/engineio"
)

// TestDrainSpreadsAndRefuses: Drain refuses handshakes at once (503, code
// 4, "Server draining"), closes WebSocket sessions with a close frame and
// answers a polling session's pending GET with the close packet, one by
// one over the window (the turns of 4 sessions span 3/4 of it), and the
// handler sees ReasonServerDraining.
func TestDrainSpreadsAndRefuses(t *testing.T) {
	e := newEnv(t, engineio.Config{PingInterval: time.Minute, PingTimeout: time.Minute})
	const window = 800 * time.Millisecond
	var mu sync.Mutex
	var closedAt []time.Time
	var wg sync.WaitGroup
	mark := func() {
		mu.Lock()
		closedAt = append(closedAt, time.Now())
		mu.Unlock()
	}
	var sids []string
	for range 3 {
		c, sid := e.openWS(t)
		sids = append(sids, sid)
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = c.SetReadDeadline(time.Now().Add(wait + window))
			for {
				if _, _, err := c.ReadMessage(); err != nil {
					mark()
					return
				}
			}
		}()
	}
	psid := e.handshake(t)
	sids = append(sids, psid)
	pending := e.getAsync(context.Background(), psid)
	e.waitGetWaiting(t, psid)

	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- e.srv.Drain(context.Background(), window) }()
	waitUntil(t, "draining", e.srv.Draining)
	if res := e.do(t, http.MethodGet, "EIO=4&transport=polling", ""); res.status != http.StatusServiceUnavailable || !strings.Contains(res.body, `"code":4`) || !strings.Contains(res.body, "Server draining") {
		t.Errorf("handshake while draining: %d %s", res.status, res.body)
	}
	if _, res, err := e.dial(t, "EIO=4&transport=websocket"); err == nil || res == nil || res.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("WebSocket handshake while draining: %v, %v", res, err)
	}
	res := await(t, pending)
	mark()
	if res.status != http.StatusOK || res.body != "1" {
		t.Errorf("pending GET: %d %q, want the close packet", res.status, res.body)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Drain: %v", err)
		}
	case <-time.After(window + wait):
		t.Fatal("Drain still running")
	}
	if took := time.Since(start); took > window+wait/2 {
		t.Errorf("Drain took %v, window %v", took, window)
	}
	wg.Wait()
	lo, hi := closedAt[0], closedAt[0]
	for _, c := range closedAt {
		if c.Before(lo) {
			lo = c
		}
		if c.After(hi) {
			hi = c
		}
	}
	if span := hi.Sub(lo); span < window/2 {
		t.Errorf("closes spread over %v, want at least %v", span, window/2)
	}
	for _, sid := range sids {
		if r := e.closeReason(t, sid); r != engineio.ReasonServerDraining {
			t.Errorf("session %s closed with %q, want %q", sid, r, engineio.ReasonServerDraining)
		}
	}
}

// TestDrainCutByContext: a context that ends before the window is over
// ends Drain with its error, the sessions not yet closed left to Shutdown.
func TestDrainCutByContext(t *testing.T) {
	e := newEnv(t, engineio.Config{PingInterval: time.Minute, PingTimeout: time.Minute})
	for range 2 {
		e.openWS(t)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := e.srv.Drain(ctx, time.Minute)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Drain: %v, want the context's deadline", err)
	}
	if took := time.Since(start); took > wait {
		t.Errorf("Drain took %v past its context", took)
	}
	// The first turn's session goes once its close frame is written; the
	// second's turn is 30s away.
	waitUntil(t, "one session left", func() bool { return e.srv.Stats().Sessions == 1 })
}
