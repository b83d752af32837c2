// Package python_test runs the Python example service (service.py, the
// stubs of gen/python on Debian's python3-grpcio) against the real control
// and edge binaries, with the official socket.io-client in node as the
// client, and checks what the client receives. node_modules and the Debian
// packages come from `make test-deps`.
package python_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/internal/examplestack"
	"github.com/switchboard-rt/switchboard/internal/repotest"
)

// The binaries are built (or found in $SWITCHBOARD_TEST_BIN) before any
// test's clock starts; repotest.Main checks for leaked goroutines after.
func TestMain(m *testing.M) { repotest.Main(m, "edge", "control") }

const (
	// startTimeout bounds each wait for a line or an exit.
	startTimeout = examplestack.StartTimeout
	// asks is how many "ask" events the client sends.
	asks = 5
)

// stack starts control (with its embedded NATS) and one edge; control's
// gRPC address and the edge's URL.
func stack(t *testing.T) (grpcAddr, edgeURL string) {
	t.Helper()
	s := examplestack.StartStack(t, examplestack.Options{})
	return s.GRPCAddr, s.EdgeURL
}

// line is a JSON line printed by service.py or testdata/client.mjs.
type line map[string]any

func (l line) str(k string) string { s, _ := l[k].(string); return s }

// parseLine decodes a stdout line; one that is not JSON is a "bad line".
func parseLine(b []byte) line {
	var l line
	if err := json.Unmarshal(b, &l); err != nil {
		l = line{"ev": "bad line", "text": string(b)}
	}
	return l
}

// child is a process of the test (python3 or node), its stdout's lines in
// Lines.
type child = examplestack.Proc[line]

// start runs name with args in the repository's root, env added, and stops
// it (SIGTERM, then SIGKILL) when the test ends.
func start(t *testing.T, env []string, name string, args ...string) *child {
	t.Helper()
	return examplestack.StartProcess(t, examplestack.Command{Name: name, Path: name, Args: args, Env: env}, parseLine)
}

// service starts examples/python/service.py against control at addr.
func service(t *testing.T, addr string) *child {
	t.Helper()
	root := repotest.Root(t)
	return start(t, []string{
		"PYTHONPATH=" + filepath.Join(root, "gen", "python"),
		"PYTHONDONTWRITEBYTECODE=1", // no __pycache__ in gen/python
		"SWITCHBOARD_PAGE_SIZE=1",   // two members take two ListSockets pages
	}, "/usr/bin/python3", filepath.Join("examples", "python", "service.py"), addr)
}

func is(who, ev string) func(line) bool {
	return func(l line) bool { return l.str("who") == who && l.str("ev") == ev }
}

func isEvent(who, event string) func(line) bool {
	return func(l line) bool { return is(who, "event")(l) && l.str("event") == event }
}

// jsonOf normalises v (decoded JSON or Go values) for comparison.
func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var x any
	if err := json.Unmarshal(b, &x); err != nil {
		t.Fatal(err)
	}
	b, _ = json.Marshal(x)
	return string(b)
}

