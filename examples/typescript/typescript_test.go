// Package typescript_test runs the TypeScript example service
// (service.ts, compiled to JavaScript by `make test-build`) against the
// control and edge binaries, with the official socket.io-client
// (testdata/client.mjs) as its user, and checks what the client receives:
// the room's emit, the answer to its join through Ack, and, through the
// Pipeline stream, a "result" per "work" event, in order, each followed by
// the answer to the work event's own ack; and what the service reads back
// from Pipeline: each result's ack, tagged with its command's id.
//
// NATS runs in this process; control, the edge, the service and the client
// are processes this test starts and stops by their PIDs. Everything
// listens on 127.0.0.1, on ports the kernel picks. node_modules (make
// test-deps) is required.
package typescript_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/switchboard-rt/switchboard/internal/examplestack"
	"github.com/switchboard-rt/switchboard/internal/repotest"
)

const (
	// startTimeout bounds the start of a process and each wait for its
	// first line.
	startTimeout = examplestack.StartTimeout
	// stopTimeout bounds a process's exit after SIGTERM or the end of its
	// stdin.
	stopTimeout = examplestack.StopTimeout
	// waitTimeout bounds every other wait: the client's run, the service's
	// answers.
	waitTimeout = 20 * time.Second
	// works is how many "work" events the client sends.
	works = 20
)

// serviceJS is where the compiled service is, under the build directory.
var serviceJS = filepath.Join("examples", "typescript", "service.js")

// buildDir holds the compiled service; set by TestMain.
var buildDir string

// The edge and control binaries, and the compiled service, are ready
// before any test's clock starts; repotest.Main checks for leaked
// goroutines after (the NATS server and the gRPC connection of this
// process).
func TestMain(m *testing.M) {
	dir, err := compiledService()
	if err != nil {
		fmt.Fprintln(os.Stderr, "typescript_test:", err)
		os.Exit(1)
	}
	buildDir = dir
	repotest.Main(m, "edge", "control")
}

// compiledService returns the directory of the compiled service:
// $SWITCHBOARD_TEST_BIN/typescript, where `make test-build` compiles it
// (bin/test/typescript without the variable). When service.js is absent
// there, or older than a source, it compiles it there first, as
// repotest.Main builds the Go binaries that $SWITCHBOARD_TEST_BIN lacks.
// The directory stays under the repository's root so that the compiled
// files find its node_modules and package.json.
func compiledService() (string, error) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		return "", fmt.Errorf("repository root: %w", err)
	}
	bin := os.Getenv(repotest.BinEnv)
	if bin == "" {
		bin = filepath.Join(root, "bin", "test")
	}
	dir := filepath.Join(bin, "typescript")
	if fresh(filepath.Join(dir, serviceJS), filepath.Join(root, "examples", "typescript"), filepath.Join(root, "gen", "ts")) {
		return dir, outsideRoot(root, dir)
	}
	tsc := filepath.Join(root, "node_modules", ".bin", "tsc")
	cmd := exec.Command(tsc, "-p", filepath.Join("examples", "typescript"), "--outDir", dir)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("%s -p examples/typescript (run `make test-deps` first): %v\n%s", tsc, err, out)
	}
	return dir, outsideRoot(root, dir)
}

// outsideRoot lets the compiled files in dir, when it is not under the
// repository's root, find what they would find there: node resolves
// packages from node_modules directories above a file, and takes a .js
// file for an ES module by the nearest package.json.
func outsideRoot(root, dir string) error {
	if rel, err := filepath.Rel(root, dir); err == nil && filepath.IsLocal(rel) {
		return nil
	}
	link := filepath.Join(dir, "node_modules")
	if _, err := os.Lstat(link); errors.Is(err, fs.ErrNotExist) {
		if err := os.Symlink(filepath.Join(root, "node_modules"), link); err != nil {
			return err
		}
	}
	return os.WriteFile(filepath.Join(dir, "package.json"), []byte(`{"type": "module"}`+"\n"), 0o644)
}

// fresh reports whether out exists and is newer than every .ts file under
// the source directories.
func fresh(out string, sources ...string) bool {
	fi, err := os.Stat(out)
	if err != nil {
		return false
	}
	newer := false
	for _, src := range sources {
		_ = filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || filepath.Ext(path) != ".ts" {
				return err
			}
			if si, err := d.Info(); err == nil && si.ModTime().After(fi.ModTime()) {
				newer = true
			}
			return nil
		})
	}
	return !newer
}

