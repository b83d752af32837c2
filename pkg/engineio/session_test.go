package engineio

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

type nopHandler struct{}

func (nopHandler) OnOpen(*Session) SessionHandler { return nopHandler{} }
func (nopHandler) OnMessage([]byte, bool)         {}
func (nopHandler) OnClose(string)                 {}

// A GET woken for the upgrade ("2probe") may get the session lock only after
// "5" switched it to the WebSocket. The packets queued by then belong to the
// WebSocket writer: the GET must answer a noop and leave them. The interleaving
// is forced here by holding the session lock.
func TestPollReleasedAfterUpgradeLeavesQueue(t *testing.T) {
	srv := NewServer(Config{Logger: slog.New(slog.DiscardHandler)}, nopHandler{})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/engine.io/?EIO=4&transport=polling", nil))
	var open struct{ SID string }
	if err := json.Unmarshal([]byte(strings.TrimPrefix(rec.Body.String(), "0")), &open); err != nil {
		t.Fatalf("handshake %q: %v", rec.Body, err)
	}
	s := srv.Session(open.SID)

	done := make(chan *httptest.ResponseRecorder)
	go func() {
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/engine.io/?EIO=4&transport=polling&sid="+open.SID, nil))
		done <- rec
	}()
	deadline := time.Now().Add(2 * time.Second)
	for {
		s.mu.Lock()
		if s.pollWake != nil {
			break // with s.mu held
		}
		s.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatal("the GET never waited")
		}
		time.Sleep(time.Millisecond)
	}
	// What "2probe" then "5" do, without a connection: the writer does not
	// start, so the queue stays observable.
	s.upgrading = true
	s.released = true
	s.kickLocked()
	s.upgrading = false
	s.transport = TransportWebSocket
	m := NewTextMessage([]byte("after upgrade"))
	s.queue = append(s.queue, m)
	s.mu.Unlock()

	select {
	case rec := <-done:
		if rec.Code != http.StatusOK || rec.Body.String() != "6" {
			t.Errorf("released GET: %d %q, want 200 \"6\"", rec.Code, rec.Body)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the GET was not released")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queue) != 1 || s.queue[0] != m {
		t.Errorf("queue after the GET: %d packets, want the message queued for the WebSocket", len(s.queue))
	}
}