// TestPythonService: the service joins the clients to "lobby" and tells
// the room (JoinRoom, Emit), answers each join's ack with the members
// (ListSockets over pages, Ack), and answers every "ask" through one
// Pipeline stream: an emit to the room, an emit_with_ack to the asker and
// an ack, reaching the client in the order sent, with each command's answer
// back to the service under its id. An "ask" it cannot read gets no answer:
// the client's own ack timeout fires and the service goes on.
func TestPythonService(t *testing.T) {
	addr, url := stack(t)
	svc := service(t, addr)
	svc.Lines.Wait(t, "service.py ready", func(l line) bool { return l.str("ev") == "ready" })

	js := start(t, nil, "node", filepath.Join("examples", "python", "testdata", "client.mjs"), url, fmt.Sprint(asks))
	a := js.Lines.Wait(t, "socket a to connect", is("a", "connect")).str("sid")
	b := js.Lines.Wait(t, "socket b to connect", is("b", "connect")).str("sid")

	// Join acks: ListSockets pages of one socket each, in sid order.
	both := []string{a, b}
	if b < a {
		both = []string{b, a}
	}
	for who, members := range map[string][]string{"a": {a}, "b": both} {
		l := js.Lines.Wait(t, who+"'s join ack", func(l line) bool { return is(who, "ack")(l) && l.str("event") == "join" })
		if got, want := jsonOf(t, l["args"]), jsonOf(t, []any{map[string]any{"room": "lobby", "members": members}}); got != want {
			t.Errorf("%s's join ack: %s, want %s", who, got, want)
		}
	}

	// Every ask answered: the client's ack callbacks, the replies, the
	// service's Pipeline answers (3 per ask).
	js.Lines.WaitN(t, "a's ask acks", asks, func(l line) bool { return is("a", "ack")(l) && l.str("event") == "ask" })
	js.Lines.WaitN(t, "b's asked events", asks, isEvent("b", "asked"))
	answers := svc.Lines.WaitN(t, "the service's Pipeline answers", 3*asks, func(l line) bool { return l.str("ev") == "answer" })

	// The room emits: a saw both joins, b only its own.
	announce := func(sid string) string {
		return jsonOf(t, []any{map[string]any{"joined": sid, "room": "lobby"}})
	}
	var gotA, gotB []string
	for _, l := range js.Lines.Matching(isEvent("a", "announce")) {
		gotA = append(gotA, jsonOf(t, l["args"]))
	}
	for _, l := range js.Lines.Matching(isEvent("b", "announce")) {
		gotB = append(gotB, jsonOf(t, l["args"]))
	}
	if want := []string{announce(a), announce(b)}; !reflect.DeepEqual(gotA, want) {
		t.Errorf("a's announce events %v, want %v", gotA, want)
	}
	if want := []string{announce(b)}; !reflect.DeepEqual(gotB, want) {
		t.Errorf("b's announce events %v, want %v", gotB, want)
	}

	// What a saw of the Pipeline, in order: per ask, the room's "asked",
	// its "reply" (whose ack the client answered) and its ack callback.
	var seqA, wantA []string
	for _, l := range js.Lines.Matching(func(l line) bool {
		return is("a", "event")(l) && (l.str("event") == "asked" || l.str("event") == "reply") ||
			is("a", "ack")(l) && l.str("event") == "ask"
	}) {
		switch {
		case l.str("ev") == "ack" && l.str("err") != "":
			seqA = append(seqA, fmt.Sprintf("ack %v: error %s", l["n"], l.str("err")))
		case l.str("ev") == "ack":
			seqA = append(seqA, fmt.Sprintf("ack %v: %s", l["n"], jsonOf(t, l["args"])))
		default:
			seqA = append(seqA, l.str("event")+" "+jsonOf(t, l["args"]))
		}
	}
	for n := range asks {
		wantA = append(wantA,
			"asked "+jsonOf(t, []any{map[string]any{"sid": a, "n": n}}),
			"reply "+jsonOf(t, []any{map[string]any{"n": n, "square": n * n}}),
			fmt.Sprintf("ack %d: %s", n, jsonOf(t, []any{map[string]any{"n": n, "ok": true}})))
	}
	if !reflect.DeepEqual(seqA, wantA) {
		t.Errorf("a received, through the Pipeline:\n\t%s\nwant:\n\t%s", strings.Join(seqA, "\n\t"), strings.Join(wantA, "\n\t"))
	}

	// The service's answers, each under the id of its command: the room
	// emit's report (2 sockets), the client's ack reply, the ack's answer.
	ids := map[float64]bool{}
	got := map[string]string{}
	for _, l := range answers {
		id, _ := l["id"].(float64)
		if ids[id] {
			t.Errorf("answer id %v twice", id)
		}
		ids[id] = true
		delete(l, "id")
		got[l.str("what")] = jsonOf(t, l)
	}
	for n := range asks {
		want := map[string]any{
			fmt.Sprintf("asked %d", n): map[string]any{"ev": "answer", "what": fmt.Sprintf("asked %d", n), "sockets": 2},
			fmt.Sprintf("reply %d", n): map[string]any{"ev": "answer", "what": fmt.Sprintf("reply %d", n),
				"acks": map[string]any{a: []any{"thanks", n}}, "timed_out": []any{}},
			fmt.Sprintf("ack %d", n): map[string]any{"ev": "answer", "what": fmt.Sprintf("ack %d", n), "kind": "ack"},
		}
		for what, w := range want {
			if g := got[what]; g != jsonOf(t, w) {
				t.Errorf("Pipeline answer for %q: %s, want %s", what, g, jsonOf(t, w))
			}
		}
	}

	// The client closes cleanly; the service stops on SIGTERM with status 0.
	if err := js.CloseStdin(t); err != nil {
		t.Errorf("node: %v", err)
	}
	if err := svc.Terminate(t); err != nil {
		t.Errorf("service.py after SIGTERM: %v", err)
	}
	if strings.Contains(svc.Stderr(), "Traceback") {
		t.Errorf("service.py raised:\n%s", svc.Stderr())
	}
}

