package browser

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	sbv1 "github.com/switchboard-rt/switchboard/gen/switchboard/v1"
	"github.com/switchboard-rt/switchboard/internal/examplestack"
	"github.com/switchboard-rt/switchboard/internal/jsonproc"
	"github.com/switchboard-rt/switchboard/internal/repotest"
)

const (
	// echoWait bounds each wait for a line of a service or the page
	// server; echo.mjs bounds its own waits below echoPageWait.
	echoWait = examplestack.StartTimeout
	// echoPageWait bounds each wait for echo.mjs's answer; a reconnect
	// through the proxy after an edge is killed takes socket.io-client's
	// backoff (1 to 5 s a try) on top.
	echoPageWait = 45 * time.Second
	// burst is how many my_event the page sends at once.
	burst = 200
)

var (
	controlListening = regexp.MustCompile(`msg="control listening" grpc=(127\.0\.0\.1:\d+)(?: nats=(nats://127\.0\.0\.1:\d+))?`)
	edgeListening    = regexp.MustCompile(`msg="edge listening" edge=([a-z0-9]+) .*\baddr=(127\.0\.0\.1:\d+)`)
)

// jline is a JSON line of a service, the page server or echo.mjs.
type jline map[string]any

func (l jline) str(k string) string { s, _ := l[k].(string); return s }

func (l jline) num(k string) int { f, _ := l[k].(float64); return int(f) }

func (l jline) strs(k string) []string {
	var out []string
	a, _ := l[k].([]any)
	for _, v := range a {
		s, _ := v.(string)
		out = append(out, s)
	}
	return out
}

func parseJLine(b []byte) jline {
	var l jline
	if err := json.Unmarshal(b, &l); err != nil {
		l = jline{"msg": "bad line", "text": string(b)}
	}
	return l
}

// echoStack is control (embedded NATS) and two edges, both known to
// control.
type echoStack struct {
	control  *repotest.Proc
	grpcAddr string
	edges    []*repotest.Proc
	edgeIDs  []string
	edgeURLs []string
}

func startEchoStack(t *testing.T) *echoStack {
	t.Helper()
	s := &echoStack{}
	ctl := repotest.StartProc(t, echoWait, examplestack.StopTimeout, "control", "--grpc-addr", "127.0.0.1:0", "--embedded-nats-addr", "127.0.0.1:0")
	m := ctl.WaitLog(t, controlListening)
	s.control, s.grpcAddr = ctl, m[1]
	for range 2 {
		e := repotest.StartProc(t, echoWait, examplestack.StopTimeout, "edge", "--addr", "127.0.0.1:0", "--nats-url", m[2], "--heartbeat", "200ms")
		em := e.WaitLog(t, edgeListening)
		s.edges, s.edgeIDs, s.edgeURLs = append(s.edges, e), append(s.edgeIDs, em[1]), append(s.edgeURLs, "http://"+em[2])
	}
	conn, err := grpc.NewClient(s.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	api := sbv1.NewControlClient(conn)
	for deadline := time.Now().Add(echoWait); ; time.Sleep(50 * time.Millisecond) {
		ci, err := api.ClusterInfo(t.Context(), &sbv1.ClusterInfoRequest{})
		if err == nil && !slices.ContainsFunc(s.edgeIDs, func(id string) bool {
			return !slices.ContainsFunc(ci.GetEdges(), func(e *sbv1.Edge) bool { return e.GetId() == id })
		}) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("control does not list edges %v after %v (last error %v)", s.edgeIDs, echoWait, err)
		}
	}
}

