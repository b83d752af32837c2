package control_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	sbv1 "github.com/switchboard-rt/switchboard/gen/switchboard/v1"
	"github.com/switchboard-rt/switchboard/pkg/edge"
	"github.com/switchboard-rt/switchboard/pkg/engineio"
	"github.com/switchboard-rt/switchboard/pkg/socketio"
)

// handshakeLine is one line of testdata/handshake.mjs.
type handshakeLine struct {
	Ev      string `json:"ev"`
	SID     string `json:"sid"`
	At      int64  `json:"at"` // ms since the epoch
	Message string `json:"message"`
}

// handshakeClient runs testdata/handshake.mjs against url: its CONNECT
// waits delay after the Engine.IO connection opened. It returns the open
// and connect lines once the socket connected; the client disconnects when
// the test ends.
func handshakeClient(t *testing.T, url string, delay time.Duration, headers map[string]string, auth ...string) (open, connect handshakeLine) {
	t.Helper()
	h, err := json.Marshal(headers)
	if err != nil {
		t.Fatal(err)
	}
	p := startNode(t, func(text []byte) handshakeLine {
		var l handshakeLine
		if err := json.Unmarshal(text, &l); err != nil {
			l = handshakeLine{Ev: "fail", Message: fmt.Sprintf("bad line %q: %v", text, err)}
		}
		return l
	}, "handshake.mjs", append([]string{url, fmt.Sprint(delay.Milliseconds()), string(h)}, auth...)...)
	l := p.lines.Wait(t, "the client to connect", func(l handshakeLine) bool { return l.Ev == "connect" || l.Ev == "fail" })
	if l.Ev == "fail" {
		p.stop()
		t.Fatalf("client: %s\nnode stderr:\n%s", l.Message, p.proc.Stderr())
	}
	return p.lines.Wait(t, "the open line", func(l handshakeLine) bool { return l.Ev == "open" }), l
}

// startEdgeWith starts one more in-process edge of f's cluster with the
// configuration cfg adds to the fixture's; its URL.
func startEdgeWith(f *fixture, cfg edge.Config) string {
	t := f.t
	t.Helper()
	cfg.Addr = "127.0.0.1:0"
	cfg.NATSURL = f.ctl.NATSURL()
	cfg.HeartbeatInterval = 100 * time.Millisecond
	cfg.Engine = engineio.Config{PingInterval: 500 * time.Millisecond, PingTimeout: 2 * time.Second}
	cfg.Logger = f.log
	cfg.EventRate, cfg.HandshakeRate = -1, -1 // as startEdge's
	e, err := edge.New(cfg)
	if err != nil {
		t.Fatalf("edge.New: %v", err)
	}
	e.SocketIO().OnNamespace(func(ns *socketio.Namespace) { ns.Authenticate(authenticate) })
	if err := e.Listen(); err != nil {
		t.Fatalf("edge Listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("edge %s Run: %v", e.ID(), err)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("edge %s did not shut down", e.ID())
		}
	})
	f.waitEdges(append(f.edgeIDs(), e.ID())...)
	return "http://" + e.Addr().String()
}

// TestHandshakeHeaders: the handshake's Cookie, Authorization and
// Proxy-Authorization headers are not in ListSockets nor in the connect
// event unless the edge exposes them (Config.ExposeHeaders, any case); the
// auth payload's "token", a credential as Authorization is, goes with it.
func TestHandshakeHeaders(t *testing.T) {
	f := startCluster(t, options{edges: 1})
	exposing := startEdgeWith(f, edge.Config{ExposeHeaders: []string{"Cookie", "authorization"}})
	sent := map[string]string{
		"cookie":              "session=s3cret",
		"authorization":       "Bearer t0ken",
		"proxy-authorization": "Basic cHJveHk6cHc=",
		"x-custom":            "visible",
	}
	for _, tc := range []struct {
		name string
		url  string
		want []string // of sent's headers, those shown
		auth string   // the auth payload shown, as JSON in the client's key order
	}{
		{"default", f.edges[0].url, []string{"x-custom"}, `{"room":"r1"}`},
		{"exposed", exposing, []string{"cookie", "authorization", "x-custom"}, `{"token":"eyJ.t0ken","room":"r1"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, c := handshakeClient(t, tc.url, 0, sent, `{"token":"eyJ.t0ken","room":"r1"}`)
			check := func(what string, hs *sbv1.Handshake) {
				t.Helper()
				shown := map[string]bool{}
				for _, h := range tc.want {
					shown[h] = true
				}
				for h, v := range sent {
					got, ok := hs.GetHeaders()[h]
					switch {
					case shown[h] && got != v:
						t.Errorf("%s: header %s = %q (present %v), want %q", what, h, got, ok, v)
					case !shown[h] && ok:
						t.Errorf("%s: header %s = %q, want it hidden", what, h, got)
					}
				}
				if got := hs.GetAuthJson(); got != tc.auth {
					t.Errorf("%s: auth %s, want %s", what, got, tc.auth)
				}
			}
			conn := f.life.Wait(t, "the connect event", connectedSID(c.SID)).GetConnected().GetSocket()
			check("connect event", conn.GetHandshake())
			list := f.listSockets(&sbv1.ListSocketsRequest{Sid: c.SID})
			if len(list.Sockets) != 1 {
				t.Fatalf("ListSockets(%s) = %v", c.SID, list)
			}
			check("ListSockets", list.Sockets[0].GetHandshake())
		})
	}
}

// TestConnectedAt: Handshake.connected_at is when the socket connected to
// its namespace, not when its connection's first request came.
func TestConnectedAt(t *testing.T) {
	f := startCluster(t, options{edges: 1})
	const delay = 300 * time.Millisecond
	open, c := handshakeClient(t, f.edges[0].url, delay, nil)
	list := f.listSockets(&sbv1.ListSocketsRequest{Sid: c.SID})
	if len(list.Sockets) != 1 {
		t.Fatalf("ListSockets(%s) = %v", c.SID, list)
	}
	at := list.Sockets[0].GetHandshake().GetConnectedAt().AsTime()
	// The clocks are one machine's; Date.now() counts whole milliseconds.
	opened, connected := time.UnixMilli(open.At), time.UnixMilli(c.At)
	if at.Before(opened.Add(delay-time.Millisecond)) || at.After(connected.Add(time.Millisecond)) {
		t.Errorf("connected_at %v: want between the connection's open + %v (%v) and the client's connect (%v)",
			at.Format(time.StampMilli), delay, opened.Add(delay).Format(time.StampMilli), connected.Format(time.StampMilli))
	}
	conn := f.life.Wait(t, "the connect event", connectedSID(c.SID)).GetConnected().GetSocket()
	if got := conn.GetHandshake().GetConnectedAt().AsTime(); !got.Equal(at) {
		t.Errorf("connect event's connected_at %v, ListSockets' %v", got, at)
	}
}
