package control_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/structpb"

	sbv1 "github.com/switchboard-rt/switchboard/gen/switchboard/v1"
	"github.com/switchboard-rt/switchboard/pkg/control"
)

// dataJSON is a data_json field as JSON text: "null" when empty (none).
func dataJSON(text string) string {
	if text == "" {
		return "null"
	}
	return text
}

// listedData returns each listed socket's data as JSON, by sid.
func listedData(resp *sbv1.ListSocketsResponse) map[string]string {
	out := map[string]string{}
	for _, s := range resp.Sockets {
		out[s.Sid] = dataJSON(s.DataJson)
	}
	return out
}

func value(t *testing.T, v any) *structpb.Value {
	t.Helper()
	return values(t, v)[0]
}

// TestSetSocketData: data one service sets through one control is what
// another service sees through another control, in ListSockets, in client
// events and in lifecycle events, for sockets on two edges; merge is a
// shallow merge of objects.
func TestSetSocketData(t *testing.T) {
	f := startCluster(t, options{edges: 2})
	n := f.clients()
	ctx := context.Background()
	chat := f.subscribe(&sbv1.SubscribeRequest{Events: []string{"chat"}, Kinds: []sbv1.EventKind{sbv1.EventKind_EVENT_KIND_CLIENT_EVENT}})

	c0 := n.connect(0, dial{edge: 0, auth: map[string]any{"rooms": []string{"r"}, "data": "at connect"}})
	c1 := n.connect(1, dial{edge: 1, auth: map[string]any{"rooms": []string{"r"}}})
	conn := f.life.Wait(t, "client 0's connect", connectedSID(c0.sid)).GetConnected().GetSocket()
	jsonEqual(t, "data at connect", dataJSON(conn.DataJson), `"at connect"`)

	// The other service talks to a control of its own.
	b := startControl(t, control.Config{NATSURL: f.ctl.NATSURL(), Logger: f.log})
	eventually(t, "the second control to list both edges", func() bool {
		ci, err := b.api.ClusterInfo(ctx, &sbv1.ClusterInfoRequest{})
		return err == nil && len(ci.Edges) == 2
	})
	set := func(tg *sbv1.Target, data any, merge bool) uint32 {
		t.Helper()
		req := &sbv1.SetSocketDataRequest{Target: tg, Merge: merge}
		if data != nil {
			req.Data = value(t, data)
		}
		resp, err := b.api.SetSocketData(ctx, req)
		if err != nil {
			t.Fatalf("SetSocketData(%v): %v", req, err)
		}
		if len(resp.MissingEdges) != 0 || len(resp.EdgeErrors) != 0 {
			t.Errorf("SetSocketData(%v): missing %v, errors %v", req, resp.MissingEdges, resp.EdgeErrors)
		}
		if resp.Sockets == nil {
			t.Errorf("SetSocketData(%v): sockets unset", req)
		}
		return resp.GetSockets()
	}
	wantData := func(what string, want map[string]string) {
		t.Helper()
		got := listedData(f.listSockets(mainNS))
		for sid, w := range want {
			jsonEqual(t, what+": data of "+sid, got[sid], w)
		}
	}
	room := &sbv1.Target{Rooms: []string{"r"}}
	only := func(c *client) *sbv1.Target { return &sbv1.Target{Sids: []string{c.sid}} }

	if got := set(room, map[string]any{"receive_count": 0, "name": "x"}, false); got != 2 {
		t.Errorf("set the room's data: %d sockets, want 2", got)
	}
	wantData("set", map[string]string{c0.sid: `{"receive_count":0,"name":"x"}`, c1.sid: `{"receive_count":0,"name":"x"}`})

	// The reference app's session['receive_count'] += 1, kept in the
	// socket: each event carries the count, the service merges the next.
	for i := 1; i <= 3; i++ {
		n.emit(c0.c, "chat", -1, i)
		ev := chat.Wait(t, fmt.Sprintf("chat %d", i), func(r *sbv1.SubscribeResponse) bool {
			return r.GetClientEvent().GetArgsJson() == fmt.Sprintf("[%d]", i)
		}).GetClientEvent()
		var d map[string]any
		_ = json.Unmarshal([]byte(ev.DataJson), &d)
		if ev.Sid != c0.sid || d["receive_count"] != float64(i-1) || d["name"] != "x" {
			t.Fatalf("chat %d from %s: data %s, want receive_count %d and name x", i, ev.Sid, ev.DataJson, i-1)
		}
		if got := set(only(c0), map[string]any{"receive_count": i}, true); got != 1 {
			t.Errorf("merge the count: %d sockets, want 1", got)
		}
	}
	wantData("merged", map[string]string{c0.sid: `{"receive_count":3,"name":"x"}`, c1.sid: `{"receive_count":0,"name":"x"}`})

	// Data that is not an object is replaced by a merge; unset is null.
	set(only(c1), "plain", false)
	wantData("a string", map[string]string{c1.sid: `"plain"`})
	set(only(c1), map[string]any{"a": 1}, true)
	wantData("merged into a string", map[string]string{c1.sid: `{"a":1}`})
	set(only(c1), nil, false)
	wantData("unset", map[string]string{c1.sid: `null`})

	// A merge whose result would pass 64 KiB as JSON is not made.
	big := strings.Repeat("b", 40<<10)
	if got := set(only(c1), map[string]any{"big1": big}, true); got != 1 {
		t.Errorf("merge 40 KiB: %d sockets, want 1", got)
	}
	if got := set(only(c1), map[string]any{"big2": big}, true); got != 0 {
		t.Errorf("merge 40 KiB more: %d sockets, want 0", got)
	}
	if got := set(only(c1), map[string]any{"big1": "small"}, true); got != 1 {
		t.Errorf("merge over the big key: %d sockets, want 1", got)
	}
	wantData("after the refused merge", map[string]string{c1.sid: `{"big1":"small"}`})

	// The disconnect tells the data the socket had.
	n.send(map[string]any{"op": "disconnect", "c": c0.c})
	n.disconnected(c0.c)
	gone := f.life.Wait(t, "client 0's disconnect", disconnectedSID(c0.sid)).GetDisconnected()
	jsonEqual(t, "data at disconnect", dataJSON(gone.DataJson), `{"receive_count":3,"name":"x"}`)
	if got := set(only(c0), 1, false); got != 0 {
		t.Errorf("set the data of a socket that is gone: %d sockets, want 0", got)
	}
}

