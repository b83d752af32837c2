package browser

import (
	"bufio"
	"context"
	"encoding/json"
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
	// loginWait bounds each wait for a process's line and each command of
	// login.mjs (which bounds its own waits at 15 s).
	loginWait = 30 * time.Second
	// loginRunTimeout bounds each emitter (the Go CLI, emit.py, grpcurl).
	loginRunTimeout = 20 * time.Second
	// refusedFor is how long the refused page is watched while events are
	// broadcast.
	refusedFor = 1500 * time.Millisecond
)

var (
	loginControlRe = regexp.MustCompile(`msg="control listening" grpc=(127\.0\.0\.1:\d+) nats=(nats://127\.0\.0\.1:\d+)`)
	loginEdgeRe    = regexp.MustCompile(`msg="edge listening" edge=([a-z0-9]+) `)
)

// loginLine is a JSON line of the login app or login.mjs.
type loginLine map[string]any

func (l loginLine) str(k string) string { s, _ := l[k].(string); return s }

func (l loginLine) strs(k string) []string {
	var out []string
	a, _ := l[k].([]any)
	for _, v := range a {
		s, _ := v.(string)
		out = append(out, s)
	}
	return out
}

func parseLoginLine(b []byte) loginLine {
	var l loginLine
	if err := json.Unmarshal(b, &l); err != nil {
		l = loginLine{"msg": "bad line", "text": string(b)}
	}
	return l
}

func isLoginReport(l loginLine) bool {
	switch l.str("event") {
	case "pageerror", "httperror", "consoleerror":
		return true
	}
	return false
}