// pageServer starts the Go echo binary: the page, the client and the
// proxy to the edges, and the service too unless noService. It returns
// the process and the page's URL.
func pageServer(t *testing.T, s *echoStack, noService bool, extra ...string) (*examplestack.Proc[jline], string) {
	t.Helper()
	root := repotest.Root(t)
	args := []string{"--control", s.grpcAddr, "--addr", "127.0.0.1:0", "--edges", strings.Join(s.edgeURLs, ","),
		"--static", filepath.Join(root, "examples/echo/static"), "--client-dir", filepath.Join(root, "node_modules/socket.io-client/dist")}
	if noService {
		args = append(args, "--no-service")
	}
	p := examplestack.StartProcess(t, examplestack.Command{Name: "echo", Path: repotest.Bin(t, "echo"), Args: append(args, extra...), Timeout: echoWait}, parseJLine)
	l := p.Lines.Wait(t, "echo listening", func(l jline) bool { return l.str("msg") == "echo listening" })
	if !noService {
		p.Lines.Wait(t, "the Go service to subscribe", func(l jline) bool { return l.str("msg") == "subscribed" })
	}
	return p, l.str("url")
}

// echoImpls are the implementations of the service: each starts what
// serves the page and answers it, and returns the process whose lines log
// the service's acks and disconnects, and the page's URL.
var echoImpls = []struct {
	name  string
	start func(t *testing.T, s *echoStack) (svc *examplestack.Proc[jline], url string)
}{
	{"go", func(t *testing.T, s *echoStack) (*examplestack.Proc[jline], string) { return pageServer(t, s, false) }},
	{"python", func(t *testing.T, s *echoStack) (*examplestack.Proc[jline], string) {
		_, url := pageServer(t, s, true)
		root := repotest.Root(t)
		svc := examplestack.StartProcess(t, examplestack.Command{Name: "echo.py", Path: "/usr/bin/python3",
			Args:    []string{filepath.Join(root, "examples/echo/python/echo.py"), "--control", s.grpcAddr},
			Env:     []string{"PYTHONPATH=" + filepath.Join(root, "gen/python"), "PYTHONDONTWRITEBYTECODE=1"},
			Timeout: echoWait}, parseJLine)
		svc.Lines.Wait(t, "echo.py to subscribe", func(l jline) bool { return l.str("msg") == "subscribed" })
		return svc, url
	}},
}

// browser is echo.mjs, driving Chromium.
type browser struct {
	t       *testing.T
	p       *jsonproc.Proc[jline]
	replies int // answers to commands read so far
}

func isBrowserReport(l jline) bool {
	switch l.str("event") {
	case "pageerror", "httperror", "consoleerror":
		return true
	}
	return false
}

func startBrowser(t *testing.T, url string) *browser {
	t.Helper()
	for _, need := range []string{filepath.Join(repotest.Root(t), "node_modules/playwright-core"), "/usr/bin/chromium"} {
		if _, err := os.Stat(need); err != nil {
			t.Fatalf("%s missing: run `make test-deps` (npm ci and Debian's chromium)", need)
		}
	}
	cmd := exec.Command("node", filepath.Join(repotest.Root(t), "test/browser/echo.mjs"), url)
	cmd.Dir = repotest.Root(t)
	cmd.Env = repotest.Env()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	b := &browser{t: t, p: jsonproc.Start(t, "echo.mjs", cmd, echoPageWait, parseJLine)}
	t.Cleanup(func() {
		if b.p.Stop(examplestack.StopTimeout) {
			t.Errorf("echo.mjs still ran %v after its stdin closed: killed", examplestack.StopTimeout)
		}
		if t.Failed() {
			t.Logf("echo.mjs stderr:\n%s", b.p.Stderr())
		}
	})
	return b
}

// do sends a command and returns its answer, failing the test on an error.
func (b *browser) do(cmd map[string]any) jline {
	b.t.Helper()
	b.p.Send(b.t, cmd)
	l := b.p.Lines.WaitN(b.t, fmt.Sprintf("echo.mjs's answer to %v", cmd), b.replies+1, func(l jline) bool { return !isBrowserReport(l) })[b.replies]
	b.replies++
	if l.str("event") == "error" {
		b.t.Fatalf("echo.mjs %v: %s", cmd, l.str("message"))
	}
	return l
}