// TestSetSocketDataInvalid: bad data is refused with InvalidArgument
// naming the field and the limit, before anything is sent.
func TestSetSocketDataInvalid(t *testing.T) {
	f := startCluster(t, options{edges: -1})
	ctx := context.Background()
	obj, err := structpb.NewValue(map[string]any{"k": "v"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		req  *sbv1.SetSocketDataRequest
		msg  string
	}{
		{"too large", &sbv1.SetSocketDataRequest{Data: value(t, strings.Repeat("x", 64<<10))}, "data: at most 65536 bytes as JSON"},
		{"too large object", &sbv1.SetSocketDataRequest{Data: value(t, map[string]any{"k": strings.Repeat("x", 64<<10)}), Merge: true}, "data: at most 65536 bytes as JSON"},
		{"merge a number", &sbv1.SetSocketDataRequest{Data: value(t, 1), Merge: true}, "data: must be an object when merge is set"},
		{"merge a list", &sbv1.SetSocketDataRequest{Data: value(t, []any{"a"}), Merge: true}, "data: must be an object when merge is set"},
		{"merge null", &sbv1.SetSocketDataRequest{Merge: true}, "data: must be an object when merge is set"},
		{"bad target", &sbv1.SetSocketDataRequest{Target: &sbv1.Target{Namespace: "chat"}, Data: obj}, `target.namespace "chat" must start with "/"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.api.SetSocketData(ctx, tc.req)
			wantCode(t, tc.name, err, codes.InvalidArgument, tc.msg)
		})
	}
	// Just within the limit: accepted (no edge, so no socket).
	fits := value(t, strings.Repeat("x", 64<<10-2)) // and its two quotes
	resp, err := f.api.SetSocketData(ctx, &sbv1.SetSocketDataRequest{Target: &sbv1.Target{All: true}, Data: fits})
	if err != nil || resp.Sockets == nil || *resp.Sockets != 0 {
		t.Errorf("64 KiB of JSON: %v, %v; want 0 sockets", resp, err)
	}
}
