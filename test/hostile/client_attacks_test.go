package hostile

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	sbv1 "github.com/switchboard-rt/switchboard/gen/switchboard/v1"
)

// TestClientAttacks: what one Socket.IO client can send an edge with its
// default limits, one attack after another against one stack. But for
// --max-pending-acks: 50, not the default 256, so that the events that may
// wait (50 of 600 KB, 30 MB) fit a Subscribe stream's 32 MiB queue however
// slowly the test reads them, and the suite's 400 are eight times the cap;
// and no --max-event-name nor --event-rate, so that names of 3,200
// characters and 400 events in a row reach the bus (those limits are
// tested in pkg/edge, TestEventLimits).
func TestClientAttacks(t *testing.T) {
	s := startStack(t, "--max-pending-acks", "50", "--max-event-name", "-1", "--event-rate", "-1")

	// An event name of 3,200 characters becomes a NATS subject token
	// (docs/bus.md): it once made a PUB line past NATS's 4 KB limit, and
	// NATS closed the edge's connection. The service gets the event with
	// its whole name; the edge stays on the bus.
	t.Run("event name of 3,200 characters", func(t *testing.T) {
		events := s.subscribe(t)
		a := s.begin(t)
		c := dialWS(t, s.edgeAddr, "", nil)
		sid := c.connect(t, "/")
		name := strings.Repeat("e", 3200)
		for range 20 {
			c.send(t, `42["`+name+`",1]`)
		}
		c.send(t, `42["after",2]`)
		events.WaitN(t, "the service to get the 20 events", 20, func(e clientEvent) bool { return e.sid == sid && e.event == name })
		events.Wait(t, "the service to get the event sent after them", func(e clientEvent) bool { return e.sid == sid && e.event == "after" })
		if got := len(events.Matching(func(e clientEvent) bool { return e.sid == sid && e.event == name })); got != 20 {
			t.Errorf("the service got %d events named with 3,200 characters, want the 20 sent", got)
		}
		if c.isClosed() {
			t.Error("the edge closed the client's connection")
		}
		c.close()
		a.check(t)
	})

	// CONNECT to a namespace of 3,500 characters: CONNECT_ERROR "Invalid
	// namespace" (names over 256 bytes, docs/security.md), even though this
	// edge admits any namespace; the connection goes on.
	t.Run("namespace of 3,500 characters", func(t *testing.T) {
		a := s.begin(t)
		c := dialWS(t, s.edgeAddr, "", nil)
		ns := "/" + strings.Repeat("n", 3499)
		for range 20 {
			c.send(t, "40"+ns+",")
		}
		want := "44" + ns + `,{"message":"Invalid namespace"}`
		got := c.msgs.WaitN(t, "20 answers", 20, func(m string) bool { return strings.HasPrefix(m, "4") })
		for _, m := range got {
			if m != want {
				t.Fatalf("CONNECT to a 3,500-character namespace answered %q, want %q", clip(m), clip(want))
			}
		}
		c.connect(t, "/") // the connection still works
		c.close()
		a.check(t)
	})

	// A BINARY_EVENT announcing 1,000 attachments, then attachments of
	// 990,000 bytes, the last never sent: the packet and its attachments
	// together are bounded by the max payload (1 MB), so the edge closes
	// the connection at the second; an edge without the bound held up to
	// 999 of them (990 MB).
	t.Run("binary event of 1,000 attachments of 990 KB", func(t *testing.T) {
		a := s.begin(t)
		c := dialWS(t, s.edgeAddr, "", nil)
		c.connect(t, "/")
		c.send(t, `451000-["up",{"_placeholder":true,"num":0}]`)
		part := make([]byte, 990_000)
		sent := 0
		for sent < 999 && !c.isClosed() {
			if err := c.writeFrame(websocket.BinaryMessage, part); err != nil {
				break // the edge closed the connection under the write
			}
			sent++
		}
		select {
		case <-c.closed:
		case <-time.After(waitTimeout):
			t.Errorf("the connection is still open after %d attachments of 990 KB", sent)
		}
		t.Logf("%d attachments written before the edge's close was seen", sent)
		// The close comes after the second attachment; what the client
		// managed to write before it saw it is in the kernel's socket
		// buffers (a few MB on loopback), not in the edge.
		if sent > 30 {
			t.Errorf("%d attachments of 990 KB (%d MB) written before the edge closed the connection, want the close after the second", sent, sent*990_000>>20)
		}
		c.close()
		a.check(t)
	})

	// The same over long-polling: each POST carries one attachment of
	// 740 KB (base64, a POST body just under the 1 MB max payload) for a
	// packet that never completes. The second attachment passes the
	// bound: the session is closed and the next POST refused.
	t.Run("polling attachments of 740 KB", func(t *testing.T) {
		a := s.begin(t)
		p := openPolling(t, s.edgeAddr)
		if code, body := p.post(t, "40"); code != http.StatusOK {
			t.Fatalf("POST CONNECT: %d %q", code, body)
		}
		if code, body := p.get(t); code != http.StatusOK || !strings.HasPrefix(body, `40{"sid":"`) {
			t.Fatalf("GET after CONNECT: %d %q", code, body)
		}
		// The attacker never polls (GET): it only sends. 50 POSTs are
		// 37 MB; an edge that took them all would take the 999 the
		// header asks for.
		const posts = 50
		part := "b" + base64.StdEncoding.EncodeToString(make([]byte, 740_000))
		body := `451000-["up",{"_placeholder":true,"num":0}]` + "\x1e" + part
		accepted := 0
		for accepted < posts {
			code, resp := p.post(t, body)
			if code != http.StatusOK {
				t.Logf("POST %d: %d %q", accepted+1, code, clip(resp))
				break
			}
			accepted++
			body = part
		}
		// The second attachment closes the session; a POST to a closed
		// session is refused.
		if accepted > 2 {
			t.Errorf("%d POSTs of a 740 KB attachment answered 200 ok, want the third refused: the second passes the 1 MB bound on the whole packet and closes the session", accepted)
		}
		if code, body := p.get(t); code == http.StatusOK && body != "1" {
			t.Errorf("GET after the attachments: %d %q, want the session closed (the close packet 1, or 400)", code, clip(body))
		}
		p.close()
		a.check(t)
	})

	// Events of 600 KB, each asking for an ack, that a service receives
	// and never answers: at most 50 (--max-pending-acks) wait and reach
	// the service, the rest are refused; what the edge keeps for a waiting
	// ack is a hundred bytes, never the event. Without the cap all waited:
	// 1,500 of them held 910 MB. The suite sends 400 (240 MB, eight times
	// the cap): the edge validates each event's JSON before it refuses it,
	// about 80 MB/s on one core, so 1,500 would take 11 s.
	t.Run("400 events of 600 KB waiting for acks", func(t *testing.T) {
		const events, size, maxPending = 400, 600_000, 50
		service := s.subscribe(t, "big", "after")
		a := s.begin(t)
		c := dialWS(t, s.edgeAddr, "", nil)
		sid := c.connect(t, "/")
		arg := `["big","` + strings.Repeat("x", size) + `"]`
		for i := range events {
			if err := c.writeFrame(websocket.TextMessage, []byte(fmt.Sprint("42", i, arg))); err != nil {
				t.Fatalf("event %d: %v", i, err)
			}
		}
		c.send(t, `42["after",1]`)
		service.Wait(t, "the event sent after them", func(e clientEvent) bool { return e.sid == sid && e.event == "after" })
		big := func(e clientEvent) bool { return e.sid == sid && e.event == "big" }
		service.WaitN(t, "the events that may wait", maxPending, big)
		time.Sleep(500 * time.Millisecond) // any more that were let through arrive
		got := service.Matching(big)
		if len(got) != maxPending {
			t.Errorf("the service got %d of the %d events asking for an ack, want %d (--max-pending-acks)", len(got), events, maxPending)
		}
		for _, e := range got {
			if e.ackToken == "" || e.argsBytes < size {
				t.Errorf("an event arrived with ack token %q and %d bytes of arguments", e.ackToken, e.argsBytes)
				break
			}
		}
		if acks := c.msgs.Matching(func(m string) bool { return strings.HasPrefix(m, "43") }); len(acks) > 0 {
			t.Errorf("the client got %d acks that no service sent, e.g. %q", len(acks), acks[0])
		}
		if c.isClosed() {
			t.Error("the edge closed the client's connection")
		}
		// Checked with the acks still waiting: they cost the edge nothing
		// of the events.
		a.check(t)
		c.close()
	})

	// One connection CONNECTs to 10,000 distinct namespaces (this edge
	// admits any): 64 are joined (--max-namespaces), every other gets
	// CONNECT_ERROR "Too many namespaces on this connection (at most 64)"
	// and is not created; once the connection closes, the namespaces made
	// for it are gone (heap and goroutines back near the baseline).
	t.Run("10,000 namespaces on one connection", func(t *testing.T) {
		const namespaces, maxNamespaces = 10_000, 64
		a := s.begin(t)
		c := dialWS(t, s.edgeAddr, "", nil)
		for i := range namespaces {
			c.send(t, fmt.Sprintf("40/ns-%05d,", i))
		}
		answers := c.msgs.WaitN(t, "an answer to every CONNECT", namespaces, func(m string) bool { return strings.HasPrefix(m, "4") })
		joined, refused := 0, 0
		for i, m := range answers {
			ns := fmt.Sprintf("/ns-%05d,", i)
			switch {
			case strings.HasPrefix(m, "40"+ns+`{"sid":"`):
				joined++
			case m == "44"+ns+fmt.Sprintf(`{"message":"Too many namespaces on this connection (at most %d)"}`, maxNamespaces):
				refused++
			default:
				t.Fatalf("answer %d: %q", i, clip(m))
			}
		}
		if joined != maxNamespaces || refused != namespaces-maxNamespaces {
			t.Errorf("%d namespaces joined and %d refused, want %d and %d", joined, refused, maxNamespaces, namespaces-maxNamespaces)
		}
		c.close()
		a.check(t)
	})

	// A handshake with a query ?x=%ff and a header holding the byte 0xff:
	// protobuf strings must be UTF-8, and such a socket once made its
	// edge's whole ListSockets answer fail (every socket missing, the edge
	// reported missing). Now every socket is listed, the bytes replaced by
	// U+FFFD.
	t.Run("handshake bytes that are not UTF-8", func(t *testing.T) {
		a := s.begin(t)
		c := dialWS(t, s.edgeAddr, "&x=%ff", http.Header{"X-Junk": {"a\xffb"}})
		sid := c.connect(t, "/")
		honest := dialWS(t, s.edgeAddr, "", nil)
		honestSID := honest.connect(t, "/")
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		res, err := s.api.ListSockets(ctx, &sbv1.ListSocketsRequest{})
		if err != nil {
			t.Fatalf("ListSockets: %v", err)
		}
		if len(res.MissingEdges) > 0 {
			t.Errorf("ListSockets: missing edges %v", res.MissingEdges)
		}
		var sids []string
		for _, so := range res.Sockets {
			sids = append(sids, so.Sid)
			if so.Sid == sid {
				if q := so.Handshake.GetQuery()["x"]; q != "\uFFFD" {
					t.Errorf("query x listed as %q, want %q", q, "\uFFFD")
				}
				if h := so.Handshake.GetHeaders()["x-junk"]; h != "a\uFFFDb" {
					t.Errorf("header x-junk listed as %q, want %q", h, "a\uFFFDb")
				}
			}
		}
		for _, want := range []string{s.canary.sid, sid, honestSID} {
			if !slices.Contains(sids, want) {
				t.Errorf("ListSockets lists %v: %s missing", sids, want)
			}
		}
		if len(sids) != 3 {
			t.Errorf("ListSockets lists %d sockets %v, want 3 (the canary, the client and another)", len(sids), sids)
		}
		c.close()
		honest.close()
		a.check(t)
	})
}
