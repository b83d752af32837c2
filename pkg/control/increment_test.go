package control_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc/codes"

	sbv1 "github.com/switchboard-rt/switchboard/gen/switchboard/v1"
	"github.com/switchboard-rt/switchboard/pkg/control"
)

// maxSafe is JavaScript's Number.MAX_SAFE_INTEGER, where counters stop.
const maxSafe = 1<<53 - 1

// TestSetSocketDataIncrement: increment adds to the members of a socket's
// data at its edge and answers with the data it left: from no data, into
// an object (beside its other members, after a merge or a replacement),
// over members that are not integers and data that is not an object,
// saturating at ±(2^53−1); ListSockets shows the same data. A target of
// several sockets, of none, or an update past 64 KiB gives no data_json.
func TestSetSocketDataIncrement(t *testing.T) {
	f := startCluster(t, options{edges: 2})
	n := f.clients()
	ctx := context.Background()
	c0 := n.connect(0, dial{edge: 0, auth: map[string]any{"rooms": []string{"r"}}})
	c1 := n.connect(1, dial{edge: 1, auth: map[string]any{"rooms": []string{"r"}, "data": map[string]any{"hook": 2.0, "name": "y"}}})
	f.life.Wait(t, "client 0's connect", connectedSID(c0.sid))
	f.life.Wait(t, "client 1's connect", connectedSID(c1.sid))
	only := func(c *client) *sbv1.Target { return &sbv1.Target{Sids: []string{c.sid}} }

	call := func(req *sbv1.SetSocketDataRequest) *sbv1.SetSocketDataResponse {
		t.Helper()
		resp, err := f.api.SetSocketData(ctx, req)
		if err != nil {
			t.Fatalf("SetSocketData(%v): %v", req, err)
		}
		if len(resp.MissingEdges) != 0 || len(resp.EdgeErrors) != 0 {
			t.Fatalf("SetSocketData(%v): missing %v, errors %v", req, resp.MissingEdges, resp.EdgeErrors)
		}
		return resp
	}
	// incr increments one socket's data and checks the answer: one socket,
	// its data as want, as ListSockets then shows it too.
	incr := func(what string, req *sbv1.SetSocketDataRequest, want string) {
		t.Helper()
		resp := call(req)
		if resp.GetSockets() != 1 {
			t.Errorf("%s: %d sockets, want 1", what, resp.GetSockets())
		}
		jsonEqual(t, what+": data_json", resp.DataJson, want)
		sid := req.Target.Sids[0]
		jsonEqual(t, what+": data listed", listedData(f.listSockets(mainNS))[sid], want)
	}
	count := map[string]int64{"count": 1}

	incr("no data", &sbv1.SetSocketDataRequest{Target: only(c0), Increment: count}, `{"count":1}`)
	incr("again", &sbv1.SetSocketDataRequest{Target: only(c0), Increment: map[string]int64{"count": 2, "down": -3}}, `{"count":3,"down":-3}`)
	// Without data, merge means nothing and the data is kept.
	incr("merge without data", &sbv1.SetSocketDataRequest{Target: only(c0), Increment: count, Merge: true}, `{"count":4,"down":-3}`)
	// The connect hook's numbers are float64s at the edge: 2 is an integer.
	incr("into the connect data", &sbv1.SetSocketDataRequest{Target: only(c1), Increment: map[string]int64{"hook": 5}}, `{"hook":7,"name":"y"}`)

	// Members that are not integers count as 0; integers written as
	// decimals or exponents count; one past 2^53−1 counts as the bound.
	call(&sbv1.SetSocketDataRequest{Target: only(c1), DataJson: `{"s":"7","f":1.5,"z":null,"o":{"a":1},"l":[1],"b":true,"d":2.0,"e":1e3,"neg":-4,"huge":123456789012345678901234567890,"keep":"k"}`})
	incr("over members of every kind", &sbv1.SetSocketDataRequest{Target: only(c1), Increment: map[string]int64{
		"s": 1, "f": 1, "z": 1, "o": 1, "l": 1, "b": 1, "d": 1, "e": 1, "neg": 1, "huge": 1, "new": 1,
	}}, fmt.Sprintf(`{"s":1,"f":1,"z":1,"o":1,"l":1,"b":1,"d":3,"e":1001,"neg":-3,"huge":%d,"new":1,"keep":"k"}`, int64(maxSafe)))

	// Data that is not an object becomes one.
	call(&sbv1.SetSocketDataRequest{Target: only(c1), DataJson: `"plain"`})
	incr("into a string", &sbv1.SetSocketDataRequest{Target: only(c1), Increment: count}, `{"count":1}`)
	call(&sbv1.SetSocketDataRequest{Target: only(c1), DataJson: `[1,2]`})
	incr("into a list", &sbv1.SetSocketDataRequest{Target: only(c1), Increment: count}, `{"count":1}`)

	// With data, the data is set (or merged) first.
	incr("after a merge", &sbv1.SetSocketDataRequest{Target: only(c1), DataJson: `{"count":10,"m":"x"}`, Merge: true, Increment: count}, `{"count":11,"m":"x"}`)
	incr("after a replacement", &sbv1.SetSocketDataRequest{Target: only(c1), DataJson: `{"a":1}`, Increment: count}, `{"a":1,"count":1}`)
	incr("after data as a Value", &sbv1.SetSocketDataRequest{Target: only(c1), Data: value(t, "x"), Increment: count}, `{"count":1}`)
	incr("after null data", &sbv1.SetSocketDataRequest{Target: only(c1), DataJson: `null`, Increment: count}, `{"count":1}`)

	// Saturation at ±(2^53−1), with no int64 overflow on the way.
	incr("to the top", &sbv1.SetSocketDataRequest{Target: only(c1), Increment: map[string]int64{"count": maxSafe}}, fmt.Sprintf(`{"count":%d}`, int64(maxSafe)))
	incr("past the top", &sbv1.SetSocketDataRequest{Target: only(c1), Increment: map[string]int64{"count": math.MaxInt64}}, fmt.Sprintf(`{"count":%d}`, int64(maxSafe)))
	incr("to the bottom", &sbv1.SetSocketDataRequest{Target: only(c1), Increment: map[string]int64{"count": math.MinInt64}}, fmt.Sprintf(`{"count":%d}`, -int64(maxSafe)))
	incr("past the bottom", &sbv1.SetSocketDataRequest{Target: only(c1), Increment: map[string]int64{"count": -1}}, fmt.Sprintf(`{"count":%d}`, -int64(maxSafe)))
	incr("back", &sbv1.SetSocketDataRequest{Target: only(c1), Increment: map[string]int64{"count": maxSafe + 5}}, `{"count":5}`)

	// A replacement without increment answers too; null is "null".
	resp := call(&sbv1.SetSocketDataRequest{Target: only(c1), Data: value(t, map[string]any{"count": 5})})
	jsonEqual(t, "set without increment: data_json", resp.DataJson, `{"count":5}`)
	if resp = call(&sbv1.SetSocketDataRequest{Target: only(c1)}); resp.DataJson != "null" {
		t.Errorf("set to null: data_json %q, want null", resp.DataJson)
	}
	incr("from null", &sbv1.SetSocketDataRequest{Target: only(c1), Increment: count}, `{"count":1}`)

	// Several sockets, on two edges or on one: each counts, no data_json.
	if resp := call(&sbv1.SetSocketDataRequest{Target: &sbv1.Target{Rooms: []string{"r"}}, Increment: count}); resp.GetSockets() != 2 || resp.DataJson != "" {
		t.Errorf("increment a room of two sockets: %d sockets, data_json %q; want 2 and none", resp.GetSockets(), resp.DataJson)
	}
	c2 := n.connect(2, dial{edge: 1, auth: map[string]any{"rooms": []string{"s"}}})
	f.life.Wait(t, "client 2's connect", connectedSID(c2.sid))
	if resp := call(&sbv1.SetSocketDataRequest{Target: &sbv1.Target{Sids: []string{c1.sid, c2.sid}}, Increment: count}); resp.GetSockets() != 2 || resp.DataJson != "" {
		t.Errorf("increment two sockets of one edge: %d sockets, data_json %q; want 2 and none", resp.GetSockets(), resp.DataJson)
	}
	got := listedData(f.listSockets(mainNS))
	for sid, want := range map[string]string{c0.sid: `{"count":5,"down":-3}`, c1.sid: `{"count":3}`, c2.sid: `{"count":1}`} {
		jsonEqual(t, "after the multi-socket increments: data of "+sid, got[sid], want)
	}

	// An increment whose result would pass 64 KiB is not made, as a
	// merge's: the socket keeps its data and is not counted.
	big := strings.Repeat("b", 64<<10-len(`{"big":"","count":3}`))
	incr("up to 64 KiB", &sbv1.SetSocketDataRequest{Target: only(c1), DataJson: `{"big":"` + big + `"}`, Merge: true, Increment: map[string]int64{"count": 0}}, `{"big":"`+big+`","count":3}`)
	if resp := call(&sbv1.SetSocketDataRequest{Target: only(c1), Increment: map[string]int64{"n": 1}}); resp.GetSockets() != 0 || resp.DataJson != "" {
		t.Errorf("increment past 64 KiB: %d sockets, data_json of %d bytes; want 0 and none", resp.GetSockets(), len(resp.DataJson))
	}
	if resp := call(&sbv1.SetSocketDataRequest{Target: only(c1), Increment: map[string]int64{"count": 999}}); resp.GetSockets() != 0 {
		t.Errorf("increment a digit past 64 KiB: %d sockets, want 0", resp.GetSockets())
	}
	jsonEqual(t, "after the refused increments", listedData(f.listSockets(mainNS))[c1.sid], `{"big":"`+big+`","count":3}`)

	// A socket that is gone: nothing set, nothing to answer.
	n.send(map[string]any{"op": "disconnect", "c": c0.c})
	n.disconnected(c0.c)
	f.life.Wait(t, "client 0's disconnect", disconnectedSID(c0.sid))
	if resp := call(&sbv1.SetSocketDataRequest{Target: only(c0), Increment: count}); resp.GetSockets() != 0 || resp.DataJson != "" {
		t.Errorf("increment a socket that is gone: %d sockets, data_json %q; want 0 and none", resp.GetSockets(), resp.DataJson)
	}
}