// TestPythonServiceBadEvent: an event whose arguments the service cannot
// read is logged and not answered (the client's ack timeout fires); the
// service goes on with the next one.
func TestPythonServiceBadEvent(t *testing.T) {
	addr, url := stack(t)
	svc := service(t, addr)
	svc.Lines.Wait(t, "service.py ready", func(l line) bool { return l.str("ev") == "ready" })
	// A client in node: a "join" without a room, then a good one.
	js := start(t, nil, "node", "--input-type=module", "-e", `
import { io } from "socket.io-client";
const s = io(process.argv[1], { forceNew: true, reconnection: false });
const out = (o) => process.stdout.write(JSON.stringify(o) + "\n");
s.on("connect", async () => {
  try { await s.timeout(1000).emitWithAck("join", "no room"); out({ ev: "answered" }); }
  catch (err) { out({ ev: "timeout", message: err.message }); }
  out({ ev: "joined", args: [await s.timeout(5000).emitWithAck("join", { room: "r" })] });
  s.disconnect();
});`, url)
	js.Lines.Wait(t, "the bad join to time out at the client", func(l line) bool { return l.str("ev") == "timeout" })
	l := js.Lines.Wait(t, "the good join's ack", func(l line) bool { return l.str("ev") == "joined" })
	if rooms, _ := l["args"].([]any); len(rooms) != 1 || jsonOf(t, rooms[0].(map[string]any)["room"]) != `"r"` {
		t.Errorf("good join answered %v", l["args"])
	}
	if n := len(js.Lines.Matching(func(l line) bool { return l.str("ev") == "answered" })); n != 0 {
		t.Errorf("the bad join was answered")
	}
	if err := svc.Terminate(t); err != nil {
		t.Errorf("service.py after SIGTERM: %v", err)
	}
	if log := svc.Stderr(); !strings.Contains(log, "service: join from ") || strings.Contains(log, "Traceback") {
		t.Errorf("service.py stderr does not log the bad join (or raised):\n%s", log)
	}
}

// TestPythonServiceNoControl: with nothing at the address, the service
// says Subscribe failed as UNAVAILABLE and exits with status 1.
func TestPythonServiceNoControl(t *testing.T) {
	addr := repotest.ClosedAddr(t) // nothing listens there
	svc := service(t, addr)
	select {
	case <-svc.Exited():
	case <-time.After(startTimeout):
		t.Fatalf("service.py still runs %v after it started without control", startTimeout)
	}
	var exit *exec.ExitError
	if !errors.As(svc.Err(), &exit) || exit.ExitCode() != 1 {
		t.Errorf("service.py without control: %v, want exit status 1", svc.Err())
	}
	if log := svc.Stderr(); !strings.Contains(log, "Subscribe ended: UNAVAILABLE") || strings.Contains(log, "Traceback") {
		t.Errorf("service.py stderr:\n%s", log)
	}
}

// TestPythonServiceControlLost: when control dies (SIGKILL), the service
// says its streams ended and exits with status 1.
func TestPythonServiceControlLost(t *testing.T) {
	s := examplestack.StartStack(t, examplestack.Options{})
	svc := service(t, s.GRPCAddr)
	svc.Lines.Wait(t, "service.py ready", func(l line) bool { return l.str("ev") == "ready" })
	s.Control.Kill(t)
	select {
	case <-svc.Exited():
	case <-time.After(startTimeout):
		t.Fatalf("service.py still runs %v after control was killed", startTimeout)
	}
	var exit *exec.ExitError
	if !errors.As(svc.Err(), &exit) || exit.ExitCode() != 1 {
		t.Errorf("service.py after control was killed: %v, want exit status 1", svc.Err())
	}
	if log := svc.Stderr(); !strings.Contains(log, "ended: UNAVAILABLE") || strings.Contains(log, "Traceback") {
		t.Errorf("service.py stderr:\n%s", log)
	}
}
