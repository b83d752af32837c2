package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/switchboard-rt/switchboard/internal/repotest"
	"github.com/switchboard-rt/switchboard/pkg/edge"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// startEdge runs a standalone edge (no NATS) in the test's process.
func startEdge(t *testing.T) string {
	t.Helper()
	e, err := edge.New(edge.Config{Addr: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("edge: %v", err)
		}
	})
	return "http://" + e.Addr().String()
}

// TestEdgeProxy: handshakes go to the edges in turn, each session's sid
// names its edge and its later requests reach it; a sid the proxy did not
// make is answered as an edge answers an unknown one, and an edge that is
// down is a 502.
func TestEdgeProxy(t *testing.T) {
	edges := []string{startEdge(t), startEdge(t), "http://" + repotest.ClosedAddr(t)}
	p, err := newEdgeProxy(edges, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	client := &http.Client{Timeout: 5 * time.Second}
	do := func(method, query, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+"/socket.io/?EIO=4&transport=polling"+query, strings.NewReader(body))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	var sids []string
	for i := range 2 {
		code, body := do("GET", "", "")
		var open struct{ SID string }
		if code != http.StatusOK || !strings.HasPrefix(body, "0") || json.Unmarshal([]byte(body[1:]), &open) != nil {
			t.Fatalf("handshake %d: %d %q", i, code, body)
		}
		if want := []string{"0.", "1."}[i]; !strings.HasPrefix(open.SID, want) {
			t.Errorf("handshake %d: sid %q, want it to start with %q", i, open.SID, want)
		}
		sids = append(sids, open.SID)
		// The session goes on on its edge: a socket.io CONNECT, and its answer.
		if code, body := do("POST", "&sid="+open.SID, "40/test,"); code != http.StatusOK || body != "ok" {
			t.Errorf("POST on session %d: %d %q", i, code, body)
		}
		if code, body := do("GET", "&sid="+open.SID, ""); code != http.StatusOK || !strings.HasPrefix(body, "40/test,{\"sid\"") {
			t.Errorf("poll on session %d: %d %q, want the CONNECT's answer", i, code, body)
		}
	}
	// The third handshake goes to the edge that is down.
	if code, _ := do("GET", "", ""); code != http.StatusBadGateway {
		t.Errorf("handshake to the edge that is down: %d, want 502", code)
	}
	unknown := `{"code":1,"message":"Session ID unknown"}`
	_, rest, _ := strings.Cut(sids[0], ".")
	for _, sid := range []string{rest, "9." + rest, "x." + rest, "0.", "-1." + rest, "1." + rest} {
		code, body := do("GET", "&sid="+sid, "")
		if code != http.StatusBadRequest || !strings.Contains(body, `"Session ID unknown"`) {
			t.Errorf("sid %q: %d %q, want 400 %s", sid, code, body, unknown)
		}
	}
	for _, bad := range [][]string{{}, {"127.0.0.1:1"}, {"ftp://127.0.0.1:1"}} {
		if _, err := newEdgeProxy(bad, slog.New(slog.DiscardHandler)); err == nil {
			t.Errorf("newEdgeProxy(%q) took it", bad)
		}
	}
}