// TestSetSocketDataIncrementInvalid: increment's bounds are refused with
// InvalidArgument naming the field and the limit, before anything is
// sent; without data, merge does not ask for an object.
func TestSetSocketDataIncrementInvalid(t *testing.T) {
	f := startCluster(t, options{edges: -1})
	ctx := context.Background()
	many := map[string]int64{}
	for i := range 65 {
		many[fmt.Sprint("k", i)] = 1
	}
	all := &sbv1.Target{All: true}
	for _, tc := range []struct {
		name string
		req  *sbv1.SetSocketDataRequest
		msg  string
	}{
		{"65 keys", &sbv1.SetSocketDataRequest{Target: all, Increment: many}, "increment: at most 64 members, got 65"},
		{"empty key", &sbv1.SetSocketDataRequest{Target: all, Increment: map[string]int64{"": 1}}, "increment key is empty"},
		{"long key", &sbv1.SetSocketDataRequest{Target: all, Increment: map[string]int64{strings.Repeat("k", 257): 1}}, "increment key: 257 bytes, at most 256"},
		{"merge a number", &sbv1.SetSocketDataRequest{Target: all, Data: value(t, 1), Merge: true, Increment: map[string]int64{"n": 1}}, "data: must be an object when merge is set"},
		{"bad target", &sbv1.SetSocketDataRequest{Target: &sbv1.Target{}, Increment: map[string]int64{"n": 1}}, "set target.all"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.api.SetSocketData(ctx, tc.req)
			wantCode(t, tc.name, err, codes.InvalidArgument, tc.msg)
		})
	}
	delete(many, "k0")
	delete(many, "k1")
	many[strings.Repeat("k", 256)] = 1
	for what, req := range map[string]*sbv1.SetSocketDataRequest{
		"64 keys, one of 256 bytes": {Target: all, Increment: many},
		"merge without data":        {Target: all, Merge: true, Increment: map[string]int64{"n": 1}},
	} {
		if resp, err := f.api.SetSocketData(ctx, req); err != nil || resp.GetSockets() != 0 || resp.DataJson != "" {
			t.Errorf("%s: %v, %v; want 0 sockets", what, resp, err)
		}
	}
}