// TestLoginPage runs examples/login: control, the edge (--path
// /ws/socket.io, the app as its connect hook over gRPC) and the app as
// binaries, the page in Chromium. Before /login the page is refused with
// "unauthorized!" and receives no frame of the events broadcast
// meanwhile; after it, /api/ (a string and an object body), the Go CLI,
// the Python helper and the README's grpcurl line each make a line
// appear, an emit to a room the page is not in does not; bad /api/ bodies
// are 400s with a message.
func TestLoginPage(t *testing.T) {
	root := repotest.Root(t)
	for _, need := range []string{filepath.Join(root, "node_modules/playwright-core"), "/usr/bin/chromium"} {
		if _, err := os.Stat(need); err != nil {
			t.Fatalf("%s missing: run `make test-deps` (npm ci and Debian's chromium)", need)
		}
	}
	ctl := repotest.StartProc(t, loginWait, examplestack.StopTimeout, "control", "--grpc-addr", "127.0.0.1:0", "--embedded-nats-addr", "127.0.0.1:0")
	m := ctl.WaitLog(t, loginControlRe)
	grpcAddr, natsURL := m[1], m[2]

	// The app needs the edge's URL and the edge the app's hook: the edge
	// gets a port the kernel picked and freed, the app starts first.
	edgeAddr := repotest.ClosedAddr(t)
	app := examplestack.StartProcess(t, examplestack.Command{Name: "login", Path: repotest.Bin(t, "login"), Args: []string{
		"--control", grpcAddr, "--addr", "127.0.0.1:0", "--hook-addr", "127.0.0.1:0", "--edge", "http://" + edgeAddr,
		"--static", filepath.Join(root, "examples/login/static"), "--client-dir", filepath.Join(root, "node_modules/socket.io-client/dist"),
	}, Timeout: loginWait}, parseLoginLine)
	l := app.Lines.Wait(t, "login listening", func(l loginLine) bool { return l.str("msg") == "login listening" })
	pageURL, hookAddr := l.str("url"), l.str("hook")
	edge := repotest.StartProc(t, loginWait, examplestack.StopTimeout, "edge", "--addr", edgeAddr, "--nats-url", natsURL,
		"--path", "/ws/socket.io", "--auth", "/=hook:grpc://"+hookAddr)
	edgeID := edge.WaitLog(t, loginEdgeRe)[1]
	api := loginAPI(t, grpcAddr)
	waitLoginEdge(t, api, edgeID)
	checkLoginClientServed(t, pageURL)

	b := startLoginBrowser(t, pageURL)
	opened := b.do(map[string]any{"cmd": "open"})
	if got := opened.str("status"); got != "refused: unauthorized!" {
		t.Fatalf("page before login: status %q, want the hook's refusal", got)
	}
	app.Lines.Wait(t, "the hook's refusal logged", func(l loginLine) bool { return l.str("msg") == "refused" })

	// Events go on for a while: none reaches the refused page.
	for deadline, i := time.Now().Add(refusedFor), 0; time.Now().Before(deadline); i++ {
		if _, err := api.Emit(t.Context(), &sbv1.EmitRequest{Event: "message", ArgsJson: fmt.Sprintf(`["before login %d"]`, i)}); err != nil {
			t.Fatalf("Emit: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	st := b.do(map[string]any{"cmd": "state"})
	if lines := st.strs("lines"); len(lines) != 0 || st.str("status") != "refused: unauthorized!" {
		t.Errorf("refused page shows %q, status %q", lines, st.str("status"))
	}
	if f := st.strs("frames"); len(f) == 0 || slices.ContainsFunc(f, func(s string) bool { return strings.Contains(s, "before login") }) {
		t.Errorf("refused page's transport frames: %q (want the handshake and the refusal, no event)", f)
	} else if !slices.ContainsFunc(f, func(s string) bool { return strings.Contains(s, "unauthorized!") }) {
		t.Errorf("no frame carries the refusal: %q", f)
	}

	in := b.do(map[string]any{"cmd": "login", "user": "ann"})
	if !strings.HasPrefix(in.str("status"), "connected as "+edgeID) {
		t.Fatalf("page after login: status %q, want connected on edge %s", in.str("status"), edgeID)
	}
	app.Lines.Wait(t, "ann admitted", func(l loginLine) bool { return l.str("msg") == "admitted" && l.str("user") == "ann" })

	// Each emitter makes its line appear, in this order.
	want := []string{}
	see := func(what, line string) {
		t.Helper()
		want = append(want, line)
		got := b.do(map[string]any{"cmd": "wait", "text": line}).strs("lines")
		if !slices.Equal(got, want) {
			t.Errorf("after %s the page shows %q, want %q", what, got, want)
		}
	}
	postAPI(t, pageURL, `{"channel":"message","body":"Hi from the API"}`, http.StatusOK)
	see("POST /api/", "message: Hi from the API")
	postAPI(t, pageURL, `{"channel": "news", "body": {"title": "an object", "n": 1}}`, http.StatusOK)
	see("POST /api/ with an object", `news: {"title":"an object","n":1}`)

	if r := repotest.Run(t, loginRunTimeout, "emit", nil, "--control", grpcAddr, "--to", "elsewhere", "message", "not for the page"); r.Code != 0 {
		t.Fatalf("emit --to elsewhere: status %d: %s", r.Code, r.Stderr)
	}
	if r := repotest.Run(t, loginRunTimeout, "emit", nil, "--control", grpcAddr, "message", "Hi from the Go CLI"); r.Code != 0 {
		t.Fatalf("emit: status %d: %s", r.Code, r.Stderr)
	}
	see("the Go CLI", "message: Hi from the Go CLI")

	py := exec.Command("/usr/bin/python3", filepath.Join(root, "examples/login/python/emit.py"), grpcAddr, "message", "Hi from Python")
	py.Env = repotest.Env("PYTHONPATH="+filepath.Join(root, "gen/python")+":"+filepath.Join(root, "examples/login/python"), "PYTHONDONTWRITEBYTECODE=1")
	runLoginCmd(t, py)
	see("emit.py", "message: Hi from Python")

	gc := exec.Command("bash", "-c", readmeGrpcurl(t, root, repotest.Bin(t, "grpcurl"), grpcAddr))
	runLoginCmd(t, gc)
	see("the README's grpcurl line", "message: Hi from grpcurl")

	shot := screenshotPathLogin(t, "login.png")
	b.do(map[string]any{"cmd": "shot", "path": shot})
	if fi, err := os.Stat(shot); err != nil || fi.Size() == 0 {
		t.Errorf("no screenshot at %s: %v", shot, err)
	}

	// Bad bodies: a 400 with a message each, and nothing emitted.
	for _, body := range []string{
		`not json`, `["channel","message"]`, `{"body":"x"}`, `{"channel":7,"body":"x"}`, `{"channel":"","body":"x"}`,
		`{"channel":"message"}`, `{"channel":"message","body":3}`, `{"channel":"message","body":["x"]}`,
		`{"channel":"message","body":null}`, `{"channel":"message","body":"x"} {}`, `{"channel":"connect","body":"x"}`,
	} {
		postAPI(t, pageURL, body, http.StatusBadRequest)
	}
	postAPI(t, pageURL, `{"channel":"message","body":"last"}`, http.StatusOK)
	see("the last POST /api/", "message: last")
	if r := b.reports(); len(r) > 0 {
		t.Errorf("the browser reported:\n%s", strings.Join(r, "\n"))
	}
}

func loginAPI(t *testing.T, addr string) sbv1.ControlClient {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return sbv1.NewControlClient(conn)
}

func waitLoginEdge(t *testing.T, api sbv1.ControlClient, id string) {
	t.Helper()
	for deadline := time.Now().Add(loginWait); ; time.Sleep(50 * time.Millisecond) {
		ci, err := api.ClusterInfo(t.Context(), &sbv1.ClusterInfoRequest{})
		if err == nil && slices.ContainsFunc(ci.GetEdges(), func(e *sbv1.Edge) bool { return e.GetId() == id }) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("control does not list edge %s after %v (last error %v)", id, loginWait, err)
		}
	}
}

// checkLoginClientServed: the app serves the official client and its
// source map itself.
func checkLoginClientServed(t *testing.T, url string) {
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

// postAPI posts body to /api/ and checks the status; an error answer must
// carry a message.
func postAPI(t *testing.T, pageURL, body string, want int) {
	t.Helper()
	resp, err := http.Post(pageURL+"api/", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	dec := json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&got)
	if resp.StatusCode != want || dec != nil || (want == http.StatusOK) != got.OK || (want != http.StatusOK && got.Error == "") {
		t.Errorf("POST /api/ %s: %s %+v (decode: %v), want %d", body, resp.Status, got, dec, want)
	}
}

// readmeGrpcurl is examples/login/README.md's grpcurl line, with the
// test's grpcurl and control's address.
func readmeGrpcurl(t *testing.T, root, bin, addr string) string {
	t.Helper()
	f, err := os.Open(filepath.Join(root, "examples/login/README.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var found []string
	for sc := bufio.NewScanner(f); sc.Scan(); {
		if line := sc.Text(); strings.HasPrefix(line, "go tool grpcurl ") {
			found = append(found, line)
		}
	}
	if len(found) != 1 || strings.Count(found[0], "127.0.0.1:50051") != 1 {
		t.Fatalf("examples/login/README.md: want one grpcurl line naming 127.0.0.1:50051 once, found %q", found)
	}
	cmd := "'" + bin + "'" + strings.TrimPrefix(found[0], "go tool grpcurl")
	return strings.Replace(cmd, "127.0.0.1:50051", addr, 1)
}

// runLoginCmd runs cmd in the repository's root to its end, within
// loginRunTimeout, and fails the test unless it exits with status 0.
func runLoginCmd(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), loginRunTimeout)
	defer cancel()
	c := exec.CommandContext(ctx, cmd.Path, cmd.Args[1:]...)
	c.Env, c.Dir = cmd.Env, repotest.Root(t)
	if c.Env == nil {
		c.Env = repotest.Env()
	}
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	c.Cancel = func() error { return syscall.Kill(-c.Process.Pid, syscall.SIGKILL) }
	c.WaitDelay = 5 * time.Second
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, out)
	}
}

func screenshotPathLogin(t *testing.T, name string) string {
	if dir := os.Getenv("SWITCHBOARD_SCREENSHOTS"); dir != "" {
		return filepath.Join(dir, name)
	}
	return filepath.Join(t.TempDir(), name)
}

// loginBrowser is login.mjs, driving Chromium.
type loginBrowser struct {
	t       *testing.T
	p       *jsonproc.Proc[loginLine]
	replies int // answers to commands read so far
}

func startLoginBrowser(t *testing.T, url string) *loginBrowser {
	t.Helper()
	cmd := exec.Command("node", filepath.Join(repotest.Root(t), "test/browser/login.mjs"), url)
	cmd.Dir = repotest.Root(t)
	cmd.Env = repotest.Env()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	b := &loginBrowser{t: t, p: jsonproc.Start(t, "login.mjs", cmd, loginWait, parseLoginLine)}
	t.Cleanup(func() {
		if b.p.Stop(examplestack.StopTimeout) {
			t.Errorf("login.mjs still ran %v after its stdin closed: killed", examplestack.StopTimeout)
		}
		if t.Failed() {
			t.Logf("login.mjs stderr:\n%s", b.p.Stderr())
		}
	})
	return b
}

// do sends a command and returns its answer, failing the test on an error.
func (b *loginBrowser) do(cmd map[string]any) loginLine {
	b.t.Helper()
	b.p.Send(b.t, cmd)
	l := b.p.Lines.WaitN(b.t, fmt.Sprintf("login.mjs's answer to %v", cmd), b.replies+1, func(l loginLine) bool { return !isLoginReport(l) })[b.replies]
	b.replies++
	if l.str("event") == "error" {
		b.t.Fatalf("login.mjs %v: %s", cmd, l.str("message"))
	}
	return l
}

// reports are what the browser reported by itself.
func (b *loginBrowser) reports() []string {
	var out []string
	for _, l := range b.p.Lines.Matching(isLoginReport) {
		out = append(out, l.str("event")+": "+l.str("message"))
	}
	return out
}