// TestService runs the example service and a socket.io-client against
// control and one edge.
func TestService(t *testing.T) {
	// NATS in this process; ListSockets asks the edges control knows:
	// wait until it knows this one.
	stack := examplestack.StartStack(t, examplestack.Options{
		InProcessNATS: true, EdgeArgs: []string{"--heartbeat", "500ms"}, WaitEdge: true})
	controlAddr := stack.GRPCAddr

	service := startNode(t, startTimeout, filepath.Join(buildDir, serviceJS), controlAddr)
	wait(t, service, "the service's Subscribe stream to be live", func(l line) bool { return l.Ev == "ready" })

	client := startNode(t, waitTimeout, filepath.Join(repotest.Root(t), "examples", "typescript", "testdata", "client.mjs"),
		stack.EdgeURL, strconv.Itoa(works))
	wait(t, client, "the client's run", func(l line) bool { return l.Ev == "done" })

	// What the client received, in the order it did.
	lines := client.Lines.All()
	sid := ""
	var kinds []string
	for i, l := range lines {
		switch l.Ev {
		case "connect":
			sid = l.str(t, "id")
		case "announce":
			// JoinRoom answered before the service emitted to the room.
			wantJSON(t, "announce args", l.F["args"], fmt.Sprintf(`[{"sid":%q,"room":"lobby"}]`, sid))
		case "join_ack":
			// Ack answered the join; ListSockets paged the room's members.
			wantJSON(t, "join callback args", l.F["args"], fmt.Sprintf(`[{"room":"lobby","members":[%q]}]`, sid))
		case "result", "work_ack":
			kinds = append(kinds, l.Ev)
			n := (len(kinds) - 1) / 2
			if l.Ev == "result" {
				wantJSON(t, fmt.Sprintf("line %d: result args", i), l.F["args"], fmt.Sprintf(`[%d,%d]`, n, n*n))
			} else {
				wantJSON(t, fmt.Sprintf("line %d: work callback", i), l.F["n"], strconv.Itoa(n))
				wantJSON(t, fmt.Sprintf("line %d: work callback args", i), l.F["args"], fmt.Sprintf(`[{"n":%d,"accepted":true}]`, n))
			}
		}
	}
	if sid == "" {
		t.Fatalf("the client never connected: %v", lines)
	}
	// The Pipeline's commands reach the socket in the order sent: result n,
	// the answer to work n, result n+1, ...
	var want []string
	for range works {
		want = append(want, "result", "work_ack")
	}
	if !slices.Equal(kinds, want) {
		t.Errorf("the client received %v, want result and work_ack alternating, %d of each", kinds, works)
	}
	for _, ev := range []string{"announce", "join_ack"} {
		if got := len(client.Lines.Matching(func(l line) bool { return l.Ev == ev })); got != 1 {
			t.Errorf("the client got %d %q, want 1", got, ev)
		}
	}

	// What the service read back from Pipeline: every command answered
	// once, tagged with its id; each result's answer holds the client's
	// ack.
	answers := service.Lines.WaitN(t, "the service's Pipeline answers", 2*works, func(l line) bool { return l.Ev == "answer" })
	ids := map[float64]string{}
	for _, a := range answers {
		what := a.str(t, "what")
		var id float64
		if err := json.Unmarshal(a.F["id"], &id); err != nil {
			t.Fatalf("answer %v: id: %v", a, err)
		}
		if prev, dup := ids[id]; dup {
			t.Errorf("id %v answered twice: %q and %q", id, prev, what)
		}
		ids[id] = what
		m := commandRE.FindStringSubmatch(what)
		switch {
		case m == nil:
			t.Errorf("answer to an unknown command: %v", a)
		case m[1] == "result":
			wantJSON(t, what+": acks", a.F["acks"], fmt.Sprintf(`[{"sid":%q,"args":["got",%s]}]`, sid, m[2]))
			wantJSON(t, what+": timed out", a.F["timedOut"], `[]`)
		default:
			wantJSON(t, what+": result", a.F["result"], `"ack"`)
		}
	}
	for id := 1; id <= 2*works; id++ {
		if _, ok := ids[float64(id)]; !ok {
			t.Errorf("command %d got no answer (answers: %v)", id, ids)
		}
	}

	stop(t, client)
	service.Signal(t, syscall.SIGTERM)
	stop(t, service)
	wait(t, service, "the service to stop", func(l line) bool { return l.Ev == "stopped" })
	for _, l := range service.Lines.All() {
		if l.Ev == "failed" || l.Ev == "fatal" {
			t.Errorf("service: %v", l)
		}
	}
}