// counted is the count member of a data_json answer.
func counted(t *testing.T, what, dataJSON string) int64 {
	t.Helper()
	var d struct{ Count *int64 }
	if err := json.Unmarshal([]byte(dataJSON), &d); err != nil || d.Count == nil {
		t.Fatalf("%s: data_json %q has no count (%v)", what, dataJSON, err)
	}
	return *d.Count
}

// TestPipelineIncrement is the echo example's count, kept in the socket's
// data: 200 increments of one socket sent at once on a Pipeline stream,
// without waiting for answers, count 1 to 200 in stream order, each
// answer with its own count, and the socket's data ends at 200.
func TestPipelineIncrement(t *testing.T) {
	f := startCluster(t, options{edges: 2})
	n := f.clients()
	c := n.connect(0, dial{edge: 1, transports: []string{"websocket"}, auth: map[string]any{"data": map[string]any{"name": "x"}}})
	f.life.Wait(t, "the client's connect", connectedSID(c.sid))
	p := openPipeline(t, f.api)

	const N = 200
	for i := range N {
		p.send(uint64(i), &sbv1.SetSocketDataRequest{Target: &sbv1.Target{Sids: []string{c.sid}}, Increment: map[string]int64{"count": 1}})
	}
	answers := p.wait(N)
	for i := range N {
		r := answers[uint64(i)].GetSetSocketData()
		if r == nil || r.GetSockets() != 1 {
			t.Fatalf("answer to increment %d: %v", i, answers[uint64(i)])
		}
		if got := counted(t, fmt.Sprint("answer ", i), r.DataJson); got != int64(i+1) {
			t.Fatalf("answer to increment %d: count %d, want %d (%s)", i, got, i+1, r.DataJson)
		}
	}
	jsonEqual(t, "the data listed", listedData(f.listSockets(mainNS))[c.sid], `{"count":200,"name":"x"}`)
}