// reports are what the browser reported by itself so far, the first skip
// left out.
func (b *browser) reports(skip int) []string {
	var out []string
	for i, l := range b.p.Lines.Matching(isBrowserReport) {
		if i >= skip {
			out = append(out, l.str("page")+" "+l.str("event")+": "+l.str("message"))
		}
	}
	return out
}

func screenshotPath(t *testing.T, name string) string {
	if dir := os.Getenv("SWITCHBOARD_SCREENSHOTS"); dir != "" {
		return filepath.Join(dir, name)
	}
	return filepath.Join(t.TempDir(), name)
}

// TestEchoPage runs examples/echo with each implementation of its service
// behind two edges, in Chromium: the page shows the connect line, echoes
// with counts kept in the socket's data, and the service logs the page's
// acks; a burst of 200 events comes back in order with counts that do not
// repeat; two pages on different edges both see a broadcast; the page
// whose edge is killed reconnects through the proxy to the other edge and
// echoes again; a closed page's disconnect is logged.
func TestEchoPage(t *testing.T) {
	for _, impl := range echoImpls {
		t.Run(impl.name, func(t *testing.T) {
			s := startEchoStack(t)
			svc, url := impl.start(t, s)
			checkClientServed(t, url)
			b := startBrowser(t, url)
			acks := func(sid string, n int) []jline {
				t.Helper()
				return svc.Lines.WaitN(t, fmt.Sprintf("%d acks from %s logged", n, sid), n, func(l jline) bool {
					return l.str("msg") == "ack received" && l.str("sid") == sid
				})
			}

			a := b.do(map[string]any{"cmd": "open", "page": "a"})
			sidA := a.str("sid")
			if got := a.strs("lines"); !slices.Equal(got, []string{"0 Received: Server connected"}) {
				t.Errorf("page a opened with %q, want the connect line alone", got)
			}
			for _, msg := range []string{"hello", "again"} {
				b.do(map[string]any{"cmd": "submit", "page": "a", "form": "emit", "fields": map[string]string{"emit_data": msg}})
				b.do(map[string]any{"cmd": "wait", "page": "a", "text": msg})
			}
			want := []string{"0 Received: Server connected", "1 Received: hello", "2 Received: again"}
			if got := b.do(map[string]any{"cmd": "wait", "page": "a", "text": "again"}).strs("lines"); !slices.Equal(got, want) {
				t.Errorf("page a after two echoes: %q, want %q", got, want)
			}
			for i, l := range acks(sidA, 2) {
				if l.num("count") != i+1 || l.str("data") != want[i+1][len("1 Received: "):] {
					t.Errorf("ack %d logged as %v", i, l)
				}
			}

			// The page's my_ping, answered with an ack, shows its round trip.
			if ms, ok := b.do(map[string]any{"cmd": "ping", "page": "a"})["ms"].(float64); !ok || ms < 0 || ms > 1000 {
				t.Errorf("page a shows a my_ping round trip of %v ms", ms)
			}

			// A burst from the page: in order, each count once.
			b.do(map[string]any{"cmd": "burst", "page": "a", "n": burst, "prefix": "b"})
			lines := b.do(map[string]any{"cmd": "wait", "page": "a", "text": fmt.Sprintf("b%d", burst-1)}).strs("lines")
			var bad []string
			for i, l := range lines[min(3, len(lines)):] {
				if want := fmt.Sprintf("%d Received: b%d", i+3, i); l != want {
					bad = append(bad, fmt.Sprintf("%q (want %q)", l, want))
				}
			}
			if len(lines) != 3+burst || len(bad) > 0 {
				t.Errorf("burst of %d: %d lines after the first 3; out of place: %d, first ones %q", burst, len(lines)-3, len(bad), bad[:min(len(bad), 5)])
			}
			acks(sidA, 2+burst)

			// A second page, on the other edge (handshakes go round-robin):
			// a broadcast from it reaches both.
			bp := b.do(map[string]any{"cmd": "open", "page": "b"})
			sidB := bp.str("sid")
			edgeA, edgeB := edgeOf(t, s, sidA), edgeOf(t, s, sidB)
			if edgeA == edgeB {
				t.Fatalf("pages a (%s) and b (%s) are on the same edge", sidA, sidB)
			}
			b.do(map[string]any{"cmd": "submit", "page": "b", "form": "broadcast", "fields": map[string]string{"broadcast_data": "to all"}})
			for _, page := range []string{"a", "b"} {
				got := b.do(map[string]any{"cmd": "wait", "page": page, "text": "to all"}).strs("lines")
				if l := got[len(got)-1]; l != "1 Received: to all" {
					t.Errorf("page %s's last line %q, want the broadcast with b's count 1", page, l)
				}
			}

			// Rooms, across the edges: a joins r, b's emit to r reaches a and
			// not b; once a left, b's next emit to r reaches nobody (a sees
			// the broadcast sent after it, and not it).
			last := func(l jline) string { lines := l.strs("lines"); return lines[len(lines)-1] }
			step := func(page, form string, fields map[string]string, seen, wantPage string) {
				t.Helper()
				b.do(map[string]any{"cmd": "submit", "page": page, "form": form, "fields": fields})
				if got := last(b.do(map[string]any{"cmd": "wait", "page": wantPage, "text": seen})); !strings.HasSuffix(got, " Received: "+seen) {
					t.Errorf("page %s: %q, want %q", wantPage, got, seen)
				}
			}
			step("a", "join", map[string]string{"join_room": "r"}, "Joined room: r", "a")
			step("b", "send_room", map[string]string{"room_name": "r", "room_data": "to the room"}, "to the room", "a")
			step("a", "leave", map[string]string{"leave_room": "r"}, "Left room: r", "a")
			b.do(map[string]any{"cmd": "submit", "page": "b", "form": "send_room", "fields": map[string]string{"room_name": "r", "room_data": "nobody"}})
			step("b", "broadcast", map[string]string{"broadcast_data": "after"}, "after", "a")
			wantA := []string{"203 Received: Joined room: r", "2 Received: to the room", "204 Received: Left room: r", "4 Received: after"}
			if got := b.do(map[string]any{"cmd": "wait", "page": "a", "text": "after"}).strs("lines"); !slices.Equal(got[len(got)-4:], wantA) {
				t.Errorf("page a's room lines: %q, want %q", got[len(got)-4:], wantA)
			}
			if got := b.do(map[string]any{"cmd": "wait", "page": "b", "text": "after"}).strs("lines"); slices.ContainsFunc(got, func(l string) bool {
				return strings.HasSuffix(l, "to the room") || strings.HasSuffix(l, "nobody")
			}) {
				t.Errorf("page b, in no room, got a room's emit: %q", got)
			}
			if r := b.reports(0); len(r) > 0 {
				t.Errorf("the browser reported, before any edge was killed:\n%s", strings.Join(r, "\n"))
			}

			// Page a's edge dies: a reconnects through the proxy to b's edge,
			// as a new socket, and echoes again; b is not touched.
			before := len(b.reports(0))
			s.edges[edgeA].Kill(t)
			got := b.do(map[string]any{"cmd": "wait", "page": "a", "text": "Server connected", "n": 2, "timeout": 30000})
			if sid := got.str("sid"); sid == sidA || !strings.HasPrefix(sid, s.edgeIDs[edgeB]) {
				t.Errorf("page a reconnected as %q, want a new sid on edge %s (was %s)", sid, s.edgeIDs[edgeB], sidA)
			} else {
				sidA = sid
			}
			b.do(map[string]any{"cmd": "submit", "page": "a", "form": "emit", "fields": map[string]string{"emit_data": "back"}})
			got = b.do(map[string]any{"cmd": "wait", "page": "a", "text": "back"})
			if l := got.strs("lines"); l[len(l)-1] != "1 Received: back" {
				t.Errorf("page a's echo after the reconnect: %q, want the new socket's count 1", l[len(l)-1])
			}
			acks(sidA, 1)
			shot := screenshotPath(t, "echo-"+impl.name+".png")
			b.do(map[string]any{"cmd": "shot", "page": "a", "path": shot})
			// Page b's short log is the one the README shows.
			shotB := screenshotPath(t, "echo-"+impl.name+"-b.png")
			b.do(map[string]any{"cmd": "shot", "page": "b", "path": shotB})
			for _, f := range []string{shot, shotB} {
				if fi, err := os.Stat(f); err != nil || fi.Size() == 0 {
					t.Errorf("no screenshot at %s: %v", f, err)
				}
			}
			wantB := []string{"0 Received: Server connected", "1 Received: to all", "4 Received: after"}
			if got := b.do(map[string]any{"cmd": "wait", "page": "b", "text": "Server connected"}).strs("lines"); !slices.Equal(got, wantB) {
				t.Errorf("page b, whose edge lives: %q, want %q", got, wantB)
			}
			t.Logf("after the kill the browser reported (expected: the dead edge's failures):\n%s", strings.Join(b.reports(before), "\n"))
			for _, r := range b.reports(before) {
				if strings.Contains(r, "pageerror") {
					t.Errorf("after the kill: %s", r)
				}
			}

			// Page b asks to be disconnected: answered, then disconnected
			// (the service logs it); closing page a logs a's disconnect.
			b.do(map[string]any{"cmd": "submit", "page": "b", "form": "disconnect"})
			b.do(map[string]any{"cmd": "gone", "page": "b", "text": "Disconnected!"})
			svc.Lines.Wait(t, "b's disconnect logged", func(l jline) bool { return l.str("msg") == "client disconnected" && l.str("sid") == sidB })
			b.do(map[string]any{"cmd": "close", "page": "a"})
			svc.Lines.Wait(t, "a's disconnect logged", func(l jline) bool { return l.str("msg") == "client disconnected" && l.str("sid") == sidA })
		})
	}
}