// TestServiceNoControl: a service whose control does not answer says so
// and exits with status 1, instead of waiting for events that cannot come.
func TestServiceNoControl(t *testing.T) {
	addr := repotest.ClosedAddr(t) // nothing listens there

	service := startNode(t, startTimeout, filepath.Join(buildDir, serviceJS), addr)
	l := service.Lines.Wait(t, "the service's fatal line", func(l line) bool { return l.Ev == "fatal" || l.Ev == "ready" })
	if l.Ev != "fatal" {
		t.Fatalf("with no control at %s the service printed %v, want a fatal line", addr, l)
	}
	if msg := l.str(t, "error"); !strings.Contains(msg, "unavailable") {
		t.Errorf("fatal error %q, want it to say unavailable", msg)
	}
	select {
	case <-service.Exited():
	case <-time.After(stopTimeout):
		t.Fatalf("the service still runs %v after its fatal line", stopTimeout)
	}
	var exit *exec.ExitError
	if !errors.As(service.Err(), &exit) || exit.ExitCode() != 1 {
		t.Errorf("the service exited with %v, want status 1", service.Err())
	}
}

// ---- node processes ----

// line is one JSON line a node script printed.
type line struct {
	Ev string
	F  map[string]json.RawMessage
}

func (l line) String() string {
	b, _ := json.Marshal(l.F)
	return string(b)
}

// str returns the string field name.
func (l line) str(t *testing.T, name string) string {
	t.Helper()
	var s string
	if err := json.Unmarshal(l.F[name], &s); err != nil {
		t.Fatalf("line %v: field %q: %v", l, name, err)
	}
	return s
}

// nodeProc is a node script running in a process group of its own, its
// stdout's lines in Lines.
type nodeProc = examplestack.Proc[line]

// startNode runs node script args from the repository's root; every wait
// for its lines gives up after timeout. It is stopped (stdin closed, then
// SIGTERM and SIGKILL, by its PID) when the test ends.
func startNode(t *testing.T, timeout time.Duration, script string, args ...string) *nodeProc {
	t.Helper()
	return examplestack.StartProcess(t, examplestack.Command{
		Name: filepath.Base(script), Path: "node", Args: append([]string{script}, args...), Timeout: timeout,
	}, parseLine)
}

// parseLine decodes a stdout line; one that is not JSON is a "fail" line.
func parseLine(b []byte) line {
	l := line{F: map[string]json.RawMessage{}}
	if err := json.Unmarshal(b, &l.F); err != nil {
		return line{Ev: "fail", F: map[string]json.RawMessage{"message": mustJSON(fmt.Sprintf("not a JSON line %q: %v", b, err))}}
	}
	_ = json.Unmarshal(l.F["ev"], &l.Ev)
	return l
}

// wait waits for a line matching pred; a "fail" or "fatal" line before it
// fails the test.
func wait(t *testing.T, p *nodeProc, what string, pred func(line) bool) line {
	t.Helper()
	l := p.Lines.Wait(t, what, func(l line) bool { return pred(l) || l.Ev == "fail" || l.Ev == "fatal" })
	if !pred(l) {
		t.Fatalf("waiting for %s, %s printed %v", what, p.Name, l)
	}
	return l
}

// stop closes stdin and waits for the exit, which must be status 0 within
// stopTimeout (past it, the process is killed when the test ends).
func stop(t *testing.T, p *nodeProc) {
	t.Helper()
	if err := p.CloseStdin(t); err != nil {
		t.Errorf("%s (pid %d): %v", p.Name, p.Cmd.Process.Pid, err)
	}
}

// ---- helpers ----

// wantJSON fails unless got and want are the same JSON value.
func wantJSON(t *testing.T, what string, got json.RawMessage, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Errorf("%s: %s is not JSON: %v", what, got, err)
		return
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("%s: want %s: %v", what, want, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("%s: %s, want %s", what, got, want)
	}
}

// commandRE is how the service names a command in its answer lines.
var commandRE = regexp.MustCompile(`^(result|ack) (\d+)$`)

func mustJSON(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}
