package control_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"

	sbv1 "github.com/switchboard-rt/switchboard/gen/switchboard/v1"
)

// TestNonUTF8HandshakeListed: a client whose handshake holds bytes that are
// not UTF-8 (a query ?x=%ff, a header with \xff, a namespace-less CONNECT
// whose auth payload has \xff in a string) is listed by ListSockets with
// those strings made valid (U+FFFD), next to a normal client of the same
// edge; control sees it connect; its events arrive. Protobuf refuses to
// marshal a string that is not UTF-8: the edge's whole reply was dropped,
// and ListSockets reported the edge missing and none of its sockets.
func TestNonUTF8HandshakeListed(t *testing.T) {
	f := startCluster(t, options{edges: 1})
	normal := f.clients().connect(0, dial{edge: 0, transports: []string{"websocket"}})
	events := f.subscribe(&sbv1.SubscribeRequest{Kinds: []sbv1.EventKind{sbv1.EventKind_EVENT_KIND_CLIENT_EVENT}})

	u := "ws" + strings.TrimPrefix(f.edges[0].url, "http") + "/socket.io/?EIO=4&transport=websocket&x=%ff&%fe=y"
	hdr := http.Header{"X-Bad": {"a\xffb"}}
	c, resp, err := websocket.DefaultDialer.Dial(u, hdr)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	resp.Body.Close()
	t.Cleanup(func() { c.Close() })
	read := func() string {
		t.Helper()
		for {
			_ = c.SetReadDeadline(time.Now().Add(waitTimeout))
			_, b, err := c.ReadMessage()
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if string(b) == "2" { // ping
				_ = c.WriteMessage(websocket.TextMessage, []byte("3"))
				continue
			}
			return string(b)
		}
	}
	if m := read(); !strings.HasPrefix(m, "0{") {
		t.Fatalf("open packet %q", m)
	}
	if err := c.WriteMessage(websocket.TextMessage, []byte("40{\"k\":\"v\xff\"}")); err != nil {
		t.Fatal(err)
	}
	m := read()
	if !strings.HasPrefix(m, "40{") {
		t.Fatalf("CONNECT answered %q", m)
	}
	var ok struct{ SID string }
	if err := json.Unmarshal([]byte(m[2:]), &ok); err != nil || ok.SID == "" {
		t.Fatalf("CONNECT answered %q", m)
	}
	bad := ok.SID

	resp2, err := f.api.ListSockets(context.Background(), &sbv1.ListSocketsRequest{Namespace: "/"})
	if err != nil {
		t.Fatalf("ListSockets: %v", err)
	}
	if len(resp2.MissingEdges) != 0 {
		t.Errorf("ListSockets reports edges %v missing", resp2.MissingEdges)
	}
	got := map[string]*sbv1.Socket{}
	for _, s := range resp2.Sockets {
		got[s.Sid] = s
	}
	if got[normal.sid] == nil || got[bad] == nil || len(got) != 2 {
		t.Fatalf("ListSockets listed %v, want %s and %s", listedSIDs(resp2), normal.sid, bad)
	}
	hs := got[bad].Handshake
	if q := hs.GetQuery(); q["x"] != "\uFFFD" || q["\uFFFD"] != "y" {
		t.Errorf("query %q, want x=U+FFFD and U+FFFD=y", q)
	}
	if h := hs.GetHeaders()["x-bad"]; h != "a\uFFFDb" {
		t.Errorf("header x-bad %q, want a U+FFFD b", h)
	}
	if a := jsonField(t, hs.GetAuthJson(), "k"); a != "v\uFFFD" || !utf8.ValidString(hs.GetAuthJson()) {
		t.Errorf("auth k %q, want v U+FFFD", a)
	}
	for k, v := range hs.GetHeaders() {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			t.Errorf("header %q: %q is not UTF-8", k, v)
		}
	}

	// Control heard it connect, and hears its events.
	f.life.Wait(t, "control to see the socket connect", connectedSID(bad))
	if err := c.WriteMessage(websocket.TextMessage, []byte("42[\"ev\xff\",\"\xff\"]")); err != nil {
		t.Fatal(err)
	}
	ev := events.Wait(t, "the socket's event", func(r *sbv1.SubscribeResponse) bool { return r.GetClientEvent().GetSid() == bad })
	if name := ev.GetClientEvent().GetEvent(); name != "ev\uFFFD" {
		t.Errorf("event name %q, want ev U+FFFD", name)
	}
	_ = c.WriteMessage(websocket.TextMessage, []byte("41"))
	f.life.Wait(t, "control to see the socket disconnect", disconnectedSID(bad))
}