// edgeOf is the index of the edge whose id starts sid.
func edgeOf(t *testing.T, s *echoStack, sid string) int {
	t.Helper()
	for i, id := range s.edgeIDs {
		if strings.HasPrefix(sid, id) {
			return i
		}
	}
	t.Fatalf("sid %q names none of the edges %v", sid, s.edgeIDs)
	return -1
}

// checkClientServed: the page server serves the official client and its
// source map itself.
func checkClientServed(t *testing.T, url string) {
	t.Helper()
	for _, path := range []string{"static/socket.io.min.js", "static/socket.io.min.js.map"} {
		resp, err := http.Get(url + path)
		if err != nil {
			t.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || n < 1000 {
			t.Errorf("GET %s: %s, %d bytes", path, resp.Status, n)
		}
	}
}

// TestEchoPageTLS: the page server over HTTPS with a certificate made by
// the README's openssl line (its --certfile and --keyfile, the original's
// certfile and keyfile); Chromium, told to accept it, gets the page, and
// the socket, over wss through the proxy, echoes.
func TestEchoPageTLS(t *testing.T) {
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	ctx, cancel := context.WithTimeout(t.Context(), echoWait)
	defer cancel()
	// The README's line, with -subj for no questions asked.
	out, err := exec.CommandContext(ctx, "openssl", "req", "-x509", "-newkey", "rsa:4096", "-nodes", "-out", cert, "-keyout", key, "-days", "365", "-subj", "/CN=127.0.0.1").CombinedOutput()
	if err != nil {
		t.Fatalf("openssl: %v\n%s", err, out)
	}
	s := startEchoStack(t)
	_, url := pageServer(t, s, false, "--certfile", cert, "--keyfile", key)
	if !strings.HasPrefix(url, "https://") {
		t.Fatalf("the page server with a certificate listens at %s", url)
	}
	b := startBrowser(t, url)
	if got := b.do(map[string]any{"cmd": "open", "page": "a"}).strs("lines"); !slices.Equal(got, []string{"0 Received: Server connected"}) {
		t.Errorf("page opened with %q", got)
	}
	b.do(map[string]any{"cmd": "submit", "page": "a", "form": "emit", "fields": map[string]string{"emit_data": "secret"}})
	if got := b.do(map[string]any{"cmd": "wait", "page": "a", "text": "secret"}).strs("lines"); got[len(got)-1] != "1 Received: secret" {
		t.Errorf("page after an echo: %q", got)
	}
	if r := b.reports(0); len(r) > 0 {
		t.Errorf("the browser reported:\n%s", strings.Join(r, "\n"))
	}
}

// TestEchoServiceNoControl: each service, with nothing at control's
// address, logs that its stream failed and exits with status 1.
func TestEchoServiceNoControl(t *testing.T) {
	root := repotest.Root(t)
	addr := repotest.ClosedAddr(t)
	for _, c := range []examplestack.Command{
		{Name: "echo", Path: repotest.Bin(t, "echo"), Args: []string{"--control", addr, "--addr", "127.0.0.1:0", "--edges", "http://" + addr}},
		{Name: "echo.py", Path: "/usr/bin/python3", Args: []string{filepath.Join(root, "examples/echo/python/echo.py"), "--control", addr},
			Env: []string{"PYTHONPATH=" + filepath.Join(root, "gen/python"), "PYTHONDONTWRITEBYTECODE=1"}},
	} {
		t.Run(c.Name, func(t *testing.T) {
			c.Timeout = echoWait
			p := examplestack.StartProcess(t, c, parseJLine)
			select {
			case <-p.Exited():
			case <-time.After(echoWait):
				t.Fatalf("%s still runs %v after it started without control", c.Name, echoWait)
			}
			var exit *exec.ExitError
			if !errors.As(p.Err(), &exit) || exit.ExitCode() != 1 {
				t.Errorf("%s without control: %v, want exit status 1", c.Name, p.Err())
			}
			if !slices.ContainsFunc(p.Lines.All(), func(l jline) bool {
				return l.str("level") == "ERROR" && strings.Contains(strings.ToLower(fmt.Sprint(l)), "unavailable")
			}) {
				t.Errorf("%s logged no UNAVAILABLE error: %v", c.Name, p.Lines.All())
			}
			if strings.Contains(p.Stderr(), "Traceback") {
				t.Errorf("%s raised:\n%s", c.Name, p.Stderr())
			}
		})
	}
}

// TestEchoServiceControlLost: each service, when control dies (SIGKILL),
// logs that its stream failed and exits with status 1.
func TestEchoServiceControlLost(t *testing.T) {
	for _, impl := range echoImpls {
		t.Run(impl.name, func(t *testing.T) {
			s := startEchoStack(t)
			svc, _ := impl.start(t, s)
			s.control.Kill(t)
			select {
			case <-svc.Exited():
			case <-time.After(echoWait):
				t.Fatalf("the %s service still runs %v after control was killed", impl.name, echoWait)
			}
			var exit *exec.ExitError
			if !errors.As(svc.Err(), &exit) || exit.ExitCode() != 1 {
				t.Errorf("the %s service after control was killed: %v, want exit status 1", impl.name, svc.Err())
			}
			if !slices.ContainsFunc(svc.Lines.All(), func(l jline) bool {
				return l.str("level") == "ERROR" && strings.Contains(strings.ToLower(fmt.Sprint(l)), "unavailable")
			}) {
				t.Errorf("the %s service logged no UNAVAILABLE error: %v", impl.name, svc.Lines.All())
			}
			if strings.Contains(svc.Stderr(), "Traceback") {
				t.Errorf("the %s service raised:\n%s", impl.name, svc.Stderr())
			}
		})
	}
}