// TestSetSocketDataIncrementConcurrent: increments of one socket from
// several callers at once, through two controls, all count: the answers
// hold each count from 1 to the total once.
func TestSetSocketDataIncrementConcurrent(t *testing.T) {
	f := startCluster(t, options{edges: 1})
	n := f.clients()
	ctx := context.Background()
	c := n.connect(0, dial{edge: 0})
	f.life.Wait(t, "the client's connect", connectedSID(c.sid))
	b := startControl(t, control.Config{NATSURL: f.ctl.NATSURL(), Logger: f.log})
	eventually(t, "the second control to know the edge", func() bool {
		ci, err := b.api.ClusterInfo(ctx, &sbv1.ClusterInfoRequest{})
		return err == nil && len(ci.Edges) == 1
	})

	const callers, each = 8, 25
	apis := []sbv1.ControlClient{f.api, b.api}
	counts := make(chan int64, callers*each)
	var wg sync.WaitGroup
	for g := range callers {
		wg.Go(func() {
			for range each {
				resp, err := apis[g%2].SetSocketData(ctx, &sbv1.SetSocketDataRequest{Target: &sbv1.Target{Sids: []string{c.sid}}, Increment: map[string]int64{"count": 1}})
				if err != nil || resp.GetSockets() != 1 {
					t.Errorf("caller %d: %v, %v", g, resp, err)
					return
				}
				var d struct{ Count int64 }
				_ = json.Unmarshal([]byte(resp.DataJson), &d)
				counts <- d.Count
			}
		})
	}
	wg.Wait()
	close(counts)
	seen := map[int64]bool{}
	for k := range counts {
		if seen[k] || k < 1 || k > callers*each {
			t.Errorf("count %d answered twice or out of 1..%d", k, callers*each)
		}
		seen[k] = true
	}
	if len(seen) != callers*each {
		t.Errorf("%d distinct counts, want %d", len(seen), callers*each)
	}
	jsonEqual(t, "the data listed", listedData(f.listSockets(mainNS))[c.sid], fmt.Sprintf(`{"count":%d}`, callers*each))
}
